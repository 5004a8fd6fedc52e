//! Row counts for size-aware verdicts: the rehearsal's tables and the target's (from `--like`,
//! read-only, or `--target-rows TABLE=ROWS`), as `hints::Budget` takes them.

use std::collections::BTreeMap;

use sqlx::PgConnection;

use super::hints::Budget;

/// Rows per table of the project's schemas, as the planner's statistics have them (tables never
/// analysed are left out).
pub async fn table_rows(conn: &mut PgConnection) -> sqlx::Result<BTreeMap<String, f64>> {
    let rows: Vec<(String, f32)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND c.reltuples > 0 \
           AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'supabase_migrations')",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(|(t, n)| (t, f64::from(n))).collect())
}

/// The budget: here, the rehearsal's rows; there, the target's, by table as `regclass` prints it
/// on this database (`public.messages` and `messages` are one table).
pub async fn budget(
    conn: &mut PgConnection,
    max_blocking: std::time::Duration,
    target: &BTreeMap<String, f64>,
) -> anyhow::Result<Budget> {
    let here = table_rows(conn).await?;
    let mut budget = Budget::flat(max_blocking);
    for (table, there) in target {
        let name: Option<String> =
            sqlx::query_scalar("SELECT to_regclass($1)::text").bind(table).fetch_one(&mut *conn).await?;
        if let Some(name) = name {
            if let Some(rows) = here.get(&name) {
                budget.rows.insert(name, (*rows, *there));
            }
        }
    }
    Ok(budget)
}
