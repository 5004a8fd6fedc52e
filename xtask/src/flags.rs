//! Command-line flags: one struct per command, shared option groups flattened in.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod batch;
mod ephemeral;
mod ignored;
mod local;
mod pending;
mod size;
mod watch;

pub use crate::span::Span;
pub use batch::Batch;
pub use ephemeral::{Pg, RestorePg};
pub use ignored::Ignored;
pub use local::{DbRls, DbRollbackNew, DbRollbackTest};
pub use pending::Pending;
pub use size::{check_size, Data, MAX_MESSAGES};
pub use watch::DbWatch;

use crate::pg::Backend;

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Take a risky Supabase schema change from written to in production: \
             without losing data, breaking the app, or opening a hole in row-level security.",
    after_help = "Exit status: 0 all checks passed, 1 a check failed, 2 usage or environment error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
    /// What the report is printed as at the end, on stdout (the checks then go to stderr as they
    /// happen); in GitHub Actions the Markdown also goes to $GITHUB_STEP_SUMMARY
    #[arg(long, global = true, value_enum, default_value_t)]
    pub format: crate::report::formats::Format,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Runbook phase 2 on an ephemeral Postgres: baseline, test data, pre checks, pending
    /// runner, post checks and the app smoke
    DbLocalTest(DbLocalTest),
    /// Prove the rollback scripts restore the exact previous schema and data, and re-apply cleanly
    DbRollbackTest(DbRollbackTest),
    /// Write the missing rollback scripts from the catalog before and after each file, and prove them
    DbRollbackNew(DbRollbackNew),
    /// Static analysis of the pending files without a database, in milliseconds (squawk's rules)
    DbLint(DbLint),
    /// Row-level security access matrix before and after the pending runner, RPC probes, lints
    DbRls(DbRls),
    /// Remove leftovers of killed runs: our labelled containers and xtask-pg-* clusters whose
    /// owning process is gone (nothing else)
    DbClean(DbClean),
    /// Runbook phase 1: run the pre checks read-only against a target database, and report drift
    DbValidate(DbValidate),
    /// Runbook 3.2: back up roles, schema and data, then verify the backup by restoring it
    DbBackup(DbBackup),
    /// Runbook 3.3-3.4: validate, verified backup, plan, confirmation, push, verify
    DbPush(DbPush),
    /// Runbook 3.4: the post checks, read-only, against a target database
    DbVerify(DbVerify),
    /// Runbook phase 5.1: watch the target after a push (read-only) against the baseline db-push
    /// took, and fail on the first threshold crossed
    DbWatch(DbWatch),
    /// Runbook phase 4: run the rollback scripts against a target database and repair its history
    DbRollback(DbRollback),
    /// Rehearse the pending migrations at production scale: lock trace, backfill cost, query speed
    DbRehearse(DbRehearse),
    /// Record benchmarks (ready-to-query time, command wall times, seeding speed) to a file
    Bench(Bench),
}

/// Where the project is and where the report goes: every command has these.
#[derive(Debug, Clone, Args)]
pub struct Project {
    /// The Supabase project folder (holds migrations/, rollbacks/, checks/, seed.sql)
    #[arg(long, value_name = "DIR", default_value = "supabase", value_parser = project_folder)]
    pub supabase_dir: PathBuf,
    /// Also write the report as JSON to this file
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// `--supabase-dir`: an existing folder, else a usage error (exit 2) before anything is created
/// (a record would otherwise make `<dir>/migration-log` where no project is).
fn project_folder(value: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(value);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => Ok(path),
        Ok(_) => Err(format!("{value} is a file, not a Supabase project folder (the one holding migrations/)")),
        Err(_) => Err(format!(
            "no folder {value}: run in the folder that holds supabase/ (`supabase init` makes one), or pass \
             --supabase-dir DIR"
        )),
    }
}

#[derive(Debug, Clone, Args)]
pub struct DbLocalTest {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub pg: Pg,
    #[command(flatten)]
    pub data: Data,
    #[command(flatten)]
    pub pending: Pending,
    #[command(flatten)]
    pub batch: Batch,
}

impl DbLocalTest {
    /// What the local run is given; refuses a data size that cannot fit before anything starts.
    pub fn setup(&self) -> anyhow::Result<crate::local_db::Setup> {
        self.data.check_fits(&std::env::temp_dir())?;
        Ok(crate::local_db::Setup {
            supabase_dir: self.project.supabase_dir.clone(),
            pg: self.pg.options(),
            pending: self.pending.choice(),
            batch: self.batch.overrides(),
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct DbClean {
    #[command(flatten)]
    pub project: Project,
    /// Also remove containers and clusters whose owning process still runs
    #[arg(long)]
    pub all: bool,
}

/// The production database a command acts on.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Target database, direct mode (we do everything: sqlx, pg_dump) [env: SUPABASE_DB_URL]
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    /// Use the project linked with the supabase CLI (supabase/.temp/project-ref); SQL checks
    /// connect with --db-url or the link plus SUPABASE_DB_PASSWORD
    #[arg(long)]
    pub linked: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DbValidate {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub target: TargetArgs,
    /// What db-rehearse measured (backfill throughput), for the backfill estimate
    #[arg(long, value_name = "PATH", default_value = "rehearsal.json")]
    pub rehearsal: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct DbVerify {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub target: TargetArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DbLint {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub pending: Pending,
    #[command(flatten)]
    pub ignored: Ignored,
}

#[derive(Debug, Clone, Args)]
pub struct DbBackup {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub restore: RestorePg,
    /// Folder that receives backups/<UTC timestamp>/
    #[arg(long, value_name = "DIR", default_value = "backups")]
    pub out: PathBuf,
    /// Verify this existing backup folder instead of taking a new one
    #[arg(long, value_name = "DIR")]
    pub verify: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DbPush {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub restore: RestorePg,
    /// Folder of verified backups (a new one is taken when none is recent enough)
    #[arg(long, value_name = "DIR", default_value = "backups")]
    pub out: PathBuf,
    /// A verified backup younger than this counts (e.g. 30m, 1h)
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub max_backup_age: Span,
    /// How long a migration statement may wait for a lock in one attempt (direct mode); the app's
    /// requests queue behind a waiting ACCESS EXCLUSIVE for at most this long
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub lock_timeout: Span,
    /// Attempts per file when a lock is not granted in time (each a fresh transaction, with
    /// backoff from 500 ms, doubling)
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub lock_attempts: u32,
    /// Do not ask for confirmation (CI)
    #[arg(long)]
    pub yes: bool,
    /// Where the record of this run goes (Markdown and JSON) [default: <supabase-dir>/migration-log]
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// When verification fails after the push, run the rollback
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// What db-rehearse measured (backfill throughput), for the backfill estimate
    #[arg(long, value_name = "PATH", default_value = "rehearsal.json")]
    pub rehearsal: PathBuf,
    /// The signed-in user (e-mail or id in auth.users) the app's queries and supabase/queries/ are
    /// timed as, before and after [default: the app's busiest user, else the first]
    #[arg(long, value_name = "EMAIL|UUID")]
    pub as_user: Option<String>,
    #[command(flatten)]
    pub batch: Batch,
}

#[derive(Debug, Clone, Args)]
pub struct DbRollback {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub restore: RestorePg,
    /// How long a rollback statement may wait for a lock in one attempt
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub lock_timeout: Span,
    /// Attempts per script when a lock is not granted in time (each a fresh transaction, with
    /// backoff from 500 ms, doubling)
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub lock_attempts: u32,
    /// Do not ask for confirmation (CI)
    #[arg(long)]
    pub yes: bool,
    /// Where the record of this run goes (Markdown and JSON) [default: <supabase-dir>/migration-log]
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DbRehearse {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub pg: Pg,
    #[command(flatten)]
    pub pending: Pending,
    #[arg(long, default_value_t = 10_000)]
    pub users: u32,
    #[arg(long, default_value_t = 20)]
    pub conversations_per_user: u32,
    /// Messages in all (spread evenly over the conversations)
    #[arg(long, default_value_t = 5_000_000)]
    pub messages: u64,
    /// Read row counts from production (read-only) and generate that shape instead
    #[arg(long, value_name = "URL")]
    pub like: Option<String>,
    /// Rows a table has on the target (repeatable, e.g. public.orders=50000000): statements are judged at that size
    #[arg(long, value_name = "TABLE=ROWS", value_parser = size::parse_target_rows)]
    pub target_rows: Vec<(String, f64)>,
    /// A statement holding a lock that blocks the app's reads or writes longer than this fails
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub max_blocking: Span,
    /// Runs per query for the speed comparison (the median is reported)
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Where the measured backfill throughput goes (db-validate reads it for its estimates)
    #[arg(long, value_name = "PATH", default_value = "rehearsal.json")]
    pub summary: PathBuf,
    #[command(flatten)]
    pub batch: Batch,
}

#[derive(Debug, Clone, Args)]
pub struct Bench {
    #[command(flatten)]
    pub project: Project,
    /// Runs per measure (the median is reported)
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Backends to measure (repeatable); default: native and docker, each skipped if unavailable
    #[arg(long, value_enum)]
    pub backend: Vec<Backend>,
    /// Docker image [env: XTASK_PG_IMAGE]
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Messages to generate for the seeding measure
    #[arg(long, default_value_t = 1_000_000)]
    pub seed_messages: u32,
    /// Rehearsals to run, by message count (repeatable; 0 for none)
    #[arg(long, value_name = "MESSAGES", default_values_t = [1_000_000u64, 5_000_000])]
    pub rehearse_at: Vec<u64>,
    /// Where the results go
    #[arg(long, value_name = "PATH", default_value = "BENCHMARKS.md")]
    pub out: PathBuf,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    /// Our project folder: `--supabase-dir` must name a folder that exists, wherever tests run.
    const OURS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../supabase");

    use clap::Parser;

    use super::{size::check_size, *};

    fn check(text: &str, expected: Result<Duration, &str>) {
        let got = text.parse::<Span>().map(|s| s.0);
        match expected {
            Ok(d) => assert_eq!(got, Ok(d), "{text}"),
            Err(part) => assert!(got.as_ref().is_err_and(|e| e.contains(part)), "{text}: {got:?}"),
        }
    }

    #[test]
    fn durations_parse_with_units() {
        check("500ms", Ok(Duration::from_millis(500)));
        check("90", Ok(Duration::from_secs(90)));
        check("90s", Ok(Duration::from_secs(90)));
        check("5m", Ok(Duration::from_secs(300)));
        check("1h", Ok(Duration::from_secs(3600)));
        check("2d", Ok(Duration::from_secs(172_800)));
        check("1x", Err("unknown duration unit `x`"));
        check("s", Err("is not a duration"));
        check("1.5s", Err("unknown duration unit"));
    }

    #[test]
    fn durations_print_as_typed() {
        for text in ["500ms", "90s", "5m", "1h", "2d", "0s", "1500ms"] {
            assert_eq!(text.parse::<Span>().map(|s| s.to_string()).as_deref(), Ok(text));
        }
    }

    #[test]
    fn sizes_that_cannot_work_are_refused_before_anything_starts() {
        let tmp = std::env::temp_dir();
        assert!(Cli::try_parse_from(["xtask", "db-local-test", "--supabase-dir", OURS, "--users", "0"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "db-local-test", "--supabase-dir", OURS, "--users", "1"]).is_err());
        assert!(Cli::try_parse_from(["xtask", "db-local-test", "--supabase-dir", OURS, "--users", "2"]).is_ok());
        let err = |users: u64, messages: u128| {
            check_size(users, messages, &tmp).err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(err(1, 10).contains("at least 2 users"));
        assert!(err(4_294_967_295, u128::from(u32::MAX).pow(3)).contains("more than this tool generates"));
        assert!(err(1_000, 199_000_000_000).contains("more than this tool generates"));
        assert_eq!(err(20, 1_200), "");
    }

    #[test]
    fn a_typo_in_a_duration_flag_fails_before_anything_runs() {
        let err = Cli::try_parse_from(["xtask", "db-rehearse", "--supabase-dir", OURS, "--max-blocking", "1sec"])
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref().is_some_and(|e| e.contains("--max-blocking") && e.contains("unknown duration unit")),
            "{err:?}"
        );
        assert!(
            Cli::try_parse_from(["xtask", "db-rehearse", "--supabase-dir", OURS, "--max-blocking", "250ms"]).is_ok()
        );
    }
}
