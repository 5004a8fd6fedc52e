//! `cargo xtask db-clean`: removes leftover containers that carry our label, nothing else.

use crate::{
    flags::DbClean,
    pg::CONTAINER_LABEL,
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

impl DbClean {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-clean", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let all = self.all;
        let clusters = tokio::task::spawn_blocking(move || crate::pg::remove_leftover_clusters(all)).await??;
        report.push(
            Check::new(
                "clean.native_clusters",
                "leftover native clusters (xtask-pg-*) stopped and removed",
                Status::Pass,
            )
            .value(clusters.len())
            .detail(clusters.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join("\n")),
        );
        let removed = match tokio::task::spawn_blocking(move || crate::pg::remove_labelled_containers(all)).await? {
            Ok(removed) => removed,
            Err(e) if clusters.is_empty() => return Err(e),
            Err(e) => {
                report.note(format!("containers not checked: {e:#}"));
                Vec::new()
            }
        };
        report.push(
            Check::new("clean.containers", format!("containers labelled {CONTAINER_LABEL} removed"), Status::Pass)
                .value(removed.len())
                .detail(removed.join("\n")),
        );
        Ok(())
    }
}
