//! What Postgres itself records, sampled read-only: `pg_stat_database` for this database,
//! `pg_stat_user_tables` for the watched tables, `pg_stat_statements` (when installed) for the
//! statements that name them, and sessions waiting on a lock now. Facts only.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Database {
    pub commits: i64,
    pub rollbacks: i64,
    pub deadlocks: i64,
    pub conflicts: i64,
    pub temp_files: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub seq_scan: i64,
    pub seq_tup_read: i64,
    pub idx_scan: i64,
}

/// Calls and total time of one statement (a `pg_stat_statements` query id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub calls: i64,
    pub total_ms: f64,
    /// Its normalised text, cut short.
    pub query: String,
}

/// The most called statements that name a table, by query id: each is compared with itself, so
/// the bulk load or DDL that also names the table does not count into the app's mean.
pub type Statements = BTreeMap<i64, Statement>;

/// Statements kept per table.
const STATEMENTS_PER_TABLE: i64 = 50;

/// A session waiting on a lock: how long, its statement, who blocks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LockWait {
    pub waited_ms: f64,
    pub query: String,
    pub blocked_by: Vec<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    pub at: chrono::DateTime<chrono::Utc>,
    pub database: Database,
    pub tables: BTreeMap<String, Table>,
    /// `None`: pg_stat_statements is not installed.
    pub statements: Option<BTreeMap<String, Statements>>,
    pub lock_waits: Vec<LockWait>,
    /// Transactions this sample itself ran (each of its queries commits): not the app's traffic.
    #[serde(default)]
    pub own_transactions: i64,
}

/// A fresh sample (statistics snapshots are per transaction: cleared first).
pub async fn take(conn: &mut PgConnection, tables: &[String]) -> sqlx::Result<Sample> {
    sqlx::raw_sql("SELECT pg_stat_clear_snapshot()").execute(&mut *conn).await?;
    let (commits, rollbacks, deadlocks, conflicts, temp_files): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT xact_commit, xact_rollback, deadlocks, conflicts, temp_files FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .fetch_one(&mut *conn)
    .await?;
    let database = Database { commits, rollbacks, deadlocks, conflicts, temp_files };
    let mut sample = Sample { at: chrono::Utc::now(), database, ..Sample::default() };
    for table in tables {
        let row: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT coalesce(seq_scan, 0), coalesce(seq_tup_read, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables \
             WHERE relid = to_regclass($1)",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((seq_scan, seq_tup_read, idx_scan)) = row {
            sample.tables.insert(table.clone(), Table { seq_scan, seq_tup_read, idx_scan });
        }
    }
    // Wherever the extension lives (`extensions` on Supabase), whatever the role's search_path.
    let schema: Option<String> = sqlx::query_scalar(
        "SELECT quote_ident(n.nspname) FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
         WHERE e.extname = 'pg_stat_statements'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(schema) = &schema {
        let mut by_table = BTreeMap::new();
        for table in tables {
            by_table.insert(table.clone(), statements(conn, schema, table).await?);
        }
        sample.statements = Some(by_table);
    }
    // extract() is numeric since Postgres 14: read as float8.
    let waits: Vec<(f64, String, Vec<i32>)> = sqlx::query_as(
        "SELECT (extract(epoch FROM now() - coalesce(query_start, now())) * 1000)::float8, left(query, 200), \
                pg_blocking_pids(pid) \
         FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut *conn)
    .await?;
    sample.lock_waits =
        waits.into_iter().map(|(waited_ms, query, blocked_by)| LockWait { waited_ms, query, blocked_by }).collect();
    // clear_snapshot, the database row, each table's row, the extension, each table's statements,
    // the lock waits.
    let per_table = if schema.is_some() { 2 } else { 1 };
    sample.own_transactions = 4 + per_table * tables.len() as i64;
    Ok(sample)
}

/// `pg_stat_statements`' rows for this database's statements that name `table`.
async fn statements(conn: &mut PgConnection, schema: &str, table: &str) -> sqlx::Result<Statements> {
    let bare = table.rsplit('.').next().unwrap_or(table);
    let sql = format!(
        "SELECT queryid, sum(calls)::bigint, sum(total_exec_time), min(left(query, 200)) \
         FROM {schema}.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND queryid IS NOT NULL AND query ~* ('\\m' || $1 || '\\M') AND query !~* 'pg_stat' \
         GROUP BY queryid ORDER BY 2 DESC LIMIT $2"
    );
    let rows: Vec<(i64, i64, f64, String)> =
        sqlx::query_as(&sql).bind(bare).bind(STATEMENTS_PER_TABLE).fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().map(|(id, calls, total_ms, query)| (id, Statement { calls, total_ms, query })).collect())
}

/// The tables a set of migration files names (`schema.table` as written, that exist now).
pub async fn named_tables(conn: &mut PgConnection, texts: &[String]) -> sqlx::Result<Vec<String>> {
    let all: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s.%s', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'supabase_migrations')",
    )
    .fetch_all(&mut *conn)
    .await?;
    let lower: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
    Ok(all.into_iter().filter(|t| lower.iter().any(|text| text.contains(&t.to_lowercase()))).collect())
}
