//! `cargo xtask db-backup`: runbook 3.2 done right. Roles, schema and data, then a verification
//! restore; `--verify DIR` re-verifies an existing backup.

use crate::{
    flags::DbBackup,
    production::Target,
    report::{formats::Format, run_command, Outcome, Report},
};

impl DbBackup {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-backup", json.as_deref(), format, async |report| self.run_into(report).await.map(drop)).await
    }

    /// Returns the backup folder.
    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<std::path::PathBuf> {
        let dir = match &self.verify {
            // Verification needs no target: it compares the restore with what the backup recorded.
            Some(dir) => dir.clone(),
            None => {
                let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
                report.note(format!("target {}", target.describe()));
                let mut session = crate::production::Session::read_only(&target).await?;
                crate::production::backup::take(&mut session, &self.project.supabase_dir, &self.out, report).await?
            }
        };
        report.note(format!("verifying {} by restoring it into an ephemeral Postgres", dir.display()));
        crate::production::backup::verify(&dir, &self.restore.options(), report).await?;
        Ok(dir)
    }
}
