//! `cargo xtask db-backup`: runbook 3.2 done right. Roles, schema and data, then a verification
//! restore; `--verify DIR` re-verifies an existing backup.

use crate::{
    backup,
    flags::DbBackup,
    remote::Target,
    report::{Outcome, Report},
};

impl DbBackup {
    pub async fn run(self) -> anyhow::Result<Outcome> {
        let mut report = Report::new("db-backup");
        let result = self.run_into(&mut report).await;
        if let Err(e) = &result {
            report.stopped_by(e);
        }
        report.finish(self.project.json.as_deref())?;
        result.map(|_| report.outcome)
    }

    /// Returns the backup folder.
    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<std::path::PathBuf> {
        let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
        report.note(format!("target {}", target.describe()));
        let dir = match &self.verify {
            Some(dir) => dir.clone(),
            None => backup::take(&target, &self.project.supabase_dir, &self.out, report).await?,
        };
        report.note(format!("verifying {} by restoring it into an ephemeral Postgres", dir.display()));
        backup::verify(&dir, &target, &self.restore.options(), report).await?;
        Ok(dir)
    }
}
