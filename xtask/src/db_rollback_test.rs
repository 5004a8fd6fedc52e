//! `cargo xtask db-rollback-test`: proves the rollback scripts restore the exact previous catalog
//! and data, each on its own and all together, that the app works on the rolled-back schema, and
//! that the migrations re-apply.

mod stepwise;

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    analysis::catalog::{CatalogSnapshot, Difference},
    analysis::data_snapshot::DataSnapshot,
    app_seam,
    flags::DbRollbackTest,
    local_db::{Expect, LocalDatabase},
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

/// The directive a rollback script uses to keep an object on purpose:
/// `-- xtask:keeps column public.notes.owner_id`.
pub const KEEPS_DIRECTIVE: &str = "-- xtask:keeps ";

impl DbRollbackTest {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.local.project.json.clone();
        run_command("db-rollback-test", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let mut db = LocalDatabase::start(self.local.setup()?, report).await?;
        let result = steps(self, &mut db, report).await;
        db.close(report).await?;
        result
    }
}

async fn steps(flags: &DbRollbackTest, db: &mut LocalDatabase, report: &mut Report) -> anyhow::Result<()> {
    // 1. Baseline and test data, as db-local-test.
    if !db.apply_baseline(report).await? {
        return skip_rest(report, "the baseline did not apply");
    }
    db.detect_app(report).await?;
    db.load_data(flags.local.data.size(), report).await?;
    db.run_db_tests("baseline", report).await?;
    if db.plan.pending.is_empty() {
        return skip_rest(report, "there are no pending migrations");
    }
    if let Some(missing) = missing_rollback_scripts(db, report) {
        return skip_rest(report, &format!("pending migration(s) without a rollback: {missing}"));
    }

    // 2. S0, D0, and the app on the old schema.
    let timer = report.phase("snapshot before");
    let s0 = CatalogSnapshot::take_everything(&mut db.conn).await?;
    let snapshot_ms = report.record(timer).as_millis();
    let d0 = DataSnapshot::take_for_proof(&mut db.conn, &s0).await?;
    report.push(Check::new("snapshot.before", "catalog and data before the migration", Status::Info).value(format!(
        "{} objects ({snapshot_ms} ms), {} rows in {} tables",
        s0.objects.len(),
        d0.row_count(),
        d0.tables.len()
    )));
    let rls_before = db.rls_state("before", None, report).await?;
    let mut smoke_writes = Vec::new();
    smoke_writes.extend(db.smoke("smoke.before", "before", report).await);

    // 3. Migrate, post checks, app.
    if !db.apply_pending("pending.apply", report).await? {
        return skip_rest(report, "a pending migration did not apply");
    }
    // Rows for the tables the migrations create, so the access matrix exercises them here too.
    db.generate_for_new_tables(report).await?;
    db.run_db_tests("migrated", report).await?;
    db.run_checks("post", "", report).await?;
    let rls_migrated = db.rls_state("migrated", Some(&rls_before), report).await?;
    db.rls_compare(&rls_before, &rls_migrated, "rls.matrix", Expect::DeclaredChanges, report);
    smoke_writes.extend(db.smoke("smoke.migrated", "migrated", report).await);

    // 4. Roll back, newest first, each script with its history repair (noting which rollback
    //    removed which object, to name the pair when one is right only with another).
    let Some((keeps, removed_by)) = roll_back_pending(db, report).await? else {
        return skip_rest(report, "a rollback script failed");
    };

    // 5. S1 == S0 (but for declared keeps), D1 == D0 for the rows that existed.
    let timer = report.phase("snapshot after");
    let s1 = CatalogSnapshot::take_everything(&mut db.conn).await?;
    report.record(timer);
    let full_passed = catalog_checks(&s0.diff(&s1), &keeps, report);
    data_checks(db, &d0, &smoke_writes, report).await?;
    // Who can read and write what must be exactly as before: no declarations apply to a rollback.
    let rls_rolled_back = db.rls_state("rolled_back", Some(&rls_before), report).await?;
    db.rls_compare(&rls_before, &rls_rolled_back, "rollback.rls", Expect::NoChange, report);

    // 6. The app and the project's tests on the rolled-back schema.
    db.smoke("smoke.rolled_back", "rolledback", report).await;
    db.run_db_tests("rolled_back", report).await?;

    // 7. Re-apply, each file proven alone on the way (applied, rolled back on its own, compared,
    //    applied again), then post checks and app again.
    let Some(leftovers) = stepwise::prove(db, "reapply.apply", report).await? else {
        return skip_rest(report, "a pending migration did not re-apply after the rollback");
    };
    let cleaned_by: BTreeMap<String, String> = leftovers
        .iter()
        .filter_map(|(version, left)| {
            let by = left.names.iter().filter_map(|n| removed_by.get(n)).find(|v| *v != version)?;
            Some((version.clone(), by.clone()))
        })
        .collect();
    report.push(stepwise::summary(&leftovers, full_passed, &cleaned_by));
    db.run_db_tests("reapplied", report).await?;
    db.run_checks("post", "reapply.", report).await?;
    db.smoke("smoke.reapplied", "reapplied", report).await;
    Ok(())
}

/// One check per pending migration: its rollback script exists. The files without one, if any.
fn missing_rollback_scripts(db: &LocalDatabase, report: &mut Report) -> Option<String> {
    let missing: Vec<String> =
        db.plan.pending.iter().filter(|f| !db.plan.rollbacks.contains_key(&f.version)).map(|f| f.file_name()).collect();
    for file in &db.plan.pending {
        let id = format!("rollback.script.{}", file.version);
        let title = format!("{} has a rollback script", file.file_name());
        report.push(match db.plan.rollbacks.get(&file.version) {
            Some(path) => Check::new(id, title, Status::Pass).value(path.display()),
            None => Check::new(id, title, Status::Fail).detail(format!(
                "no {}/{}: write the script that undoes it (never under migrations/, where the CLI would run it), or \
                 let `cargo xtask db-rollback-new {}` write it from the catalog and prove it",
                db.supabase_dir.join("rollbacks").display(),
                file.file_name(),
                file.version
            )),
        });
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// Every pending migration's rollback, newest first, then the history check; the objects the
/// scripts declare they keep and, for each object a rollback removed, its version; `None` when a
/// script failed.
async fn roll_back_pending(
    db: &mut LocalDatabase,
    report: &mut Report,
) -> anyhow::Result<Option<(BTreeSet<String>, BTreeMap<String, String>)>> {
    let timer = report.phase("roll back");
    let mut keeps: BTreeSet<String> = BTreeSet::new();
    let mut removed_by = BTreeMap::new();
    let mut present: BTreeSet<String> =
        CatalogSnapshot::take_everything(&mut db.conn).await?.objects.into_keys().collect();
    for file in db.plan.pending.clone().iter().rev() {
        let Some(script) = db.plan.rollbacks.get(&file.version).cloned() else { continue };
        keeps.extend(kept_objects(&std::fs::read_to_string(&script)?));
        let id = format!("rollback.apply.{}", file.version);
        let title = format!("rollback of {} applies", file.file_name());
        match db.roll_back(&file.version, &script).await {
            Ok(applied) => report.push(Check::new(id, title, Status::Pass).value(format!(
                "{} statement(s) in {} ms",
                applied.statements,
                applied.duration.as_millis()
            ))),
            Err(e) => {
                report.push(Check::new(id, title, Status::Fail).detail(e.to_string()));
                report.record(timer);
                return Ok(None);
            }
        }
        let now: BTreeSet<String> = CatalogSnapshot::take_everything(&mut db.conn).await?.objects.into_keys().collect();
        for gone in present.difference(&now) {
            removed_by.insert(gone.clone(), file.version.clone());
        }
        present = now;
    }
    report.record(timer);
    let history = crate::runner::applied_versions(&mut db.conn).await?;
    let left: Vec<&str> = db
        .plan
        .pending
        .iter()
        .filter(|f| history.iter().any(|(v, _, _)| v == &f.version))
        .map(|f| f.version.as_str())
        .collect();
    report.push(if left.is_empty() {
        Check::new("rollback.history", "history rows of the rolled-back versions are gone", Status::Pass)
    } else {
        Check::new("rollback.history", "history rows of the rolled-back versions are gone", Status::Fail)
            .detail(format!("still recorded as applied: {}", left.join(", ")))
    });
    Ok(Some((keeps, removed_by)))
}

/// Objects a rollback script declares it keeps on purpose.
pub fn kept_objects(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix(KEEPS_DIRECTIVE.trim_end()))
        .map(|rest| rest.trim().to_string())
        .filter(|rest| !rest.is_empty())
        .collect()
}

/// The full-sequence catalog check; true when nothing unexpected differs.
fn catalog_checks(diffs: &[Difference], keeps: &BTreeSet<String>, report: &mut Report) -> bool {
    let (kept, unexpected): (Vec<&Difference>, Vec<&Difference>) = diffs.iter().partition(|d| keeps.contains(d.name()));
    for d in &kept {
        report.push(
            Check::new(format!("rollback.kept.{}", d.name()), "kept on purpose by the rollback script", Status::Warn)
                .detail(d.describe_after_rollback()),
        );
    }
    let check = Check::new("rollback.catalog", "the catalog after rollback equals the catalog before", Status::Pass);
    let passed = unexpected.is_empty();
    report.push(if unexpected.is_empty() {
        check.value(format!("{} kept on purpose", kept.len()))
    } else {
        let lines: Vec<String> = unexpected.iter().map(|d| d.describe_after_rollback()).collect();
        Check { status: Status::Fail, ..check }.value(format!("{} difference(s)", lines.len())).detail(lines.join("\n"))
    });
    passed
}

async fn data_checks(
    db: &mut LocalDatabase,
    d0: &DataSnapshot,
    smoke: &[app_seam::SmokeRun],
    report: &mut Report,
) -> anyhow::Result<()> {
    let d1 = match DataSnapshot::take_like(&mut db.conn, d0).await {
        Ok(d1) => d1,
        Err(e) => {
            report.push(
                Check::new("rollback.data", "rows that existed before are unchanged", Status::Fail)
                    .detail(format!("{e:#}")),
            );
            return Ok(());
        }
    };
    let cmp = d0.compare(&d1);
    let mut problems: Vec<String> = Vec::new();
    let first =
        |rows: &[(String, String)]| rows.iter().take(5).map(|(t, k)| format!("{t} {k}")).collect::<Vec<_>>().join(", ");
    if !cmp.missing.is_empty() {
        problems.push(format!("{} row(s) missing, first: {}", cmp.missing.len(), first(&cmp.missing)));
    }
    if !cmp.changed.is_empty() {
        problems.push(format!("{} row(s) changed, first: {}", cmp.changed.len(), first(&cmp.changed)));
    }
    let check = Check::new("rollback.data", "rows that existed before are unchanged", Status::Pass);
    report.push(if problems.is_empty() {
        check.value(format!("{} rows compared", d0.row_count()))
    } else {
        Check { status: Status::Fail, ..check }.detail(problems.join("\n"))
    });

    // New rows must be the app smoke's own writes; anything else was written by a migration or
    // its rollback and stayed.
    let written: BTreeSet<String> = smoke.iter().flat_map(app_seam::written_ids).collect();
    let (accounted, stray): (Vec<_>, Vec<_>) = cmp.added.iter().partition(|(_, key)| written.contains(key));
    let check = Check::new("rollback.data.new_rows", "rows added since are the app smoke's", Status::Pass);
    report.push(if stray.is_empty() {
        check.value(format!("{} row(s) written by the app smoke", accounted.len()))
    } else {
        let stray: Vec<(String, String)> = stray.into_iter().cloned().collect();
        Check { status: Status::Fail, ..check }
            .value(format!("{} unexplained row(s)", stray.len()))
            .detail(format!("rows no app call wrote, first: {}", first(&stray)))
    });
    Ok(())
}

fn skip_rest(report: &mut Report, why: &str) -> anyhow::Result<()> {
    report.push(Check::new("steps.remaining", "remaining steps", Status::Skip).detail(format!("not run: {why}")));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keeps_directives() {
        let script = "-- Rollback\n-- xtask:keeps column public.notes.owner_id\n  -- xtask:keeps index public.idx\nselect 1;\n-- xtask:keeps\n";
        assert_eq!(kept_objects(script), ["column public.notes.owner_id", "index public.idx"]);
    }
}
