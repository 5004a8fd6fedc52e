//! The write probes: users A and B (and anon) insert copies of rows and repoint one, each in a
//! transaction that is rolled back, as PostgREST would send them.

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{
    measure::{Column, ForeignKey, RlsTable, Rows},
    AccessMatrix, Op, Persona, Probe, ProbeOutcome,
};
use crate::supabase::act_as::act_as;

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

/// The key of some row of `table`, read as the session (past RLS).
async fn any_row(conn: &mut PgConnection, table: &RlsTable) -> anyhow::Result<Option<String>> {
    let sql = format!("SELECT {} FROM {} LIMIT 1", table.key_expr(), table.name);
    Ok(sqlx::query_scalar(&sql).fetch_optional(&mut *conn).await?)
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

/// A row of A's to copy: one it sees, else one it owns (a policy may hide every row from its
/// owner and still let it, or anon, insert), else, for anon, any row of the table (then `true`).
async fn source_row(
    conn: &mut PgConnection,
    m: &AccessMatrix,
    table: &RlsTable,
    probe: Probe,
    a: &Persona,
    a_rows: &Rows,
) -> anyhow::Result<Option<(String, bool)>> {
    let owned = m.owned.get(&(a.clone(), table.name.clone())).and_then(|rows| rows.iter().next().cloned());
    Ok(match a_rows.iter().next().cloned().or(owned) {
        Some(key) => Some((key, false)),
        None if probe == Probe::InsertAsAnon => any_row(conn, table).await?.map(|key| (key, true)),
        None => None,
    })
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
    let Some((a_key, anyones)) = source_row(conn, m, table, probe, a, &a_rows).await? else {
        let why =
            if probe == Probe::InsertAsAnon { "the table has no row to copy" } else { "user A has no row to copy" };
        return na(why);
    };
    let a_key = &a_key;
    let a_row = row_json(conn, table, a_key).await?;
    let owners = owner_columns(table, std::slice::from_ref(&a_row), a_id);
    let parents: Vec<&ForeignKey> =
        table.foreign_keys.iter().filter(|fk| !fk.columns.iter().all(|c| owners.contains(c))).collect();

    // (column, value) the stored row must keep for the probe to count as a real write.
    let mut expect: Vec<(String, Value)> = Vec::new();
    let (actor, row, context) = match probe {
        Probe::InsertOwn => (a, a_row.clone(), "a copy of one of its own rows".to_string()),
        Probe::InsertAsAnon => {
            let whose = if anyones { "an existing row".to_string() } else { format!("a row of {}", a.label()) };
            (&Persona::Anon, a_row.clone(), format!("a copy of {whose}"))
        }
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
                let outcome = write_probe(conn, &table.name, a, &sql, Some(a_key), &b_row, &expect).await?;
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
    write_probe(conn, &table.name, actor, &sql, None, &row, expect).await
}

/// What `actor`'s write does: `sql` ends in `RETURNING to_jsonb(t)`, which asks the SELECT
/// policies too. A write those refuse (42501) is sent again without RETURNING, as PostgREST sends
/// `Prefer: return=minimal`: a table no one may read may still take writes. The row written is
/// then read back as the session (by its transaction id) to see what the database stored.
async fn write_probe(
    conn: &mut PgConnection,
    table: &str,
    actor: &Persona,
    sql: &str,
    key: Option<&String>,
    row: &Value,
    expect: &[(String, Value)],
) -> anyhow::Result<ProbeOutcome> {
    let mut tx = conn.begin().await?;
    act_as(&mut tx, actor).await?;
    let bind = |sql| {
        let query = sqlx::query_scalar::<_, Value>(sql);
        match key {
            Some(key) => query.bind(key.clone()).bind(row.clone()),
            None => query.bind(row.clone()),
        }
    };
    sqlx::raw_sql("SAVEPOINT write_probe").execute(&mut *tx).await?;
    let mut result: Result<Vec<Value>, sqlx::Error> = bind(sql).fetch_all(&mut *tx).await;
    if is_denied(&result) {
        // Released, so the write below is the transaction's own (its rows carry its xid).
        sqlx::raw_sql("ROLLBACK TO SAVEPOINT write_probe; RELEASE SAVEPOINT write_probe").execute(&mut *tx).await?;
        let blind = sql.trim_end_matches(" RETURNING to_jsonb(t)");
        let query = sqlx::query(blind);
        let query = match key {
            Some(key) => query.bind(key.clone()).bind(row.clone()),
            None => query.bind(row.clone()),
        };
        let written = query.execute(&mut *tx).await;
        result = match written {
            Ok(done) if done.rows_affected() > 0 => {
                let back = format!("SELECT to_jsonb(t) FROM {table} t WHERE t.xmin = pg_current_xact_id()::xid");
                sqlx::raw_sql("RESET ROLE").execute(&mut *tx).await?;
                sqlx::query_scalar(&back).fetch_all(&mut *tx).await
            }
            Ok(_) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
    }
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

fn is_denied(result: &Result<Vec<Value>, sqlx::Error>) -> bool {
    matches!(result, Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501"))
}
