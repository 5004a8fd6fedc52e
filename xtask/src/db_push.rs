//! `cargo xtask db-push`: runbook 3.3-3.4 with its gates, in order, stopping at the first
//! failure: validate → a recent verified backup (or one now) → the plan → confirmation → push
//! (linked: `supabase db push`; direct: our runner under `lock_timeout`) → verify.

mod speed;
mod staged;

use std::path::Path;

use std::time::Duration;

use crate::{
    db_rollback, db_validate, db_verify,
    flags::DbPush,
    production::{backup, Confirmation, Mode, Session, Target},
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
    runner::{self, MigrationFile},
};

impl DbPush {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-push", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
        let log_dir = crate::production::record::log_dir(self.log_dir.as_deref(), &self.project.supabase_dir);
        let result = self.steps(&target, &log_dir, report).await;
        crate::production::interrupted::end();
        report.push(
            Check::new("session.connections", "connections this push opened to the target", Status::Info)
                .value(target.connections_opened())
                .detail("besides pg_dump's and pg_dumpall's, and the supabase CLI's in linked mode"),
        );
        crate::production::record::keep(&log_dir, report, &target, "push.record", &result);
        result
    }

    async fn steps(&self, target: &Target, log_dir: &Path, report: &mut Report) -> anyhow::Result<()> {
        let dir = &self.project.supabase_dir;
        // One push or rollback at a time on this target, until this command ends: every read of
        // the steps below goes through this session, which holds the migration lock.
        let session = &mut Session::exclusive(target, "db-push").await?;
        // An interrupt from here on leaves a record of what committed.
        crate::production::interrupted::begin("db-push", log_dir.to_path_buf(), session).await?;

        // 1. Validate.
        let pending = db_validate::validate(session, dir, &self.rehearsal, report).await?;
        if report.failed() {
            return refuse(report, "validation failed: fix what the failed checks name, then push again");
        }
        // 2. A verified backup of this target, recent enough, or one now.
        if !self.ensure_backup(session, report).await? {
            return refuse(report, "the new backup did not verify; nothing was pushed");
        }
        // 3. The plan: pending versions, each with its rollback script.
        let Some(files) = plan(dir, pending, report)? else { return Ok(()) };
        for f in &files {
            report.silences_from(&f.file_name(), &f.path, &f.text);
        }
        let names: Vec<String> = files.iter().map(MigrationFile::file_name).collect();
        // 4. Confirmation.
        crate::production::confirm(
            &format!("About to push {} to {}", names.join(", "), target.describe()),
            &target.name(),
            Confirmation::from_yes(self.yes),
        )?;
        // The app's queries as a signed-in user of the target, before and after (read-only), and
        // the baseline db-watch compares with.
        let speed = speed::Speed::prepare(session, dir, self.as_user.as_deref()).await?;
        let speed_before = speed.time(session).await;
        self.save_watch_baseline(session, &files, report).await;
        // 5. Push.
        let pushed = match &target.mode {
            Mode::Linked { .. } => {
                staged::push(dir, target, &files, self.lock_timeout.0, self.run_files(), report).await?
            }
            Mode::Direct => self.push_direct(target, &files, report).await?,
        };
        // 6. Verify.
        if pushed {
            db_verify::verify(session, dir, report).await?;
            let after = speed.time(session).await;
            self.save_watch_promises(&speed, after.as_ref(), report);
            speed.report(speed_before, after, report);
        }
        if report.failed() {
            self.after_failure(session, report).await?;
        }
        Ok(())
    }

    /// What Postgres records on the target now, for `db-watch`; a failure here is a warning.
    async fn save_watch_baseline(&self, session: &mut Session, files: &[MigrationFile], report: &mut Report) {
        let log_dir = crate::production::record::log_dir(self.log_dir.as_deref(), &self.project.supabase_dir);
        let texts: Vec<String> = files.iter().map(|f| f.text.clone()).collect();
        let versions = files.iter().map(|f| f.version.clone()).collect();
        let check = Check::new("push.watch_baseline", "the baseline db-watch compares with", Status::Info);
        report.push(match crate::db_watch::save_baseline(session, &texts, versions, &log_dir).await {
            Ok(path) => check.value(path.display()),
            Err(e) => Check { status: Status::Warn, ..check }
                .detail(format!("{e:#}: db-watch will compare with its first sample")),
        });
    }

    /// The queries' times right after the push, for `db-watch` to hold the push to; nothing timed
    /// is said, a failure here is a warning.
    fn save_watch_promises(&self, speed: &speed::Speed, after: Option<&speed::TimedQueries>, report: &mut Report) {
        let log_dir = crate::production::record::log_dir(self.log_dir.as_deref(), &self.project.supabase_dir);
        let check = Check::new("push.watch_promises", "the timed queries db-watch holds the push to", Status::Info);
        let Some(saved) = after.and_then(|after| speed.saved(after)) else {
            report.push(Check { status: Status::Skip, ..check }.detail(
                "nothing was timed after the push (no query files, or no user): db-watch watches Postgres' counters only",
            ));
            return;
        };
        let count = saved.queries.len();
        report.push(match crate::db_watch::save_promises(&log_dir, saved) {
            Ok(()) => check.value(format!("{count} query(ies)")),
            Err(e) => Check { status: Status::Warn, ..check }.detail(format!("{e:#}: db-watch will not re-time them")),
        });
    }

    /// A verified backup younger than `--max-backup-age`, or a new one; false if it fails to verify.
    async fn ensure_backup(&self, session: &mut Session, report: &mut Report) -> anyhow::Result<bool> {
        let target = session.target().clone();
        let check = Check::new("push.backup", "a verified backup of this target exists", Status::Pass);
        let identity = target.identify().await?;
        if let Some((path, m)) = backup::latest_verified(&self.out, &identity, self.max_backup_age.0) {
            let taken = m.created_at.format("%Y-%m-%d %H:%M:%SZ");
            report.push(check.value(format!("{} (taken {taken})", path.display())));
            return Ok(true);
        }
        report.note(format!(
            "no verified backup younger than {} of this database ({identity}): taking one",
            self.max_backup_age
        ));
        let path = backup::take(session, &self.project.supabase_dir, &self.out, report).await?;
        if !backup::verify(&path, &self.restore.options(), report).await? {
            return Ok(false);
        }
        report.push(check.value(path.display()));
        Ok(true)
    }

    /// How files run on the target: as the connected user, with `--batch-size`/`--batch-pause`.
    fn run_files(&self) -> runner::Run<'static> {
        runner::Run { as_role: None, batch: self.batch.overrides() }
    }

    /// Our runner, file by file under `--lock-timeout`, stopping at the first failure.
    async fn push_direct(&self, target: &Target, files: &[MigrationFile], report: &mut Report) -> anyhow::Result<bool> {
        let mut conn = target.connect_for_changes(self.lock_timeout.0).await?;
        for file in files {
            let id = format!("push.apply.{}", file.version);
            let title = format!("{} applies", file.file_name());
            let retry =
                runner::retry::LockRetry { attempts: self.lock_attempts, first_wait: Duration::from_millis(500) };
            let attempts =
                runner::retry::with_retries(&mut conn, retry, runner::retry::Work::Apply(file), self.run_files()).await;
            let tried = attempts.describe();
            match attempts.result {
                Ok(applied) => {
                    let check = runner::applied_check(id, title, &applied);
                    report.push(match tried {
                        Some(t) => {
                            let detail = [check.detail.clone().unwrap_or_default(), t].join("\n");
                            check.detail(detail.trim_start().to_string())
                        }
                        None => check,
                    })
                }
                Err(e) => {
                    // The attempts made, not the attempts allowed: a file of which something stayed
                    // is not tried again.
                    let made = attempts.timed_out.len().max(1);
                    let hint = e.message.contains("55P03").then(|| {
                        format!(
                            "{}\nit waited longer than --lock-timeout {} for a lock in each of {made} attempt(s): the \
                             app's traffic holds it (or, for a CONCURRENTLY build, a long transaction's snapshot); \
                             retry in a quieter moment",
                            tried.clone().unwrap_or_default(),
                            self.lock_timeout,
                        )
                        .trim_start()
                        .to_string()
                    });
                    let recorded =
                        runner::applied_versions(&mut conn).await?.iter().any(|(v, _, _)| v == &file.version);
                    report.push(runner::failed_check(id, title, &e, recorded, hint));
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The rollback command, and the rollback itself with `--rollback-on-failure`.
    async fn after_failure(&self, session: &mut Session, report: &mut Report) -> anyhow::Result<()> {
        let dir = &self.project.supabase_dir;
        let target = session.target().clone();
        // The target as this run was given it (a URL's password stays out of the report).
        let how = match (&target.mode, &self.target.db_url) {
            (Mode::Linked { .. }, _) => "--linked".to_string(),
            (Mode::Direct, Some(url)) => format!("--db-url '{}'", crate::pg::redact(url)),
            (Mode::Direct, None) => "--db-url \"$SUPABASE_DB_URL\"".to_string(),
        };
        let command = format!("cargo xtask db-rollback --supabase-dir {} {how}", dir.display());
        report.push(Check::new("push.rollback_command", "to roll back", Status::Info).detail(&command));
        if self.rollback_on_failure {
            report.note("verification failed: rolling back (--rollback-on-failure)");
            db_rollback::rollback(
                &target,
                dir,
                &self.restore.options(),
                db_rollback::Pace {
                    lock_timeout: self.lock_timeout.0,
                    retry: runner::retry::LockRetry {
                        attempts: self.lock_attempts,
                        first_wait: std::time::Duration::from_millis(500),
                    },
                    batch: self.batch.overrides(),
                },
                Confirmation::Given,
                report,
            )
            .await?;
        } else {
            report.note(format!("verification failed; to roll back run: {command}"));
        }
        Ok(())
    }
}

/// The files to push (the target's pending versions); `None` when there is nothing to push or a
/// file lacks its rollback script (a failed check says which).
/// The files validation found pending on the target, each with its rollback script, or none.
fn plan(dir: &Path, files: Vec<MigrationFile>, report: &mut Report) -> anyhow::Result<Option<Vec<MigrationFile>>> {
    let rollbacks = runner::scan_rollbacks(dir)?;
    if files.is_empty() {
        report.push(
            Check::new("push.plan", "migrations to push", Status::Info).value(0).detail("the target is up to date"),
        );
        return Ok(None);
    }
    let without: Vec<String> =
        files.iter().filter(|f| !rollbacks.contains_key(&f.version)).map(MigrationFile::file_name).collect();
    if !without.is_empty() {
        report.push(
            Check::new("push.plan", "every migration to push has a rollback script", Status::Fail)
                .detail(format!("no rollbacks/<version>_<name>.sql for: {}", without.join(", "))),
        );
        refuse(report, "write the missing rollback scripts first")?;
        return Ok(None);
    }
    let names: Vec<String> = files.iter().map(MigrationFile::file_name).collect();
    report
        .push(Check::new("push.plan", "migrations to push", Status::Info).value(files.len()).detail(names.join("\n")));
    Ok(Some(files))
}

fn refuse(report: &mut Report, why: &str) -> anyhow::Result<()> {
    report.push(Check::new("push.refused", "push refused", Status::Fail).detail(why));
    Ok(())
}
