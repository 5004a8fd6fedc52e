//! The project's pgTAP tests at a phase, as checks `tests.<phase>.<file>`.

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
            report.push(if problems.is_empty() && run.assertions.is_empty() {
                // A file that asserts nothing proves nothing.
                Check { status: Status::Warn, ..check }.detail(format!("{}: no assertion ran", file.name))
            } else if problems.is_empty() {
                check
            } else {
                Check { status: Status::Fail, ..check }.detail(problems.join("\n"))
            });
        }
        report.record(timer);
        Ok(())
    }
}
