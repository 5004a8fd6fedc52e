//! `cargo xtask db-watch`: runbook 5.1, "monitor for 1 hour", as a command. Samples what Postgres
//! records on the target (read-only session) every `--every` for `--for`, and compares each window
//! with the baseline `db-push` saved just before it pushed: rollback rate, deadlocks, sequential
//! scans of the tables the push changed, their statements' mean time (pg_stat_statements), and
//! sessions waiting on locks. Stops at the first threshold crossed (exit 1). Measure (`sample`),
//! judge (`judge`).

pub mod judge;
pub mod promises;
pub mod sample;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::{
    flags::DbWatch,
    production::{Session, Target, TargetIdentity},
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

/// What `db-push` saves before it pushes: the sample and the tables its files name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    pub tables: Vec<String>,
    pub versions: Vec<String>,
    pub sample: sample::Sample,
    /// The database it was taken on: it is compared with no other.
    #[serde(default)]
    pub identity: Option<TargetIdentity>,
    /// The project's timed queries right after the push, added once it has pushed.
    #[serde(default)]
    pub promises: Option<promises::Saved>,
}

pub const BASELINE_FILE: &str = "watch-baseline.json";

/// Saves the baseline for `db-watch` into `log_dir`; its path.
pub async fn save_baseline(
    session: &mut Session,
    texts: &[String],
    versions: Vec<String>,
    log_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let tables = sample::named_tables(session.read(), texts).await?;
    let sample = sample::take(session.read(), &tables).await?;
    std::fs::create_dir_all(log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    let path = log_dir.join(BASELINE_FILE);
    let identity = Some(session.target().identify().await?);
    let text = serde_json::to_string_pretty(&Baseline { tables, versions, sample, identity, promises: None })?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Adds what the push promised (its queries right after it) to the baseline in `log_dir`.
pub fn save_promises(log_dir: &Path, saved: promises::Saved) -> anyhow::Result<()> {
    let path = log_dir.join(BASELINE_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut baseline: Baseline = serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    baseline.promises = Some(saved);
    let text = serde_json::to_string_pretty(&baseline)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

impl DbWatch {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-watch", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        if self.every.0 < std::time::Duration::from_secs(1) || self.r#for.0 < self.every.0 {
            anyhow::bail!(
                "--every {} --for {}: a window is at least 1s and the watch at least one window; e.g. --every 1m --for 1h",
                self.every,
                self.r#for
            );
        }
        let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
        let mut conn = target.connect_read_only().await?;
        let path = self.baseline.clone().unwrap_or_else(|| {
            crate::production::record::log_dir(None, &self.project.supabase_dir).join(BASELINE_FILE)
        });
        let identity = target.identify().await?;
        let saved = std::fs::read_to_string(&path)
            .ok()
            .map(|text| serde_json::from_str::<Baseline>(&text).with_context(|| format!("reading {}", path.display())));
        let baseline = match saved.transpose()? {
            Some(b) if b.identity.as_ref().is_some_and(|i| i.same_as(&identity)) => {
                report.push(
                    Check::new("watch.baseline", "the baseline db-push took before it pushed", Status::Info).value(
                        format!(
                            "{} ({}; tables: {})",
                            path.display(),
                            b.sample.at.format("%Y-%m-%d %H:%M:%SZ"),
                            b.tables.join(", ")
                        ),
                    ),
                );
                b
            }
            saved => {
                let why = match saved.and_then(|b| b.identity) {
                    Some(other) => format!(
                        "{} was taken on another database ({other}), not this one ({identity}): it is not compared, and \
                         its push's record is left alone",
                        path.display()
                    ),
                    None => format!("no baseline of this database in {}", path.display()),
                };
                let texts = crate::runner::scan(&self.project.supabase_dir)?
                    .files
                    .into_iter()
                    .map(|f| f.text)
                    .collect::<Vec<_>>();
                let tables = sample::named_tables(&mut conn, &texts).await?;
                let sample = sample::take(&mut conn, &tables).await?;
                report.push(Check::new("watch.baseline", "the baseline db-push took before it pushed", Status::Warn).detail(format!(
                    "{why}: comparing with the first sample instead, which already has the migration's effect; push with \
                     db-push (it saves the baseline) to compare with before"
                )));
                Baseline { tables, versions: Vec::new(), sample, identity: Some(identity), promises: None }
            }
        };
        if baseline.sample.statements.is_none() {
            report.push(Check::new("watch.statements", "pg_stat_statements on the target", Status::Warn).detail(
                "pg_stat_statements is not installed: statement times are not watched (CREATE EXTENSION pg_stat_statements, \
                 preloaded as Supabase does); the rest is",
            ));
        }
        let result = self.watch(&mut conn, &baseline, report).await;
        let log_dir = path.parent().map_or_else(|| self.project.supabase_dir.join("migration-log"), Path::to_path_buf);
        if let Err(e) = &result {
            report.stopped_by(e);
        }
        let check = Check::new("watch.record", "the watch's summary, in the push's record", Status::Info);
        report.push(match crate::production::record::append(&log_dir, &baseline.versions, report, &target) {
            Ok(md) => check.value(md.display()),
            Err(e) => {
                Check { status: Status::Warn, ..check }.detail(format!("{e:#}; the report above is all there is"))
            }
        });
        result
    }

    async fn watch(
        &self,
        conn: &mut sqlx::PgConnection,
        baseline: &Baseline,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let limits = judge::Limits {
            max_slowdown: self.max_slowdown,
            max_blocking: self.max_blocking.0,
            max_rollback_rate: 0.05,
        };
        let held = self.promises(conn, baseline, report).await?;
        let windows = (self.r#for.0.as_millis() / self.every.0.as_millis().max(1)).max(1);
        let mut prev = sample::take(conn, &baseline.tables).await?;
        let (mut traffic, mut own_rollbacks) = (0, 0);
        for n in 1..=windows {
            tokio::time::sleep(self.every.0).await;
            let mut cur = sample::take(conn, &baseline.tables).await?;
            // The promises' timings roll back transactions of ours since `prev`: not the app's.
            prev.database.rollbacks += std::mem::take(&mut own_rollbacks);
            // The app's transactions: our own sampling queries commit too, and are not traffic.
            let xacts = ((cur.database.commits - prev.database.commits)
                + (cur.database.rollbacks - prev.database.rollbacks)
                - cur.own_transactions)
                .max(0);
            traffic += xacts;
            report.note(window_line(n, windows, &prev, &cur));
            let mut findings = judge::judge(&baseline.sample, &prev, &cur, &limits);
            if let Some((promised, user)) = &held {
                let now = promises::time(conn, promised, *user).await?;
                own_rollbacks = promises::own_rollbacks(promised);
                findings.extend(promises::judge(promised, &now, &limits));
            }
            if !findings.is_empty() {
                let mut seen = Vec::new();
                push_findings(report, findings, n, &mut seen);
                // One more window for what crosses with it (table statistics reach the views up to
                // a second later than statement times); each crossing is printed as it is found.
                if n < windows {
                    tokio::time::sleep(self.every.0).await;
                    let next = sample::take(conn, &baseline.tables).await?;
                    cur.database.rollbacks += own_rollbacks;
                    push_findings(report, judge::judge(&baseline.sample, &cur, &next, &limits), n + 1, &mut seen);
                }
                report.note(format!(
                    "stopped after window {} of {windows}: roll back with cargo xtask db-rollback",
                    (n + 1).min(windows)
                ));
                return Ok(());
            }
            prev = cur;
        }
        report.push(windows_check(windows, &self.every, traffic, held.as_ref().map_or(0, |h| h.0.len()), baseline));
        Ok(())
    }

    /// The queries every window re-times, and as whom; none (said) when the project has none or
    /// the target has no user.
    async fn promises(
        &self,
        conn: &mut sqlx::PgConnection,
        baseline: &Baseline,
        report: &mut Report,
    ) -> anyhow::Result<Option<(Vec<promises::Promise>, uuid::Uuid)>> {
        let promised = promises::gather(baseline.promises.as_ref(), &self.project.supabase_dir)?;
        let check = Check::new("watch.promises", "what the push promised, re-timed every window", Status::Info);
        if promised.is_empty() {
            report.push(Check { status: Status::Skip, ..check }.detail(
                "no query holds the push to its promises: add supabase/queries/*.sql with `-- xtask:expect index-scan` \
                 (db-push times them right after it pushes); only Postgres' counters are watched",
            ));
            return Ok(None);
        }
        let user = match &baseline.promises {
            Some(saved) => Some(saved.user),
            None => crate::supabase::queries::user(conn, None).await?,
        };
        let Some(user) = user else {
            report.push(
                Check { status: Status::Skip, ..check }.detail(
                    "no user in auth.users to run the project's queries as: only Postgres' counters are watched",
                ),
            );
            return Ok(None);
        };
        let lines: Vec<String> = promised
            .iter()
            .map(|p| {
                let expect = if p.expect.is_empty() { "no expectation".to_string() } else { p.expect.describe() };
                match &p.after_push {
                    Some((ms, plan)) => {
                        format!("{}: {expect}; {ms:.2} ms right after the push, plan {plan}", p.query.name)
                    }
                    None => format!("{}: {expect}; not timed by db-push", p.query.name),
                }
            })
            .collect();
        report.push(
            check
                .value(format!(
                    "{} query(ies) as user {user}, {} runs a window, read-only",
                    promised.len(),
                    promises::RUNS
                ))
                .detail(lines.join("\n")),
        );
        Ok(Some((promised, user)))
    }
}

/// The watch's verdict once every window stayed within its thresholds.
fn windows_check(
    windows: u128,
    every: &crate::span::Span,
    traffic: i64,
    promised: usize,
    baseline: &Baseline,
) -> Check {
    let status =
        if (traffic == 0 && promised == 0) || baseline.tables.is_empty() { Status::Warn } else { Status::Pass };
    let check = Check::new("watch.windows", "no threshold crossed while watching", status)
        .value(format!("{windows} window(s) of {every}, {traffic} transaction(s)"));
    if traffic == 0 && promised > 0 {
        check.detail(format!(
            "no transaction of the app ran on the target while watching: Postgres' counters judged nothing; the \
             {promised} promised query(ies) were re-timed every window and held"
        ))
    } else if traffic == 0 {
        check.detail(
            "no transaction ran on the target while watching: nothing was judged; watch while the app is in use",
        )
    } else if baseline.tables.is_empty() {
        check.detail(
            "the pushed files name no table of the target: only the database-wide counters (rollbacks, deadlocks, \
             lock waits) were watched, no table's scans or statement times",
        )
    } else {
        check
    }
}

/// The findings of window `n` not already reported.
fn push_findings(report: &mut Report, findings: Vec<judge::Finding>, n: u128, seen: &mut Vec<String>) {
    for f in findings {
        if seen.contains(&f.id) {
            continue;
        }
        seen.push(f.id.clone());
        report.push(
            Check::new(f.id, "a threshold crossed while watching", Status::Fail)
                .value(format!("window {n}"))
                .detail(f.words),
        );
    }
}

/// One line per window, as it happens.
fn window_line(n: u128, of: u128, prev: &sample::Sample, cur: &sample::Sample) -> String {
    let (d, p) = (&cur.database, &prev.database);
    let mut parts = vec![format!(
        "window {n}/{of}: {} commit(s), {} rollback(s), {} deadlock(s)",
        d.commits - p.commits,
        d.rollbacks - p.rollbacks,
        d.deadlocks - p.deadlocks
    )];
    for (table, t) in &cur.tables {
        if let Some(b) = prev.tables.get(table) {
            parts.push(format!("{table}: {} seq / {} idx scans", t.seq_scan - b.seq_scan, t.idx_scan - b.idx_scan));
        }
    }
    if !cur.lock_waits.is_empty() {
        parts.push(format!("{} session(s) waiting on locks", cur.lock_waits.len()));
    }
    parts.join("; ")
}
