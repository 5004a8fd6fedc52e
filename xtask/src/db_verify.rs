//! `cargo xtask db-verify`: runbook 3.4. The post checks, read-only, on the target.

use std::path::Path;

use crate::{
    flags::DbVerify,
    production::{Session, Target},
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

impl DbVerify {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-verify", json.as_deref(), format, async |report| {
            let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
            verify(&mut Session::read_only(&target).await?, &self.project.supabase_dir, report).await
        })
        .await
    }
}

pub async fn verify(session: &mut Session, supabase_dir: &Path, report: &mut Report) -> anyhow::Result<()> {
    let conn = session.read();
    report.push(crate::production::invalid_indexes_check(conn).await?);
    let results = crate::analysis::checks::run(conn, supabase_dir, "post").await?;
    if results.is_empty() {
        report.push(Check::new("post.checks", "post checks", Status::Skip).detail("no files in checks/post"));
    }
    for c in results {
        report.push(c);
    }
    Ok(())
}
