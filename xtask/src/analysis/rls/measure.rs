//! Measuring who reaches what: the RLS tables and their keys, the personas (anon, service_role,
//! each user in `auth.users`), and the probes, each run as the persona in a savepoint that is
//! rolled back.

use std::collections::BTreeSet;

use anyhow::Context;
use sqlx::{PgConnection, Postgres, Transaction};

use super::{Op, Persona};
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
    let code = |r: &Result<Rows, sqlx::Error>| match r {
        Err(sqlx::Error::Database(db)) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    let mut result = in_savepoint(tx, sql).await;
    // service_role stands for every row there is (it bypasses RLS); without a grant (hosted
    // Supabase grants nothing on new objects since 2026-10-30) the rows are counted as the
    // session's, and api.reach says who may reach the table at all.
    let as_self = code(&result).as_deref() == Some("42501") && matches!(persona, Persona::ServiceRole);
    if as_self {
        result = as_session(tx, sql, false).await;
    }
    if is_delete && code(&result).as_deref() == Some("23503") {
        result = if as_self {
            as_session(tx, sql, true).await
        } else {
            delete_reach_without_foreign_keys(tx, persona, sql).await
        };
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

/// `sql` as the session's own role (the superuser), in a savepoint rolled back; with
/// `without_foreign_keys`, as [`delete_reach_without_foreign_keys`] measures a refused delete.
async fn as_session(
    tx: &mut Transaction<'_, Postgres>,
    sql: &str,
    without_foreign_keys: bool,
) -> Result<Rows, sqlx::Error> {
    let setup = if without_foreign_keys {
        "SAVEPOINT probe; RESET ROLE; SET LOCAL session_replication_role = replica"
    } else {
        "SAVEPOINT probe; RESET ROLE"
    };
    sqlx::raw_sql(setup).execute(&mut **tx).await?;
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
