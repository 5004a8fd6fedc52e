//! `cargo xtask db-local-test`: the runbook's local phase as one command. Baseline, test data,
//! pre checks, pending migrations (with their NOTICEs), post checks and the app smoke.

use crate::{
    flags::DbLocalTest,
    local_db::LocalDatabase,
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

impl DbLocalTest {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-local-test", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    /// Runs every step into `report` (tests call this with a quiet report).
    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let mut db = LocalDatabase::start(self.setup()?, report).await?;
        // The static findings first (milliseconds, no database), as db-lint gives them.
        if !db.plan.pending.is_empty() {
            crate::db_lint::lint_into(&db.plan.pending, &db.plan.rollbacks, report);
        }
        let result = steps(self, &mut db, report).await;
        db.close(report).await?;
        result
    }
}

async fn steps(flags: &DbLocalTest, db: &mut LocalDatabase, report: &mut Report) -> anyhow::Result<()> {
    if !db.apply_baseline(report).await? {
        skip_rest(report, "the baseline did not apply");
        return Ok(());
    }
    db.detect_app(report).await?;
    db.load_data(flags.data.size(), report).await?;
    db.run_db_tests("baseline", report).await?;
    db.run_checks("pre", "", report).await?;
    let rls_before = db.rls_state("before", None, report).await?;
    let probes_before = db.rpc_probes_before("local-before").await?;
    if db.plan.pending.is_empty() {
        skip_rest(report, "there are no pending migrations");
        return Ok(());
    }
    let lint_before = crate::db_lint::confirm::before(&mut db.conn).await?;
    if !db.apply_pending("pending.apply", report).await? {
        skip_rest(report, "a pending migration did not apply");
        return Ok(());
    }
    // Static guesses the database can decide, confirmed or dismissed now that it is at hand.
    crate::db_lint::confirm::confirm(&mut db.conn, &lint_before, report).await?;
    db.load_deferred_seeds(report).await?;
    db.generate_for_new_tables(report).await?;
    db.run_db_tests("migrated", report).await?;
    db.run_checks("post", "", report).await?;
    let rls_after = db.rls_state("after", Some(&rls_before), report).await?;
    db.rls_compare(&rls_before, &rls_after, "rls.matrix", crate::local_db::Expect::DeclaredChanges, report);
    db.lint_compare(&rls_before, &rls_after, report);
    db.rpc_probes("rpc", "local", probes_before.as_ref(), report).await;
    db.smoke("smoke", "local", report).await;
    Ok(())
}

fn skip_rest(report: &mut Report, why: &str) {
    report.push(Check::new("steps.remaining", "remaining steps", Status::Skip).detail(format!("not run: {why}")));
}
