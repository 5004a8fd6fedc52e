//! Installs what a bare PostgreSQL lacks and Supabase migrations assume (roles, `auth`,
//! `extensions`, default privileges, the CLI's history table). Idempotent; leaves existing
//! objects alone, so it is safe on a real Supabase database too.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

/// The layer's SQL, versioned in its first line.
pub const SQL: &str = include_str!("../../sql/supabase_layer.sql");

/// `supabase-layer vN`, from the SQL's first line.
pub fn version() -> &'static str {
    SQL.lines().next().unwrap_or_default().trim_start_matches("-- ").trim()
}

pub async fn install(conn: &mut PgConnection) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    // Roles are cluster-wide: concurrent installs on one server (url backend) must not race.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('xtask supabase layer'))").execute(&mut *tx).await?;
    sqlx::raw_sql(SQL).execute(&mut *tx).await.with_context(|| {
        format!(
            "installing the Supabase layer ({}); the server needs the contrib extensions \
             pgcrypto and uuid-ossp",
            version()
        )
    })?;
    tx.commit().await?;
    Ok(())
}
