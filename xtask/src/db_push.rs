//! `cargo xtask db-push`: runbook 3.3-3.4 with its gates, in order, stopping at the first
//! failure: validate → a recent verified backup (or one now) → the plan → confirmation → push
//! (linked: `supabase db push`; direct: our runner under `lock_timeout`) → verify.

use crate::{
    db_rollback, db_validate, db_verify,
    flags::DbPush,
    report::{run_command, Check, Outcome, Report, Status},
    supabase::cli::SupabaseCli,
    target::{Mode, Target},
};

impl DbPush {
    pub async fn run(self) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-push", json.as_deref(), async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let dir = &self.project.supabase_dir;
        let target = Target::resolve(&self.target, dir)?;
        let max_age = self.max_backup_age.0;
        let lock_timeout = self.lock_timeout.0;

        // 1. Validate.
        let pending = db_validate::validate(&target, dir, report).await?;
        if report.failed() {
            return refuse(report, "validation failed: fix what the failed checks name, then push again");
        }

        // 2. A verified backup of this target, recent enough, or one now.
        match crate::target::backup::latest_verified(&self.out, &target, max_age) {
            Some((path, m)) => report.push(
                Check::new("push.backup", "a verified backup of this target exists", Status::Pass).value(format!(
                    "{} (taken {})",
                    path.display(),
                    m.created_at.format("%Y-%m-%d %H:%M:%SZ")
                )),
            ),
            None => {
                report.note(format!(
                    "no verified backup younger than {} for this target: taking one",
                    self.max_backup_age
                ));
                let path = crate::target::backup::take(&target, dir, &self.out, report).await?;
                if !crate::target::backup::verify(&path, &target, &self.restore.options(), report).await? {
                    return refuse(report, "the new backup did not verify; nothing was pushed");
                }
                report.push(
                    Check::new("push.backup", "a verified backup of this target exists", Status::Pass)
                        .value(path.display()),
                );
            }
        }

        // 3. The plan: pending versions, each with its rollback script.
        let scanned = crate::runner::scan(dir)?;
        let rollbacks = crate::runner::scan_rollbacks(dir)?;
        let files: Vec<&crate::runner::MigrationFile> =
            scanned.files.iter().filter(|f| pending.contains(&f.version)).collect();
        if files.is_empty() {
            report.push(
                Check::new("push.plan", "migrations to push", Status::Info).value(0).detail("the target is up to date"),
            );
            return Ok(());
        }
        let without: Vec<String> =
            files.iter().filter(|f| !rollbacks.contains_key(&f.version)).map(|f| f.file_name()).collect();
        let names: Vec<String> = files.iter().map(|f| f.file_name()).collect();
        if !without.is_empty() {
            report.push(
                Check::new("push.plan", "every migration to push has a rollback script", Status::Fail)
                    .detail(format!("no rollbacks/<version>_<name>.sql for: {}", without.join(", "))),
            );
            return refuse(report, "write the missing rollback scripts first");
        }
        report.push(
            Check::new("push.plan", "migrations to push", Status::Info).value(files.len()).detail(names.join("\n")),
        );

        // 4. Confirmation.
        crate::target::confirm(
            &format!("About to push {} to {}", names.join(", "), target.describe()),
            &target.name(),
            self.yes,
        )?;

        // 5. Push.
        let pushed = match &target.mode {
            Mode::Linked { .. } => {
                let result = SupabaseCli::new(dir)?.push();
                let ok = result.is_ok();
                report.push(match result {
                    Ok(out) => {
                        Check::new("push.apply", "supabase db push", Status::Pass).detail(out.trim().to_string())
                    }
                    Err(e) => Check::new("push.apply", "supabase db push", Status::Fail).detail(format!("{e:#}")),
                });
                ok
            }
            Mode::Direct => {
                let mut conn = target.connect_for_changes(lock_timeout).await?;
                let mut ok = true;
                for file in &files {
                    let id = format!("push.apply.{}", file.version);
                    let title = format!("{} applies", file.file_name());
                    match crate::runner::apply(&mut conn, file).await {
                        Ok(a) => report.push(
                            Check::new(id, title, Status::Pass).value(format!("{} ms", a.duration.as_millis())).detail(
                                a.notices
                                    .iter()
                                    .map(|n| format!("{}: {}", n.severity, n.message))
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            ),
                        ),
                        Err(e) => {
                            let hint = if e.message.contains("55P03") {
                                format!("\nit waited longer than --lock-timeout {} for a lock: the app's traffic holds it; retry in a quieter moment", self.lock_timeout)
                            } else {
                                String::new()
                            };
                            report.push(Check::new(id, title, Status::Fail).detail(format!(
                                "{e}{hint}\nnothing of this file was applied; later files were not run"
                            )));
                            ok = false;
                            break;
                        }
                    }
                }
                ok
            }
        };

        // 6. Verify.
        if pushed {
            db_verify::verify(&target, dir, report).await?;
        }
        if report.failed() {
            let how = match &target.mode {
                Mode::Linked { .. } => "--linked".to_string(),
                Mode::Direct => "--db-url \"$SUPABASE_DB_URL\"".to_string(),
            };
            let command = format!("cargo xtask db-rollback --supabase-dir {} {how}", dir.display());
            report.push(Check::new("push.rollback_command", "to roll back", Status::Info).detail(&command));
            if self.rollback_on_failure {
                report.note("verification failed: rolling back (--rollback-on-failure)");
                db_rollback::rollback(&target, dir, &self.restore.options(), lock_timeout, true, report).await?;
            } else {
                report.note(format!("verification failed; to roll back run: {command}"));
            }
        }
        Ok(())
    }
}

fn refuse(report: &mut Report, why: &str) -> anyhow::Result<()> {
    report.push(Check::new("push.refused", "push refused", Status::Fail).detail(why));
    Ok(())
}
