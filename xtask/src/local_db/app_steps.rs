//! The app's own steps, where its contract holds: the smoke (what a person clicking through the
//! app does) and the RPC probes (calls that must be refused), each as checks.

use anyhow::Context;

use super::LocalDatabase;
use crate::{
    app_seam,
    report::{Check, Report, Status},
};

impl LocalDatabase {
    /// The app smoke as checks `<id_prefix>.<step>`; skipped (with the reason) when the app does
    /// not apply.
    pub async fn smoke(&self, id_prefix: &str, tag: &str, report: &mut Report) -> Option<app_seam::SmokeRun> {
        let Some(client) = &self.app_client else {
            report.push(
                Check::new(format!("{id_prefix}.app"), "app smoke", Status::Skip)
                    .detail(self.app_missing.clone().unwrap_or_default()),
            );
            return None;
        };
        let timer = report.phase("app smoke");
        let run = app_seam::smoke(client, tag).await;
        report.record(timer);
        for step in &run.steps {
            let check = Check::new(format!("{id_prefix}.{}", step.id), step.title, Status::Pass);
            report.push(match &step.outcome {
                Ok(v) => check.value(v),
                Err(e) => Check { status: Status::Fail, ..check }.detail(e.clone()),
            });
        }
        Some(run)
    }

    /// The app's RPC probes as they stand before the pending migrations, not reported: a hole
    /// the baseline already has is then judged as production's, not the migration's.
    /// The users they signed up are deleted after (with what cascades from them), so the state
    /// the migrations meet is the one the matrix measured.
    pub async fn rpc_probes_before(&mut self, tag: &str) -> anyhow::Result<Option<app_seam::SmokeRun>> {
        let Some(client) = self.app_client.as_ref() else { return Ok(None) };
        let run = app_seam::rpc_probes(client, tag).await;
        sqlx::query("DELETE FROM auth.users WHERE id = ANY($1)")
            .bind(&run.writes.auth_users)
            .execute(&mut self.conn)
            .await
            .context("removing the users the RPC probes signed up before the migrations")?;
        Ok(Some(run))
    }

    /// The app's RPC probes (add_message must refuse anon, other users and a NULL uid). A hole
    /// `before` already had warns ("already in production"); only what the migrations open fails.
    pub async fn rpc_probes(
        &self,
        prefix: &str,
        tag: &str,
        before: Option<&app_seam::SmokeRun>,
        report: &mut Report,
    ) -> Option<app_seam::SmokeRun> {
        let Some(client) = &self.app_client else {
            report.push(
                Check::new(format!("{prefix}.app"), "the app's RPC probes", Status::Skip)
                    .detail(self.app_missing.clone().unwrap_or_default()),
            );
            return None;
        };
        let run = app_seam::rpc_probes(client, tag).await;
        for step in &run.steps {
            let check = Check::new(format!("{prefix}.{}", step.id), step.title, Status::Pass);
            let was = before.and_then(|b| b.steps.iter().find(|s| s.id == step.id)).map(|s| &s.outcome);
            report.push(match &step.outcome {
                Ok(v) => check.detail(v.clone()),
                Err(e) if was.is_some_and(|w| w.as_ref().is_err_and(|w| app_seam::same_probe_failure(w, e))) => {
                    Check { status: Status::Warn, ..check }.detail(format!(
                        "{e}\nalready in production: the baseline has the same hole, so the migration did not open it"
                    ))
                }
                Err(e) => Check { status: Status::Fail, ..check }.detail(e.clone()),
            });
        }
        Some(run)
    }
}
