//! `cargo xtask db-validate`: runbook phase 1. The pre checks and drift, read-only.

use std::path::Path;

use crate::{
    checks,
    flags::DbValidate,
    migrations,
    remote::{self, Target},
    report::{Check, Outcome, Report, Status},
};

impl DbValidate {
    pub async fn run(self) -> anyhow::Result<Outcome> {
        let mut report = Report::new("db-validate");
        let result = async {
            let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
            validate(&target, &self.project.supabase_dir, &mut report).await.map(drop)
        }
        .await;
        if let Err(e) = &result {
            report.stopped_by(e);
        }
        report.finish(self.project.json.as_deref())?;
        result.map(|()| report.outcome)
    }
}

/// Pre checks and drift on `target` in a session that cannot write; returns the pending versions.
pub async fn validate(target: &Target, supabase_dir: &Path, report: &mut Report) -> anyhow::Result<Vec<String>> {
    report.note(format!("target {} (read-only session)", target.describe()));
    let dir = migrations::scan(supabase_dir)?;
    let mut conn = target.connect_read_only().await?;
    let read_only: String = sqlx::query_scalar("SHOW default_transaction_read_only").fetch_one(&mut conn).await?;
    report.push(
        Check::new("session.read_only", "the validation session cannot write", Status::Pass)
            .value(format!("default_transaction_read_only = {read_only}")),
    );
    let timer = report.phase("pre checks");
    let results = checks::run(&mut conn, supabase_dir, "pre").await?;
    report.record(timer);
    if results.is_empty() {
        report.push(Check::new("pre.checks", "pre checks", Status::Skip).detail("no files in checks/pre"));
    }
    for c in results {
        report.push(c);
    }
    remote::drift(&mut conn, &dir, report).await
}
