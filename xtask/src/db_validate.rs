//! `cargo xtask db-validate`: runbook phase 1. The pre checks and drift, read-only.

use std::path::Path;

use anyhow::Context;

use crate::{
    flags::DbValidate,
    production::{Session, Target},
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

impl DbValidate {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-validate", json.as_deref(), format, async |report| {
            let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
            let mut session = Session::read_only(&target).await?;
            validate(&mut session, &self.project.supabase_dir, &self.rehearsal, report).await.map(drop)
        })
        .await
    }
}

/// Pre checks and drift on `target` in a session that cannot write; returns the files to push.
pub async fn validate(
    session: &mut Session,
    supabase_dir: &Path,
    rehearsal: &Path,
    report: &mut Report,
) -> anyhow::Result<Vec<crate::runner::MigrationFile>> {
    let url = session.target().url.clone();
    report.note(format!("target {} (read-only session)", session.target().describe()));
    let dir = crate::runner::scan(supabase_dir)?;
    report.extend(dir.checks());
    let conn = session.read();
    let read_only: String = sqlx::query_scalar("SHOW default_transaction_read_only").fetch_one(&mut *conn).await?;
    report.push(
        Check::new("session.read_only", "the validation session cannot write", Status::Pass)
            .value(format!("default_transaction_read_only = {read_only}")),
    );
    report.push(crate::production::encryption_check(conn, &url).await?);
    report.push(crate::production::invalid_indexes_check(conn).await?);
    let grants = crate::supabase::platform::target_grants(conn).await?;
    report.push(crate::supabase::platform::target_check(grants, crate::supabase::platform::configured(supabase_dir)?));
    let timer = report.phase("pre checks");
    let results = crate::analysis::checks::run(conn, supabase_dir, "pre").await?;
    report.record(timer);
    if results.is_empty() {
        report.push(Check::new("pre.checks", "pre checks", Status::Skip).detail("no files in checks/pre"));
    }
    for c in results {
        report.push(c);
    }
    estimate(conn, rehearsal, report).await?;
    crate::production::drift(conn, &dir, report).await
}

/// Backfill time and WAL for the target's row count, from the throughput `db-rehearse` measured.
async fn estimate(conn: &mut sqlx::PgConnection, summary: &Path, report: &mut Report) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string(summary) else {
        report.push(
            Check::new("estimate.backfill", "backfill time and WAL on the target", Status::Skip)
                .detail(format!("no {}: run `cargo xtask db-rehearse` to measure the backfill", summary.display())),
        );
        return Ok(());
    };
    let s: crate::db_rehearse::RehearsalSummary = serde_json::from_str(&text)
        .with_context(|| format!("reading {}; run `cargo xtask db-rehearse` again to rewrite it", summary.display()))?;
    // Counted, not pg_class.reltuples: that is -1 or 0 until the table is analysed.
    let quoted: Option<String> =
        sqlx::query_scalar("SELECT to_regclass($1)::text").bind(&s.table).fetch_one(&mut *conn).await?;
    let rows = if let Some(table) = quoted {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .with_context(|| format!("counting the rows of {}", s.table))?;
        n as f64
    } else {
        0.0
    };
    report.push(
        Check::new("estimate.backfill", "backfill time and WAL on the target", Status::Info)
            .value(format!(
                "{:.0} rows of {} ≈ {:.1} s and {:.1} MB of WAL",
                rows,
                s.table,
                rows / s.backfill_rows_per_s.max(1.0),
                rows * s.backfill_wal_bytes_per_row / 1e6
            ))
            .detail(format!(
                "from {:.0} rows/s and {:.0} WAL bytes/row measured by db-rehearse on {} rows ({})",
                s.backfill_rows_per_s,
                s.backfill_wal_bytes_per_row,
                s.rows,
                s.measured_at.format("%Y-%m-%d")
            )),
    );
    Ok(())
}
