//! `cargo xtask db-clean`: removes leftover containers that carry our label, nothing else.

use crate::{
    flags::DbClean,
    postgres::{self, CONTAINER_LABEL},
    report::{Check, Outcome, Report, Status},
};

impl DbClean {
    pub async fn run(self) -> anyhow::Result<Outcome> {
        let mut report = Report::new("db-clean");
        let removed = tokio::task::spawn_blocking(postgres::remove_labelled_containers).await??;
        report.push(
            Check::new("clean.containers", format!("containers labelled {CONTAINER_LABEL} removed"), Status::Pass)
                .value(removed.len())
                .detail(removed.join("\n")),
        );
        report.finish(self.project.json.as_deref())?;
        Ok(report.outcome)
    }
}
