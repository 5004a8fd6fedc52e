//! `cargo xtask db-rls`: row-level security on its own. The access matrix before and after the
//! pending runner, the app's RPC probes and the Supabase lints (new findings only).

use anyhow::Context;

use crate::{
    flags::DbRls,
    local_db::LocalDatabase,
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

impl DbRls {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.local.project.json.clone();
        run_command("db-rls", json.as_deref(), format, async |report| {
            self.run_into(report).await?;
            if let (Some(path), Some(text)) = (&self.matrix, &report.rendered_matrix) {
                std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        })
        .await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let mut db = LocalDatabase::start(self.local.setup()?, report).await?;
        let result = steps(self, &mut db, report).await;
        db.close(report).await?;
        result
    }
}

async fn steps(flags: &DbRls, db: &mut LocalDatabase, report: &mut Report) -> anyhow::Result<()> {
    if !db.apply_baseline(report).await? {
        report.push(
            Check::new("steps.remaining", "remaining steps", Status::Skip)
                .detail("not run: the baseline did not apply"),
        );
        return Ok(());
    }
    db.detect_app(report).await?;
    db.load_data(flags.local.data.size(), report).await?;
    let before = db.rls_state("before", None, report).await?;
    let probes_before = db.rpc_probes_before("rls-before").await?;
    if db.plan.pending.is_empty() || !db.apply_pending("pending.apply", report).await? {
        report.push(
            Check::new("steps.remaining", "remaining steps", Status::Skip)
                .detail("not run: no pending migration applied"),
        );
        return Ok(());
    }
    db.load_deferred_seeds(report).await?;
    db.generate_for_new_tables(report).await?;
    let after = db.rls_state("after", Some(&before), report).await?;
    db.rls_compare(&before, &after, "rls.matrix", crate::local_db::Expect::DeclaredChanges, report);
    db.lint_compare(&before, &after, report);
    db.rpc_probes("rpc", "rls", probes_before.as_ref(), report).await;
    report.rendered_matrix = Some(format!("# before\n{}\n# after\n{}", before.matrix.render(), after.matrix.render()));
    Ok(())
}
