//! Measuring who reaches what: the RLS tables and their keys, the personas (anon, service_role,
//! each user in `auth.users`), and the probes, each run as the persona in a savepoint that is
//! rolled back.

use std::collections::BTreeSet;

use anyhow::Context;
use serde_json::Value;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::{AccessMatrix, Op, Persona, Probe, ProbeOutcome};
use crate::{analysis::catalog::MANAGED_SCHEMAS, supabase::act_as::act_as};

#[derive(Debug, Clone)]
pub(super) struct Column {
    pub(super) name: String,
    pub(super) is_uuid: bool,
    /// Generated or identity ALWAYS: cannot be written.
    pub(super) computed: bool,
}

#[derive(Debug, Clone)]
pub(super) struct ForeignKey {
    pub(super) columns: Vec<String>,
}

/// A table with RLS enabled in an exposed schema.
#[derive(Debug, Clone)]
pub(super) struct RlsTable {
    /// `schema.name`, quoted as needed.
    pub(super) name: String,
    pub(super) key: Vec<String>,
    pub(super) key_is_uuid: bool,
    pub(super) key_has_default: bool,
    pub(super) columns: Vec<Column>,
    pub(super) foreign_keys: Vec<ForeignKey>,
}

impl RlsTable {
    pub(super) fn key_expr(&self) -> String {
        match self.key.as_slice() {
            [one] => format!("{one}::text"),
            many => format!("ROW({})::text", many.join(", ")),
        }
    }
}

pub(super) type Rows = BTreeSet<String>;

/// Runs `sql` (returning one text column) inside a savepoint that is always rolled back.
async fn in_savepoint(tx: &mut Transaction<'_, Postgres>, sql: &str) -> Result<Rows, sqlx::Error> {
    sqlx::raw_sql("SAVEPOINT probe").execute(&mut **tx).await?;
    let result: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(sql).fetch_all(&mut **tx).await;
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT probe").execute(&mut **tx).await?;
    result.map(|rows| rows.into_iter().collect())
}

/// What `persona` reaches with `sql` (in its transaction `tx`): the rows, nothing when a
/// privilege refuses it (no grant on the table or schema), or the error that stopped the
/// measurement, with its SQLSTATE. A delete a foreign key refuses is measured without it.
pub(super) async fn reach(
    tx: &mut Transaction<'_, Postgres>,
    persona: &Persona,
    is_delete: bool,
    sql: &str,
) -> Result<Rows, String> {
    let mut result = in_savepoint(tx, sql).await;
    let foreign_key = matches!(&result, Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("23503"));
    if is_delete && foreign_key {
        result = delete_reach_without_foreign_keys(tx, persona, sql).await;
    }
    // service_role stands for every row there is (it bypasses RLS); without a grant (hosted
    // Supabase grants nothing on new objects since 2026-10-30) the rows are counted as the
    // session's, and api.reach says who may reach the table at all.
    let no_grant = matches!(&result, Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501"));
    if no_grant && matches!(persona, Persona::ServiceRole) {
        result = as_session(tx, sql).await;
    }
    match result {
        Ok(rows) => Ok(rows),
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => Ok(Rows::new()),
        Err(sqlx::Error::Database(db)) => Err(format!("ERROR {}: {}", db.code().unwrap_or_default(), db.message())),
        Err(e) => Err(e.to_string()),
    }
}

/// The operations `role` has no privilege for on `table` (schema usage included).
pub(super) async fn ungranted(conn: &mut PgConnection, role: &str, table: &str) -> sqlx::Result<Vec<Op>> {
    let (select, update, delete): (bool, bool, bool) = sqlx::query_as(
        "SELECT has_schema_privilege($1, c.relnamespace, 'USAGE') AND has_table_privilege($1, c.oid, 'SELECT'), \
                has_schema_privilege($1, c.relnamespace, 'USAGE') AND has_table_privilege($1, c.oid, 'UPDATE'), \
                has_schema_privilege($1, c.relnamespace, 'USAGE') AND has_table_privilege($1, c.oid, 'DELETE') \
         FROM pg_class c WHERE c.oid = $2::regclass",
    )
    .bind(role)
    .bind(table)
    .fetch_one(&mut *conn)
    .await?;
    Ok([(Op::Select, select), (Op::Update, update), (Op::Delete, delete)]
        .into_iter()
        .filter(|(_, granted)| !granted)
        .map(|(op, _)| op)
        .collect())
}

/// `sql` as the session's own role (the superuser), in a savepoint rolled back.
async fn as_session(tx: &mut Transaction<'_, Postgres>, sql: &str) -> Result<Rows, sqlx::Error> {
    sqlx::raw_sql("SAVEPOINT probe; RESET ROLE").execute(&mut **tx).await?;
    let result: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(sql).fetch_all(&mut **tx).await;
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT probe").execute(&mut **tx).await?;
    result.map(|rows| rows.into_iter().collect())
}

/// A delete that a foreign key refused (children reference the rows, without ON DELETE
/// CASCADE): which rows the persona's policies let it delete, measured again with foreign-key
/// enforcement off for the savepoint (`session_replication_role = replica`, set as the session's
/// own role, then the persona again). Triggers do not fire in that run.
async fn delete_reach_without_foreign_keys(
    tx: &mut Transaction<'_, Postgres>,
    persona: &Persona,
    sql: &str,
) -> Result<Rows, sqlx::Error> {
    sqlx::raw_sql("SAVEPOINT probe").execute(&mut **tx).await?;
    let result = async {
        sqlx::raw_sql("RESET ROLE; SET LOCAL session_replication_role = replica").execute(&mut **tx).await?;
        act_as(tx, persona).await?;
        sqlx::query_scalar::<_, String>(sql).fetch_all(&mut **tx).await
    }
    .await;
    // Rolling back to the savepoint restores the role and the setting.
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT probe").execute(&mut **tx).await?;
    result.map(|rows| rows.into_iter().collect())
}

/// Policies per table (`schema.name`): storage's tables are judged only where the project
/// wrote policies for them or stored something in them.
pub(super) async fn policy_counts(conn: &mut PgConnection) -> sqlx::Result<std::collections::BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename), count(*) FROM pg_policies GROUP BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Every table with RLS in a project schema (exposed or not: exposure decides severity, not
/// whether a table is examined), plus storage's buckets and objects, which storage-api serves
/// under the user's JWT.
pub(super) async fn load_tables(conn: &mut PgConnection) -> anyhow::Result<(Vec<RlsTable>, Vec<String>)> {
    let managed: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| s.to_string()).collect();
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.oid::bigint, quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND NOT c.relispartition \
           AND ((n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\\_%' \
                 AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                                 AND d.objid = c.oid AND d.deptype = 'e')) \
                OR (n.nspname = 'storage' AND c.relname IN ('buckets', 'objects'))) \
         ORDER BY 2",
    )
    .bind(&managed)
    .fetch_all(&mut *conn)
    .await
    .context("listing tables with RLS")?;
    let mut tables = Vec::new();
    let mut untracked = Vec::new();
    for (oid, name) in rows {
        let columns: Vec<(String, bool, bool, bool, bool)> = sqlx::query_as(
            "SELECT quote_ident(a.attname), a.atttypid = 'uuid'::regtype, \
                    a.attgenerated <> '' OR a.attidentity = 'a', \
                    coalesce(a.attnum = ANY (x.indkey), false), d.adbin IS NOT NULL \
             FROM pg_attribute a \
             LEFT JOIN pg_index x ON x.indrelid = a.attrelid AND x.indisprimary \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
        let key: Vec<&(String, bool, bool, bool, bool)> = columns.iter().filter(|c| c.3).collect();
        if key.is_empty() {
            untracked.push(name);
            continue;
        }
        let fks: Vec<Vec<String>> = sqlx::query_scalar(
            "SELECT array_agg(quote_ident(a.attname) ORDER BY k.n) FROM pg_constraint con \
             CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
             WHERE con.conrelid = $1::oid AND con.contype = 'f' GROUP BY con.oid ORDER BY con.conname",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
        tables.push(RlsTable {
            name,
            key_is_uuid: key.len() == 1 && key[0].1,
            key_has_default: key.iter().all(|c| c.4 || c.2),
            key: key.iter().map(|c| c.0.clone()).collect(),
            columns: columns
                .iter()
                .map(|(name, is_uuid, computed, _, _)| Column {
                    name: name.clone(),
                    is_uuid: *is_uuid,
                    computed: *computed,
                })
                .collect(),
            foreign_keys: fks.into_iter().map(|columns| ForeignKey { columns }).collect(),
        });
    }
    Ok((tables, untracked))
}

/// Columns holding the persona's own id in at least one row it can see (the "owner" columns).
fn owner_columns(table: &RlsTable, rows: &[Value], id: Uuid) -> Vec<String> {
    let id = id.to_string();
    table
        .columns
        .iter()
        .filter(|c| c.is_uuid && !table.key.contains(&c.name))
        .filter(|c| rows.iter().any(|r| r.get(unquote(&c.name)).and_then(Value::as_str) == Some(id.as_str())))
        .map(|c| c.name.clone())
        .collect()
}

/// A JSON value as text, without the quotes of a JSON string.
fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn unquote(ident: &str) -> &str {
    ident.trim_matches('"')
}

async fn row_json(conn: &mut PgConnection, table: &RlsTable, key: &str) -> anyhow::Result<Value> {
    let sql = format!("SELECT to_jsonb(t) FROM {} t WHERE {} = $1", table.name, key_expr_for_alias(table));
    Ok(sqlx::query_scalar(&sql).bind(key).fetch_one(&mut *conn).await?)
}

fn key_expr_for_alias(table: &RlsTable) -> String {
    match table.key.as_slice() {
        [one] => format!("t.{one}::text"),
        many => format!("ROW({})::text", many.iter().map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", ")),
    }
}

pub(super) async fn run_probe(
    conn: &mut PgConnection,
    m: &AccessMatrix,
    table: &RlsTable,
    probe: Probe,
    a: &Persona,
    b: &Persona,
) -> anyhow::Result<(ProbeOutcome, String)> {
    let na = |why: &str| Ok((ProbeOutcome::NotApplicable(why.to_string()), String::new()));
    let reach = |p: &Persona| m.reach.get(&(p.clone(), table.name.clone(), Op::Select)).cloned().unwrap_or_default();
    let (a_rows, b_rows) = (reach(a), reach(b));
    let b_only: Vec<&String> = b_rows.iter().filter(|k| !a_rows.contains(*k)).collect();
    let (Some(a_id), Some(b_id)) = (a.auth_id(), b.auth_id()) else { return na("no users") };
    let Some(a_key) = a_rows.iter().next() else { return na("user A sees no row to copy") };
    let a_row = row_json(conn, table, a_key).await?;
    let owners = owner_columns(table, std::slice::from_ref(&a_row), a_id);
    let parents: Vec<&ForeignKey> =
        table.foreign_keys.iter().filter(|fk| !fk.columns.iter().all(|c| owners.contains(c))).collect();

    // (column, value) the stored row must keep for the probe to count as a real write.
    let mut expect: Vec<(String, Value)> = Vec::new();
    let (actor, row, context) = match probe {
        Probe::InsertOwn => (a, a_row.clone(), "a copy of one of its own rows".to_string()),
        Probe::InsertAsAnon => (&Persona::Anon, a_row.clone(), format!("a copy of a row of {}", a.label())),
        Probe::InsertForgingOtherId => {
            if owners.is_empty() {
                return na("no owner column");
            }
            let mut row = a_row.clone();
            for c in &owners {
                row[unquote(c)] = Value::String(b_id.to_string());
                expect.push((c.clone(), Value::String(b_id.to_string())));
            }
            (a, row, format!("a row with {} set to the id of {}", owners.join(", "), b.label()))
        }
        Probe::InsertIntoOtherParent | Probe::MoveToOtherParent => {
            let Some(fk) = parents.first() else { return na("no parent foreign key") };
            let Some(b_key) = b_only.first() else { return na("user B has no row user A cannot see") };
            let b_row = row_json(conn, table, b_key).await?;
            let parent: Vec<String> =
                fk.columns.iter().map(|c| b_row.get(unquote(c)).map(plain).unwrap_or_default()).collect();
            let context = format!("for {} {} owned by {}", fk.columns.join(", "), parent.join(", "), b.label());
            for c in &fk.columns {
                expect.push((c.clone(), b_row.get(unquote(c)).cloned().unwrap_or(Value::Null)));
            }
            if probe == Probe::MoveToOtherParent {
                let sets: Vec<String> = fk
                    .columns
                    .iter()
                    .map(|c| format!("{c} = (jsonb_populate_record(NULL::{}, $2)).{c}", table.name))
                    .collect();
                let sql = format!(
                    "UPDATE {} t SET {} WHERE {} = $1 RETURNING to_jsonb(t)",
                    table.name,
                    sets.join(", "),
                    key_expr_for_alias(table),
                );
                let outcome = write_probe(conn, a, &sql, Some(a_key), &b_row, &expect).await?;
                return Ok((outcome, context));
            }
            let mut row = b_row;
            for c in &owners {
                row[unquote(c)] = Value::String(a_id.to_string());
            }
            (a, row, context)
        }
    };
    let outcome = insert_copy(conn, table, actor, row, &expect).await?;
    // As every not-applicable probe: no context.
    let context = if outcome.applicable() { context } else { String::new() };
    Ok((outcome, context))
}

/// Inserts `row` into `table` as a new row (a fresh key) as `actor`.
async fn insert_copy(
    conn: &mut PgConnection,
    table: &RlsTable,
    actor: &Persona,
    mut row: Value,
    expect: &[(String, Value)],
) -> anyhow::Result<ProbeOutcome> {
    let mut columns: Vec<&Column> = table.columns.iter().filter(|c| !c.computed).collect();
    if table.key_is_uuid {
        row[unquote(&table.key[0])] = Value::String(Uuid::new_v4().to_string());
    } else if table.key_has_default {
        columns.retain(|c| !table.key.contains(&c.name));
    } else {
        return Ok(ProbeOutcome::NotApplicable("primary key has no default to make a new row".into()));
    }
    let list = columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "INSERT INTO {t} AS t ({list}) SELECT {list} FROM jsonb_populate_record(NULL::{t}, $1) RETURNING to_jsonb(t)",
        t = table.name,
    );
    write_probe(conn, actor, &sql, None, &row, expect).await
}

async fn write_probe(
    conn: &mut PgConnection,
    actor: &Persona,
    sql: &str,
    key: Option<&String>,
    row: &Value,
    expect: &[(String, Value)],
) -> anyhow::Result<ProbeOutcome> {
    let mut tx = conn.begin().await?;
    act_as(&mut tx, actor).await?;
    let query = sqlx::query_scalar(sql);
    let query = match key {
        Some(key) => query.bind(key.clone()).bind(row),
        None => query.bind(row),
    };
    let result: Result<Vec<Value>, sqlx::Error> = query.fetch_all(&mut *tx).await;
    tx.rollback().await?;
    Ok(match result {
        Ok(rows) if rows.is_empty() => ProbeOutcome::DeniedByPolicy,
        Ok(rows) => {
            let corrected: Vec<String> = expect
                .iter()
                .filter(|(c, v)| rows[0].get(unquote(c)) != Some(v))
                .map(|(c, _)| format!("{c} = {}", rows[0].get(unquote(c)).cloned().unwrap_or(Value::Null)))
                .collect();
            if corrected.is_empty() {
                ProbeOutcome::Allowed
            } else {
                ProbeOutcome::Corrected(format!("stored with {}", corrected.join(", ")))
            }
        }
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => ProbeOutcome::DeniedByPolicy,
        Err(sqlx::Error::Database(db)) => {
            ProbeOutcome::Rejected(format!("{} {}", db.code().unwrap_or_default(), db.message()))
        }
        Err(e) => return Err(e.into()),
    })
}
