//! What an interrupted push or rollback committed on its target, kept as a record: the command
//! registers itself when it starts changing a target (with the history it found), the runner
//! keeps what a batched backfill has committed, and on Ctrl-C/SIGTERM the history is read again and the
//! difference written into the migration log and said on the terminal.

use std::{path::PathBuf, sync::Mutex};

use crate::{
    production::{Session, Target},
    report::{Check, Report, Status},
};

struct RunInProgress {
    command: String,
    log_dir: PathBuf,
    target: Target,
    applied_before: Vec<String>,
}

static RUN: Mutex<Option<RunInProgress>> = Mutex::new(None);

/// `command` starts changing `target`, whose history holds `applied_before`.
pub async fn begin(command: &str, log_dir: PathBuf, session: &mut Session) -> anyhow::Result<()> {
    let applied = crate::runner::applied_versions(session.read()).await?;
    let applied_before = applied.into_iter().map(|(v, _, _)| v).collect();
    if let Ok(mut run) = RUN.lock() {
        let target = session.target().clone();
        *run = Some(RunInProgress { command: command.into(), log_dir, target, applied_before });
    }
    Ok(())
}

/// The command ended on its own (its own record says what it did).
pub fn end() {
    if let Ok(mut run) = RUN.lock() {
        *run = None;
    }
    let _ = crate::runner::backfill::take_progress();
}

/// After an interrupt: what the registered run committed, written as its record; the lines to
/// say (none when no run that changes a target was under way).
pub async fn record(what: &str) -> Vec<String> {
    let Some(run) = RUN.lock().ok().and_then(|mut r| r.take()) else { return Vec::new() };
    let backfill = crate::runner::backfill::take_progress();
    let mut report = Report::quiet(&run.command);
    let now: anyhow::Result<Vec<String>> = match run.target.connect_read_only().await {
        Ok(mut conn) => {
            crate::runner::applied_versions(&mut conn).await.map(|h| h.into_iter().map(|(v, _, _)| v).collect())
        }
        Err(e) => Err(e),
    };
    report.push(match &now {
        Ok(now) => committed_check(&run.applied_before, now),
        Err(e) => Check::new("interrupt.committed", "what this run committed before it was interrupted", Status::Warn)
            .detail(format!("the target's history could not be read ({e:#}): run `cargo xtask db-validate`")),
    });
    if let Some((file, table, batches, rows)) = backfill {
        report.push(
            Check::new("interrupt.backfill", "backfill batches committed before the interrupt", Status::Warn)
                .value(format!("{batches} batch(es), {rows} row(s)"))
                .detail(format!(
                    "{file}: {batches} batch(es) of {table} committed, {rows} row(s) updated; they stay, and running \
                     the push again resumes the backfill where it stopped"
                )),
        );
    }
    report.stopped_by(&anyhow::anyhow!("{what}"));
    let mut lines: Vec<String> = report
        .checks
        .iter()
        .map(|c| format!("{}: {}", c.value.clone().unwrap_or_default(), c.detail.clone().unwrap_or_default()))
        .collect();
    match crate::production::record::write(&run.log_dir, &report, &run.target) {
        Ok(path) => lines.push(format!("the record of this interrupted run: {}", path.display())),
        Err(e) => lines.push(format!("the record of this interrupted run could not be written: {e:#}")),
    }
    lines
}

/// The versions the run applied (new in the history) and rolled back (gone from it).
fn committed_check(before: &[String], now: &[String]) -> Check {
    let applied: Vec<&String> = now.iter().filter(|v| !before.contains(v)).collect();
    let rolled_back: Vec<&String> = before.iter().filter(|v| !now.contains(v)).collect();
    let check = Check::new("interrupt.committed", "what this run committed before it was interrupted", Status::Warn);
    if applied.is_empty() && rolled_back.is_empty() {
        return check.value("nothing").detail("the target's history is as this run found it");
    }
    let list = |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
    let mut said = Vec::new();
    if !applied.is_empty() {
        said.push(format!(
            "applied and recorded: {} (they stay; `cargo xtask db-rollback` undoes them)",
            list(&applied)
        ));
    }
    if !rolled_back.is_empty() {
        said.push(format!("rolled back: {} (gone from the history)", list(&rolled_back)));
    }
    check.value(format!("{} applied, {} rolled back", applied.len(), rolled_back.len())).detail(said.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_run_committed_is_the_difference_in_the_history() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let check = |before: &[&str], now: &[&str], value: &str| {
            assert_eq!(committed_check(&v(before), &v(now)).value.as_deref(), Some(value), "{before:?} → {now:?}")
        };
        check(&["1"], &["1"], "nothing");
        check(&["1"], &["1", "2", "3"], "2 applied, 0 rolled back");
        check(&["1", "2", "3"], &["1"], "0 applied, 2 rolled back");
    }
}
