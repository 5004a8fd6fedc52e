//! `cargo xtask db-rollback`: runbook phase 4. What the target's history says was applied, newest
//! first, rolled back with the local rollback scripts (each in a transaction with its history
//! repair), whatever state the local migration files are in; then proof that the target no
//! longer holds what those migrations added.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

use crate::{
    analysis::catalog::CatalogSnapshot,
    flags::DbRollback,
    pg::{EphemeralPostgres, PgOptions},
    production::{Confirmation, Mode, Session, Target},
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
    runner::{self, MigrationFile},
    supabase::cli::SupabaseCli,
};

impl DbRollback {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-rollback", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
        let log_dir = crate::production::record::log_dir(self.log_dir.as_deref(), &self.project.supabase_dir);
        let result = self.steps(&target, &log_dir, report).await;
        crate::production::interrupted::end();
        crate::production::record::keep(&log_dir, report, &target, "rollback.record", &result);
        result
    }

    async fn steps(&self, target: &Target, log_dir: &Path, report: &mut Report) -> anyhow::Result<()> {
        // Held until the rollback ends: one push or rollback at a time on this target.
        let session = &mut Session::exclusive(target, "db-rollback").await?;
        // An interrupt from here on leaves a record of what committed.
        crate::production::interrupted::begin("db-rollback", log_dir.to_path_buf(), session).await?;
        rollback(
            target,
            &self.project.supabase_dir,
            &self.restore.options(),
            Pace {
                lock_timeout: self.lock_timeout.0,
                retry: runner::retry::LockRetry {
                    attempts: self.lock_attempts,
                    first_wait: std::time::Duration::from_millis(500),
                },
                batch: runner::backfill::Overrides { progress: true, ..Default::default() },
            },
            Confirmation::from_yes(self.yes),
            report,
        )
        .await
    }
}

/// One row of the target's history.
#[derive(Debug)]
pub struct HistoryRow {
    pub version: String,
    pub name: String,
    pub statements: Vec<String>,
}

/// What to roll back, from the target's history alone.
#[derive(Debug)]
pub struct RollbackPlan<'a> {
    /// The newest applied versions that have a rollback script, newest first.
    pub roll: Vec<&'a HistoryRow>,
    /// The applied version the plan stops at (the newest without a script), if any.
    pub stop: Option<&'a HistoryRow>,
    /// Applied versions older than the stop that have a script: the stop is a gap in the middle,
    /// and these stay applied although they could be rolled back.
    pub stranded: Vec<&'a HistoryRow>,
    /// Every applied version the plan leaves applied (the stop and all older).
    pub stays: usize,
}

/// The newest applied versions, newest first, as long as each has a rollback script; the first
/// applied version without one is where it stops (the baseline, or a gap when older ones have
/// scripts).
pub fn rollback_plan<'a>(history: &'a [HistoryRow], scripts: &BTreeMap<String, PathBuf>) -> RollbackPlan<'a> {
    let mut ordered: Vec<&HistoryRow> = history.iter().collect();
    ordered.sort_by_key(|a| (a.version.parse::<u128>().unwrap_or(u128::MAX), a.version.clone()));
    ordered.reverse();
    let roll: Vec<&HistoryRow> = ordered.iter().copied().take_while(|a| scripts.contains_key(&a.version)).collect();
    let rest = &ordered[roll.len()..];
    let stranded = rest.iter().copied().skip(1).filter(|a| scripts.contains_key(&a.version)).collect();
    RollbackPlan { stop: rest.first().copied(), stranded, stays: rest.len(), roll }
}

/// What the plan leaves applied, as a check: a failure when a missing script in the middle
/// strands versions that have scripts, information otherwise.
fn stays_check(plan: &RollbackPlan) -> Option<Check> {
    let stop = plan.stop?;
    let check = Check::new("rollback.stays", "what stays applied on the target", Status::Info).value(plan.stays);
    let stop_name = format!("{}_{}", stop.version, stop.name);
    Some(if plan.stranded.is_empty() {
        check.detail(format!(
            "{} version(s) stay applied, the newest {stop_name}: it has no script in rollbacks/ (the baseline)",
            plan.stays
        ))
    } else {
        let stranded: Vec<String> = plan.stranded.iter().map(|a| format!("{}_{}", a.version, a.name)).collect();
        Check { status: Status::Fail, ..check }.detail(format!(
            "{stop_name} has no script in rollbacks/, so the rollback stops there: {} version(s) stay applied, \
             {} of them with a script of their own:\n{}\nwrite rollbacks/{stop_name}.sql and run db-rollback again \
             to go further",
            plan.stays,
            stranded.len(),
            stranded.join("\n")
        ))
    })
}

/// How the rollback's changes run: under which lock timeout, with how many attempts, and the
/// command's batching for backfill rollbacks.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub lock_timeout: std::time::Duration,
    pub retry: runner::retry::LockRetry,
    pub batch: runner::backfill::Overrides,
}

pub async fn rollback(
    target: &Target,
    supabase_dir: &Path,
    restore: &PgOptions,
    pace: Pace,
    confirmation: Confirmation,
    report: &mut Report,
) -> anyhow::Result<()> {
    report.note(format!("target {}", target.describe()));
    let scripts = runner::scan_rollbacks(supabase_dir)?;
    let mut conn = target.connect_for_changes(pace.lock_timeout).await?;
    let history: Vec<HistoryRow> = runner::applied_versions(&mut conn)
        .await?
        .into_iter()
        .map(|(version, name, statements)| HistoryRow { version, name, statements })
        .collect();
    let plan = rollback_plan(&history, &scripts);
    let stays = stays_check(&plan);
    let to_roll = plan.roll;
    if to_roll.is_empty() {
        report.push(
            Check::new("rollback.plan", "migrations to roll back", Status::Info)
                .value(0)
                .detail("the newest version the target has applied has no script in rollbacks/: nothing to roll back"),
        );
        report.extend(stays);
        return Ok(());
    }
    let names: Vec<String> = to_roll.iter().map(|a| format!("{}_{}", a.version, a.name)).collect();
    report.push(
        Check::new("rollback.plan", "migrations to roll back (newest first, from the target's history)", Status::Info)
            .value(to_roll.len())
            .detail(names.join("\n")),
    );
    confirm_rollback(target, &names, confirmation)?;

    // What the migrations added, learnt on an ephemeral copy replaying what the target recorded.
    let added = added_objects(&history, &to_roll, supabase_dir, restore).await;
    let cli = match &target.mode {
        Mode::Linked { .. } => Some(SupabaseCli::new(supabase_dir)?),
        Mode::Direct => None,
    };
    for applied in &to_roll {
        let Some(script) = scripts.get(&applied.version) else { continue };
        let id = format!("rollback.apply.{}", applied.version);
        let title = format!("rollback of {}_{} applies", applied.version, applied.name);
        let work = runner::retry::Work::RollBack { version: &applied.version, script, history_by_cli: cli.is_some() };
        let attempts =
            runner::retry::with_retries(&mut conn, pace.retry, work, runner::Run { as_role: None, batch: pace.batch })
                .await;
        let tried = attempts.describe();
        if let Err(e) = attempts.result {
            let detail = [tried.unwrap_or_default(), e.to_string()].join("\n");
            report.push(Check::new(id, title, Status::Fail).detail(detail.trim_start().to_string()));
            return Ok(());
        }
        if let Some(cli) = &cli {
            if let Err(e) = cli.repair_reverted(&applied.version) {
                report.push(Check::new(id, title, Status::Fail).detail(format!("the script ran, but {e:#}")));
                return Ok(());
            }
        }
        report.push(Check::new(id, title, Status::Pass));
    }
    report.extend(stays);
    leftovers(&mut conn, added, report).await
}

fn confirm_rollback(target: &Target, names: &[String], confirmation: Confirmation) -> anyhow::Result<()> {
    crate::production::confirm(
        &format!("About to roll back {} on {}", names.join(", "), target.describe()),
        &target.name(),
        confirmation,
    )
}

async fn leftovers(
    conn: &mut sqlx::PgConnection,
    added: anyhow::Result<BTreeSet<String>>,
    report: &mut Report,
) -> anyhow::Result<()> {
    let check = Check::new("rollback.leftovers", "nothing the migrations added is left", Status::Pass);
    let added = match added {
        Ok(added) => added,
        Err(e) => {
            report.push(Check { status: Status::Warn, ..check }.detail(format!(
                "not checked: replaying the target's history on an ephemeral Postgres failed ({e:#}); \
                 compare the target's catalog with your last backup's"
            )));
            return Ok(());
        }
    };
    let now = CatalogSnapshot::take(conn).await?;
    let left: Vec<&String> = added.iter().filter(|name| now.objects.contains_key(*name)).collect();
    report.push(if added.is_empty() {
        // Nothing to look for is not proof: say so.
        Check { status: Status::Warn, ..check }.value("0 added objects").detail(
            "replaying the target's history showed no catalog object the rolled-back migrations added \
             (data-only migrations?): nothing was checked; compare the target with your last backup",
        )
    } else if left.is_empty() {
        check.value(format!("{} added object(s) checked", added.len()))
    } else {
        Check { status: Status::Fail, ..check }
            .detail(left.iter().map(|n| format!("{n} still exists")).collect::<Vec<_>>().join("\n"))
    });
    Ok(())
}

/// The text the target recorded for a version (its `statements`), or the local file when the
/// history holds none.
fn recorded_file(applied: &HistoryRow, supabase_dir: &Path) -> anyhow::Result<MigrationFile> {
    let text = if applied.statements.is_empty() {
        let path = supabase_dir.join("migrations").join(format!("{}_{}.sql", applied.version, applied.name));
        std::fs::read_to_string(&path).map_err(|e| {
            anyhow::anyhow!(
                "version {} has no statements in the target's history and {} cannot be read: {e}",
                applied.version,
                path.display()
            )
        })?
    } else {
        applied.statements.iter().map(|s| format!("{};\n", s.trim_end().trim_end_matches(';'))).collect()
    };
    Ok(MigrationFile {
        version: applied.version.clone(),
        name: applied.name.clone(),
        path: PathBuf::from(format!("{}_{}.sql (as recorded)", applied.version, applied.name)),
        text,
    })
}

/// Objects present after the rolled-back versions and absent before, on an ephemeral Postgres
/// replaying the target's history (not the local folder, which may hold files never applied).
async fn added_objects(
    history: &[HistoryRow],
    to_roll: &[&HistoryRow],
    supabase_dir: &Path,
    restore: &PgOptions,
) -> anyhow::Result<BTreeSet<String>> {
    let rolled: BTreeSet<&str> = to_roll.iter().map(|a| a.version.as_str()).collect();
    let (pending, baseline): (Vec<&HistoryRow>, Vec<&HistoryRow>) =
        history.iter().partition(|a| rolled.contains(a.version.as_str()));
    let pg = EphemeralPostgres::start(restore).await?;
    let result = async {
        let mut conn = pg.connect().await?;
        crate::supabase::layer::install(&mut conn).await?;
        let mut conn = pg.connect().await?;
        for a in &baseline {
            runner::apply(&mut conn, &recorded_file(a, supabase_dir)?).await?;
        }
        let before = CatalogSnapshot::take(&mut conn).await?;
        for a in &pending {
            runner::apply(&mut conn, &recorded_file(a, supabase_dir)?).await?;
        }
        let after = CatalogSnapshot::take(&mut conn).await?;
        anyhow::Ok(after.objects.keys().filter(|k| !before.objects.contains_key(*k)).cloned().collect())
    }
    .await;
    pg.close().await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(history: &[&str], scripts: &[&str], expected: &[&str]) {
        plan(history, scripts, expected, &[]);
    }

    fn plan(history: &[&str], scripts: &[&str], expected: &[&str], stranded: &[&str]) {
        let history: Vec<HistoryRow> = history
            .iter()
            .map(|v| HistoryRow { version: v.to_string(), name: "x".into(), statements: Vec::new() })
            .collect();
        let scripts: BTreeMap<String, PathBuf> = scripts.iter().map(|v| (v.to_string(), PathBuf::new())).collect();
        let got = rollback_plan(&history, &scripts);
        let roll: Vec<&str> = got.roll.iter().map(|a| a.version.as_str()).collect();
        let left: Vec<&str> = got.stranded.iter().map(|a| a.version.as_str()).collect();
        assert_eq!(
            (roll, left),
            (expected.to_vec(), stranded.to_vec()),
            "history {history:?}",
            history = history.iter().map(|a| &a.version).collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_plan_is_the_newest_applied_versions_that_have_a_script() {
        // 7 of 8 applied (the push failed on the last): exactly those 7, newest first.
        check(&["1", "10", "11", "12"], &["10", "11", "12", "13"], &["12", "11", "10"]);
        // Stops at the first applied version without a script (the baseline)…
        check(&["1", "10", "11"], &["11"], &["11"]);
        // …which is a gap when older ones have scripts: they are stranded, and said to be.
        plan(&["1", "10", "11"], &["1", "11"], &["11"], &["1"]);
        plan(
            &["1", "2", "3", "4", "5", "6", "7", "8"],
            &["1", "2", "3", "4", "6", "7", "8"],
            &["8", "7", "6"],
            &["4", "3", "2", "1"],
        );
        check(&["1"], &["10"], &[]);
        check(&[], &["10"], &[]);
        // Versions compare as numbers, as the CLI orders them.
        check(&["9", "10"], &["9", "10"], &["10", "9"]);
    }
}
