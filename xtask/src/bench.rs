//! `cargo xtask bench`: the numbers our speed targets are judged by, measured, never asserted.
//! Ready-to-query time per backend, db-local-test and db-rollback-test wall time at the default
//! size, seeding rows/s; written with the machine and date to a file in the repository.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::Context;

use crate::{
    flags::{Bench, Data, DbLocalTest, DbRehearse, DbRollbackTest, Pg, Project},
    pg::{Backend, EphemeralPostgres, PgOptions},
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
};

impl Bench {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("bench", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let backends: Vec<Backend> =
            if self.backend.is_empty() { vec![Backend::Native, Backend::Docker] } else { self.backend.clone() };
        let mut md = String::new();
        writeln!(md, "# Benchmarks\n")?;
        writeln!(
            md,
            "Measured by `cargo xtask bench` on {} ({}).\n",
            chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
            machine()
        )?;
        writeln!(
            md,
            "Median of {} runs each; numbers to compare across changes, never asserted in tests.\n",
            self.runs
        )?;
        writeln!(md, "| measure | backend | median | min | max |")?;
        writeln!(md, "|---|---|---|---|---|")?;
        for backend in backends {
            self.bench_backend(backend, &mut md, report).await?;
        }

        // Seeding speed: the app's generator (COPY) into our baseline, native backend.
        let (rows, took) = seed_speed(&self.project.supabase_dir, self.seed_messages).await?;
        writeln!(
            md,
            "\nSeeding: {rows} rows (generator + COPY into the baseline with its indexes) in {:.2} s = {:.0} rows/s.",
            took.as_secs_f64(),
            rows as f64 / took.as_secs_f64()
        )?;
        report.push(Check::new("bench.seed", "seeding speed", Status::Info).value(format!(
            "{:.0} rows/s ({rows} rows in {:.2} s)",
            rows as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        )));
        for &messages in self.rehearse_at.iter().filter(|&&n| n > 0) {
            self.bench_rehearsal(messages, &mut md, report).await?;
        }
        // Build times are measured by hand (a cold build needs an empty target dir): keep them.
        let previous = std::fs::read_to_string(&self.out).unwrap_or_default();
        md.push_str(&kept_section(&previous, LATENCY));
        md.push_str(&kept_section(&previous, BUILD_TIMES));
        std::fs::write(&self.out, md).with_context(|| format!("writing {}", self.out.display()))?;
        report.note(format!("wrote {}", self.out.display()));
        Ok(())
    }

    /// Ready-to-query, db-local-test and db-rollback-test wall times on one backend (a skip
    /// when it cannot start).
    async fn bench_backend(&self, backend: Backend, md: &mut String, report: &mut Report) -> anyhow::Result<()> {
        let opts = PgOptions { backend: Some(backend), image: self.image_for(backend), ..PgOptions::default() };
        if let Err(e) = EphemeralPostgres::start(&opts).await.map(drop) {
            report.push(
                Check::new(format!("bench.{backend}"), format!("{backend} backend"), Status::Skip)
                    .detail(format!("{e:#}")),
            );
            return Ok(());
        }
        let ready = self.sample(|| ready_to_query(&opts)).await?;
        row(md, "ready to query (start + connect + `select 1`)", backend, &ready)?;
        report.push(summary(&format!("bench.ready.{backend}"), "ready to query", &ready));

        let local = self.local_flags(backend);
        let wall = self
            .sample(|| async {
                let started = Instant::now();
                let mut r = Report::quiet("db-local-test");
                local.run_into(&mut r).await?;
                anyhow::ensure!(!r.failed(), "db-local-test failed during the benchmark");
                Ok(started.elapsed())
            })
            .await?;
        row(md, "db-local-test wall time (default size)", backend, &wall)?;
        report.push(summary(&format!("bench.db_local_test.{backend}"), "db-local-test wall time", &wall));

        let rollback = DbRollbackTest { local: self.local_flags(backend) };
        let wall = self
            .sample(|| async {
                let started = Instant::now();
                let mut r = Report::quiet("db-rollback-test");
                rollback.run_into(&mut r).await?;
                anyhow::ensure!(!r.failed(), "db-rollback-test failed during the benchmark");
                Ok(started.elapsed())
            })
            .await?;
        row(md, "db-rollback-test wall time (default size)", backend, &wall)?;
        report.push(summary(&format!("bench.db_rollback_test.{backend}"), "db-rollback-test wall time", &wall));
        Ok(())
    }

    /// One rehearsal at `messages` messages, native backend.
    async fn bench_rehearsal(&self, messages: u64, md: &mut String, report: &mut Report) -> anyhow::Result<()> {
        let flags = DbRehearse {
            project: Project { supabase_dir: self.project.supabase_dir.clone(), json: None },
            pg: Pg { backend: Backend::Native, image: None, db_url: None, other_major: false },
            pending: Default::default(),
            users: 10_000,
            conversations_per_user: 20,
            messages,
            like: None,
            target_rows: Vec::new(),
            max_blocking: crate::flags::Span(Duration::from_secs(1)),
            runs: 20,
            summary: std::env::temp_dir().join(format!("xtask-bench-rehearsal-{messages}.json")),
            batch: Default::default(),
        };
        let started = Instant::now();
        let mut r = Report::quiet("db-rehearse");
        flags.run_into(&mut r).await?;
        let value = |id: &str| r.check(id).and_then(|c| c.value.clone()).unwrap_or_default();
        writeln!(
            md,
            "\n## Rehearsal at {messages} messages (native, {:.0} s in all, {})\n",
            started.elapsed().as_secs_f64(),
            if r.failed() { "FAILED" } else { "passed" }
        )?;
        writeln!(md, "- data: {}", value("rehearse.data"))?;
        writeln!(md, "- backfill: {}", value("rehearse.backfill"))?;
        for c in r.checks.iter().filter(|c| c.id.starts_with("rehearse.latency.")) {
            writeln!(
                md,
                "- app requests during {}: {}",
                c.id.trim_start_matches("rehearse.latency."),
                c.value.clone().unwrap_or_default()
            )?;
        }
        let blocking: Vec<String> = r
            .checks
            .iter()
            .filter(|c| c.id.starts_with("rehearse.blocking."))
            .map(|c| c.detail.clone().unwrap_or_default().lines().next().unwrap_or_default().to_string())
            .collect();
        writeln!(
            md,
            "- statements blocking the app over 1 s: {}",
            if blocking.is_empty() { "none".to_string() } else { blocking.join("; ") }
        )?;
        writeln!(
            md,
            "\n```\n{}```",
            r.check("rehearse.query_speed").and_then(|c| c.detail.clone()).unwrap_or_default()
        )?;
        report.push(
            Check::new(format!("bench.rehearse.{messages}"), "rehearsal", Status::Info)
                .value(value("rehearse.backfill")),
        );
        Ok(())
    }

    /// `--image` is for the docker backend only.
    fn image_for(&self, backend: Backend) -> Option<String> {
        self.image.clone().filter(|_| backend == Backend::Docker)
    }

    fn local_flags(&self, backend: Backend) -> DbLocalTest {
        DbLocalTest {
            project: Project { supabase_dir: self.project.supabase_dir.clone(), json: None },
            pg: Pg { backend, image: self.image_for(backend), db_url: None, other_major: false },
            data: Data { users: 20, conversations_per_user: 3, messages_per_conversation: 20, seed: 1 },
            pending: Default::default(),
            batch: Default::default(),
        }
    }

    async fn sample<F, Fut>(&self, mut f: F) -> anyhow::Result<Vec<Duration>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Duration>>,
    {
        let mut out = Vec::new();
        for _ in 0..self.runs.max(1) {
            out.push(f().await?);
        }
        out.sort();
        Ok(out)
    }
}

async fn ready_to_query(opts: &PgOptions) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let pg = EphemeralPostgres::start(opts).await?;
    let mut conn = pg.connect().await?;
    sqlx::query("select 1").execute(&mut conn).await?;
    let took = started.elapsed();
    drop(conn);
    pg.close().await?;
    Ok(took)
}

async fn seed_speed(supabase_dir: &std::path::Path, messages: u32) -> anyhow::Result<(u64, Duration)> {
    let pg = EphemeralPostgres::start(&PgOptions { backend: Some(Backend::Auto), ..PgOptions::default() }).await?;
    let result = async {
        let mut conn = pg.connect().await?;
        crate::supabase::layer::install(&mut conn).await?;
        let mut conn = pg.connect().await?;
        let dir = crate::runner::scan(supabase_dir)?;
        let plan = crate::runner::MigrationPlan::new(supabase_dir, &dir, None)?;
        for f in &plan.baseline {
            crate::runner::apply(&mut conn, f).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let size = crate::app_seam::FixtureSize {
            users: 1_000,
            conversations_per_user: 10,
            messages_per_conversation: (messages / 10_000).max(1),
            seed: 1,
        };
        let started = Instant::now();
        let mut tx = sqlx::Connection::begin(&mut conn).await?;
        let stats = crate::app_seam::load_fixture(&mut tx, size).await?;
        tx.commit().await?;
        anyhow::Ok((stats.rows(), started.elapsed()))
    }
    .await;
    pg.close().await?;
    result
}

fn row(md: &mut String, what: &str, backend: Backend, samples: &[Duration]) -> anyhow::Result<()> {
    let ms = |d: &Duration| format!("{} ms", d.as_millis());
    writeln!(
        md,
        "| {what} | {backend} | {} | {} | {} |",
        ms(&samples[samples.len() / 2]),
        ms(&samples[0]),
        ms(&samples[samples.len() - 1])
    )?;
    Ok(())
}

fn summary(id: &str, title: &str, samples: &[Duration]) -> Check {
    Check::new(id, title, Status::Info).value(format!(
        "median {} ms (min {}, max {})",
        samples[samples.len() / 2].as_millis(),
        samples[0].as_millis(),
        samples[samples.len() - 1].as_millis()
    ))
}

const BUILD_TIMES: &str = "## Build times";
/// Measured by hand too (three projects side by side): kept.
const LATENCY: &str = "## Batched backfill and the app's latency";

/// The section of `text` that starts with the heading `heading`, up to the next `## ` heading.
fn kept_section(text: &str, heading: &str) -> String {
    let Some(start) = text.find(heading) else { return String::new() };
    let rest = &text[start..];
    let end = rest[heading.len()..].find("\n## ").map_or(rest.len(), |i| i + heading.len() + 1);
    format!("\n{}", rest[..end].trim_end()) + "\n"
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string()))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{} GiB", kb / 1024 / 1024))
        .unwrap_or_else(|| "unknown memory".into());
    format!("{} {}, {cpus} cores, {mem}", std::env::consts::OS, std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::kept_section;

    #[test]
    fn a_rewrite_keeps_the_build_times_section() {
        let text = "# B\n\n## Build times\n\n| a |\n\n## Rehearsal\nx\n";
        assert_eq!(kept_section(text, "## Build times"), "\n## Build times\n\n| a |\n");
        assert_eq!(kept_section("# B\n## Build times\nlast\n", "## Build times"), "\n## Build times\nlast\n");
        assert_eq!(kept_section("# B\n", "## Build times"), "");
    }
}
