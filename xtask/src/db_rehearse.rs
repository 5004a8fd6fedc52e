//! `cargo xtask db-rehearse`: the pending migrations at production scale. Loads production-shaped
//! data fast, traces every pending statement's locks (proven by a second session trying the app's
//! reads and writes while they are held), measures rewrites, rows, WAL and time, and times the
//! app's queries before and after with their plan shapes. Measure (`trace`, `timing`, `load`),
//! judge (`hints` over typed `lock_mode`s), render (`render`).

pub mod evidence;
pub mod hints;
pub mod latency;
pub mod load;
pub mod lock_mode;
pub mod render;
pub mod size;
pub mod timing;
pub mod trace;
pub mod workload;

use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::{
    app_seam,
    flags::{Data, DbLocalTest, DbRehearse},
    local_db::LocalDatabase,
    pg::redact,
    production,
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

/// What the rehearsal learnt, for `db-validate`'s production estimates.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RehearsalSummary {
    /// The table the biggest backfill updated.
    pub table: String,
    pub rows: u64,
    pub backfill_rows_per_s: f64,
    pub backfill_wal_bytes_per_row: f64,
    pub measured_at: chrono::DateTime<chrono::Utc>,
}

/// The biggest backfill seen: rows, time, WAL bytes, table.
type Backfill = (u64, Duration, i64, String);

/// What tracing the pending files gave: the trace text, the biggest backfill, when each file
/// ran and when the tracer probed (since the workload began).
type Traced = (String, Option<Backfill>, Vec<latency::Window>, Vec<(Duration, Duration)>);

impl DbRehearse {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-rehearse", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let convs = u64::from(self.users) * u64::from(self.conversations_per_user);
        let mut local = DbLocalTest {
            project: self.project.clone(),
            pg: self.pg.clone(),
            data: Data {
                users: self.users,
                conversations_per_user: self.conversations_per_user,
                messages_per_conversation: u32::try_from((self.messages / convs.max(1)).max(1)).unwrap_or(u32::MAX),
                seed: 1,
            },
            pending: self.pending.clone(),
            batch: self.batch,
        };
        let mut target: std::collections::BTreeMap<String, f64> = self.target_rows.iter().cloned().collect();
        if let Some(url) = &self.like {
            let (data, rows) = shape_like(url, &self.project.supabase_dir, report).await?;
            local.data = data;
            for (table, n) in rows {
                target.entry(table).or_insert(n);
            }
        }
        let mut db = LocalDatabase::start(local.setup()?, report).await?;
        // The static findings first: milliseconds, and the trace adds what it measures to them.
        if !db.plan.pending.is_empty() {
            crate::db_lint::lint_into(&db.plan.pending, &db.plan.rollbacks, report);
        }
        let result = self.steps(&local, &mut db, &target, report).await;
        db.close(report).await?;
        result
    }

    async fn steps(
        &self,
        local: &DbLocalTest,
        db: &mut LocalDatabase,
        target: &std::collections::BTreeMap<String, f64>,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if !db.apply_baseline(report).await? {
            return Ok(());
        }
        db.detect_app(report).await?;
        if db.app_missing.is_some() {
            // Another project: its seed.sql (at the size it writes) and rows generated from the
            // schema for its signed-in users, so the workload has rows of theirs.
            db.load_data(local.data.size(), report).await?;
            sqlx::raw_sql("ANALYZE").execute(&mut db.conn).await?;
            report.push(project_data_check(&mut db.conn).await?);
        } else {
            load_data(db, local.data.size(), report).await?;
        }
        // The app's queries are the app seam's; another project gets no speed comparison.
        let (mut queries, mut user) = match db.app_missing {
            None => app_seam::timed_queries(&mut db.conn).await?,
            Some(_) => (Vec::new(), None),
        };
        // The project's own (supabase/queries/), as the app's user or else the first user.
        let own = crate::supabase::queries::load(&self.project.supabase_dir)?;
        if user.is_none() && !own.is_empty() {
            user = crate::supabase::queries::user(&mut db.conn, None).await?;
        }
        queries.extend(own.iter().map(crate::supabase::queries::ProjectQuery::timed));
        let before = timing::time_queries(db.pg.url(), &queries, user, self.runs).await?;

        // A table named by --target-rows that this database does not have is a typo: said, not skipped.
        for (table, _) in &self.target_rows {
            let found: Option<String> =
                sqlx::query_scalar("SELECT to_regclass($1)::text").bind(table).fetch_one(&mut db.conn).await?;
            if found.is_none() {
                anyhow::bail!(
                    "--target-rows {table}=…: no table {table} after the pending migrations; name it as \
                     schema.table (e.g. public.orders)"
                );
            }
        }
        let budget = size::budget(&mut db.conn, self.max_blocking.0, target).await?;
        let workload = workload::Workload::start(db.pg.url()).await?;
        let traced = self.trace_pending(db, workload.started, &budget, report).await;
        let had_workload = !workload.tables.is_empty();
        let (persona, tables) = (workload.persona.clone(), workload.tables.join(", "));
        let samples = workload.stop();
        let (trace_text, backfill, windows, probes) = traced?;
        report.push(
            Check::new("rehearse.lock_trace", "lock trace of every pending statement", Status::Info).detail(trace_text),
        );
        self.judge_latency(had_workload, persona, tables, &samples, (&windows, &probes), report)?;

        let after = timing::time_queries(db.pg.url(), &queries, user, self.runs).await?;
        report.push(
            Check::new("rehearse.query_speed", "the app's queries before and after, as a signed-in user", Status::Info)
                .detail(render::speed(&before, &after)),
        );
        report.extend(crate::supabase::queries::checks("rehearse.query_expect", &own, &after));
        if let Some(backfill) = backfill {
            self.record_backfill(backfill, report)?;
        }
        // Rollbacks run against production too: traced like the files, newest first.
        trace_rollbacks(db, &budget, report).await
    }

    /// Traces every pending file while the workload runs: the trace, the biggest backfill, and
    /// when each file ran.
    async fn trace_pending(
        &self,
        db: &mut LocalDatabase,
        started: std::time::Instant,
        budget: &hints::Budget,
        report: &mut Report,
    ) -> anyhow::Result<Traced> {
        let mut trace_text = String::new();
        let mut probes = Vec::new();
        let mut backfill: Option<Backfill> = None;
        let mut windows = Vec::new();
        let mut evidence = Vec::new();
        for file in db.plan.pending.clone() {
            let from = started.elapsed();
            let batch = db.batch();
            let traced = trace::trace_as(&mut db.conn, db.pg.url(), &file, trace::Kind::Migration, batch).await?;
            probes.extend(
                traced
                    .probes
                    .iter()
                    .map(|(a, b)| (a.saturating_duration_since(started), b.saturating_duration_since(started))),
            );
            windows.push(latency::Window {
                version: file.version.clone(),
                file: file.file_name(),
                from,
                to: started.elapsed(),
            });
            let apply = Check::new(
                format!("rehearse.apply.{}", file.version),
                format!("{} applies", file.file_name()),
                Status::Pass,
            );
            if let Some(failure) = &traced.failed {
                report.push(Check { status: Status::Fail, ..apply }.detail(failure.clone()));
            } else {
                report.push(apply.value(format!("{:.2} s", traced.duration.as_secs_f64())));
                for check in hints::judge(&file.file_name(), &file.version, &traced.statements, budget) {
                    report.push(check);
                }
            }
            for t in &traced.statements {
                if let Some(table) = t.backfilled_table() {
                    if backfill.as_ref().is_none_or(|(r, _, _, _)| t.rows > *r) {
                        backfill = Some((t.rows, t.duration, t.wal_bytes, table.to_string()));
                    }
                }
            }
            evidence.extend(evidence::annotate(report, &file, &traced.statements));
            trace_text.push_str(&render::trace(&file.file_name(), &traced.statements));
            if traced.failed.is_some() {
                break;
            }
        }
        report.extend(evidence::check(&evidence));
        Ok((trace_text, backfill, windows, probes))
    }

    /// The workload's requests, file by file, and the plot next to `--summary`.
    fn judge_latency(
        &self,
        had_workload: bool,
        persona: Option<String>,
        tables: String,
        samples: &[workload::Sample],
        (windows, probes): (&[latency::Window], &[(Duration, Duration)]),
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if !had_workload {
            report.push(Check::new("rehearse.latency", "the app's requests while the files ran", Status::Warn).detail(
                "no signed-in user (auth.users) sees a row of a public RLS table with a one-column primary key: no \
                 request was measured; load data (seed.sql) that a user owns to measure what users feel",
            ));
            return Ok(());
        }
        report.push(Check::new("rehearse.latency", "the app's requests while the files ran", Status::Info).value(
            format!(
                "{} requests as {} (3 connections, every 50 ms, statement_timeout 8 s) reading and editing {tables}",
                samples.len(),
                persona.unwrap_or_default()
            ),
        ));
        for check in latency::judge(samples, windows, probes, self.max_blocking.0) {
            report.push(check);
        }
        let plot = self.summary.with_file_name("rehearsal-latency.svg");
        std::fs::write(&plot, latency::svg(samples, windows)).with_context(|| format!("writing {}", plot.display()))?;
        report.push(
            Check::new("rehearse.latency_plot", "request latency over time, files as bands", Status::Info)
                .value(plot.display()),
        );
        Ok(())
    }

    fn record_backfill(&self, (rows, took, wal, table): Backfill, report: &mut Report) -> anyhow::Result<()> {
        let summary = RehearsalSummary {
            table,
            rows,
            backfill_rows_per_s: rows as f64 / took.as_secs_f64().max(1e-6),
            backfill_wal_bytes_per_row: wal as f64 / rows as f64,
            measured_at: chrono::Utc::now(),
        };
        report.push(Check::new("rehearse.backfill", "backfill throughput", Status::Info).value(format!(
            "{rows} rows in {:.2} s = {:.0} rows/s, {:.0} WAL bytes/row",
            took.as_secs_f64(),
            summary.backfill_rows_per_s,
            summary.backfill_wal_bytes_per_row
        )));
        std::fs::write(&self.summary, serde_json::to_string_pretty(&summary)? + "\n")
            .with_context(|| format!("writing {}", self.summary.display()))
    }
}

/// Row counts and fan-out of production, read-only, as generator sizes; and its tables' rows.
/// Its Data API grants model is recorded against the one local runs reproduce.
async fn shape_like(
    url: &str,
    supabase_dir: &std::path::Path,
    report: &mut Report,
) -> anyhow::Result<(Data, std::collections::BTreeMap<String, f64>)> {
    let target = production::Target::direct(url.to_string());
    let mut conn = target.connect_read_only().await?;
    let (size, words) =
        app_seam::shape_of(&mut conn, 1).await.with_context(|| format!("reading row counts from {}", redact(url)))?;
    report.push(Check::new("rehearse.like", "production's shape (read-only)", Status::Info).value(words));
    let grants = crate::supabase::platform::target_grants(&mut conn).await?;
    report.push(crate::supabase::platform::target_check(grants, crate::supabase::platform::configured(supabase_dir)?));
    let rows = size::table_rows(&mut conn).await?;
    let data = Data {
        users: size.users,
        conversations_per_user: size.conversations_per_user,
        messages_per_conversation: size.messages_per_conversation,
        seed: size.seed,
    };
    Ok((data, rows))
}

async fn load_data(db: &mut LocalDatabase, size: app_seam::FixtureSize, report: &mut Report) -> anyhow::Result<()> {
    let timer = report.phase("load production-shaped data");
    timer.set_message(format!(
        "{} users × {} conversations × {} messages",
        size.users, size.conversations_per_user, size.messages_per_conversation
    ));
    let loaded = load::fast_load(&mut db.conn, size, |msg| timer.set_message(msg)).await?;
    report.record(timer);
    let rows = loaded.stats.rows();
    report.push(Check::new("rehearse.data", "production-shaped data", Status::Info).value(format!(
        "{} messages; {rows} rows loaded in {:.1} s ({:.0} rows/s), indexes and keys built in {:.1} s",
        loaded.stats.messages,
        loaded.load.as_secs_f64(),
        rows as f64 / loaded.load.as_secs_f64().max(1e-6),
        loaded.build.as_secs_f64()
    )));
    Ok(())
}

/// `rehearse.data` for a project without the app's generator: the rows its public tables hold,
/// a warning when they are too few for times that mean anything.
async fn project_data_check(conn: &mut sqlx::PgConnection) -> anyhow::Result<Check> {
    let (tables, rows): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), sum(greatest(c.reltuples, 0))::float8 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_one(&mut *conn)
    .await?;
    let rows = rows.unwrap_or(0.0) as u64;
    let check = Check::new("rehearse.data", "production-shaped data", Status::Info)
        .value(format!("{rows} row(s) in {tables} public table(s), from seed.sql and the schema's generator"));
    Ok(if rows < 10_000 {
        Check { status: Status::Warn, ..check }.detail(
            "too few rows for lock and backfill times that mean anything at production size: write a seed.sql that \
             makes production-sized data (generate_series), pass --target-rows TABLE=ROWS to judge at the target's \
             size, or --like URL",
        )
    } else {
        check
    })
}

/// Each pending file's rollback script, newest first, under the tracer (after the files, at the
/// same size): the locks it takes and what a second session could not do meanwhile, judged
/// against the same budget (`rehearse.*.rollback.<version>…`).
async fn trace_rollbacks(db: &mut LocalDatabase, budget: &hints::Budget, report: &mut Report) -> anyhow::Result<()> {
    for file in db.plan.pending.clone().iter().rev() {
        let Some(script) = db.plan.rollbacks.get(&file.version) else { continue };
        let text = std::fs::read_to_string(script).with_context(|| format!("reading {}", script.display()))?;
        let rollback = crate::runner::MigrationFile { path: script.clone(), text, ..file.clone() };
        let label = format!("rollback.{}", file.version);
        let name = format!("rollbacks/{}", rollback.file_name());
        let batch = db.batch();
        let traced = trace::trace_as(&mut db.conn, db.pg.url(), &rollback, trace::Kind::Rollback, batch).await?;
        let apply = Check::new(format!("rehearse.apply.{label}"), format!("{name} applies"), Status::Pass);
        if let Some(failure) = &traced.failed {
            report.push(Check { status: Status::Fail, ..apply }.detail(failure.clone()));
            return Ok(());
        }
        report.push(apply.value(format!("{:.2} s", traced.duration.as_secs_f64())));
        report.extend(hints::judge(&name, &label, &traced.statements, budget));
    }
    Ok(())
}
