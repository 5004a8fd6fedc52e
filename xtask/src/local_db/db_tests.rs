//! The project's pgTAP tests at a phase, as checks `tests.<phase>.<file>`, judged by difference
//! as the access matrix is: a test failing before the pending migrations tests what they add (or
//! was broken already), so it is information there and judged after them; passing before and
//! failing after is a regression; after a rollback each test must do as it did at the baseline.

use super::LocalDatabase;
use crate::{
    analysis::pgtap,
    report::{Check, Report, Status},
};

impl LocalDatabase {
    /// Runs every test file of `supabase/tests/` that belongs to `phase` (`baseline`, `migrated`,
    /// `rolled_back`, `reapplied`). Nothing when the folder does not exist; an environment error
    /// when it does and this Postgres has no pgTAP.
    pub async fn run_db_tests(&mut self, phase: &str, report: &mut Report) -> anyhow::Result<()> {
        let Some(files) = pgtap::discover(&self.supabase_dir)? else { return Ok(()) };
        if files.is_empty() {
            report.push(
                Check::new(format!("tests.{phase}"), "the project's database tests", Status::Warn)
                    .detail("supabase/tests/ holds no .sql or .pg file: nothing was tested"),
            );
            return Ok(());
        }
        pgtap::ensure_pgtap(&mut self.conn).await?;
        let timer = report.phase(&format!("database tests ({phase})"));
        for file in files.iter().filter(|f| f.runs_at(phase)) {
            timer.set_message(file.name.clone());
            let generated = self.generated_data();
            let (run, hidden) = pgtap::run_file(&mut self.conn, file, &generated).await?;
            let stem = file.name.trim_end_matches(".sql").trim_end_matches(".pg").replace('/', ".");
            let check =
                Check::new(format!("tests.{phase}.{stem}"), format!("{} holds ({phase})", file.name), Status::Pass)
                    .value(format!("{} assertion(s)", run.assertions.len()));
            let mut problems = run.problems(&file.name);
            if !hidden && !problems.is_empty() {
                problems.push(
                    "the generated test data could not be hidden from this file (deleting it failed), so it may \
                     see rows the project's seed does not have"
                        .to_string(),
                );
            }
            report.push(if run.assertions.is_empty() && run.planned.is_none() && run.error.is_none() {
                // A helper file (functions for the other files, no plan, no assertion) is loaded.
                Check { status: Status::Info, ..check }
                    .detail(format!("{}: no plan and no assertion: a helper file, loaded, not judged", file.name))
            } else if problems.is_empty() && run.assertions.is_empty() {
                // A file that plans tests and asserts nothing proves nothing.
                Check { status: Status::Warn, ..check }.detail(format!("{}: no assertion ran", file.name))
            } else {
                let passed = problems.is_empty();
                let at_baseline = self.test_outcomes.get(&stem).copied();
                if phase == "baseline" {
                    self.test_outcomes.insert(stem.clone(), passed);
                }
                let (status, why) = judge(phase, passed, at_baseline);
                let detail = [why.to_string(), problems.join("\n")].join("\n").trim().to_string();
                Check { status, ..check }.detail(detail)
            });
        }
        report.record(timer);
        Ok(())
    }
}

/// How a test file's run at `phase` is judged, given whether it passed at the baseline.
pub fn judge(phase: &str, passed: bool, at_baseline: Option<bool>) -> (Status, &'static str) {
    match (phase, passed, at_baseline) {
        (_, true, _) => (Status::Pass, ""),
        ("baseline", false, _) => (
            Status::Info,
            "fails before the pending migrations: it tests what they add, or was broken already; it is judged after \
             them",
        ),
        ("rolled_back", false, Some(false)) => {
            (Status::Info, "fails after the rollback as it failed at the baseline: the rollback restored that too")
        }
        (_, false, Some(true)) => (Status::Fail, "a regression: it passed before the pending migrations"),
        (_, false, _) => (Status::Fail, "fails with the pending migrations applied"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_judged_by_difference() {
        let cases = [
            ("baseline", true, None, Status::Pass),
            ("baseline", false, None, Status::Info),
            ("migrated", true, Some(false), Status::Pass),
            ("migrated", false, Some(false), Status::Fail),
            ("migrated", false, Some(true), Status::Fail),
            ("migrated", false, None, Status::Fail),
            ("rolled_back", false, Some(false), Status::Info),
            ("rolled_back", false, Some(true), Status::Fail),
            ("reapplied", false, Some(false), Status::Fail),
        ];
        for (phase, passed, baseline, status) in cases {
            assert_eq!(judge(phase, passed, baseline).0, status, "{phase} {passed} {baseline:?}");
        }
        assert!(judge("migrated", false, Some(true)).1.starts_with("a regression"));
    }
}
