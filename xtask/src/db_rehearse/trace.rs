//! Measuring a migration file statement by statement: the locks each one takes (from
//! `pg_locks`), how long they stay held, rewrites, rows, WAL and time, and what a second session
//! could not do meanwhile. Facts only: `hints` judges them, `render` prints them.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use sqlx::PgConnection;

use super::lock_mode::LockMode;

mod probe;

use crate::runner::{self, sql_split::Statement, MigrationFile};
use probe::{probe_app, probe_rows};

/// Schemas whose tables are Postgres's or the runner's own, never the app's.
const SYSTEM_SCHEMAS: &str = "'pg_catalog', 'information_schema', 'pg_toast', 'supabase_migrations'";

/// One traced statement.
#[derive(Debug, Clone, Default)]
pub struct Traced {
    pub line: usize,
    /// The whole statement (`runner::excerpt` shortens it for people).
    pub sql: String,
    pub duration: Duration,
    pub rows: u64,
    pub wal_bytes: i64,
    pub rewrote: Vec<String>,
    /// (relation, mode) first taken by this statement.
    pub acquired: Vec<(String, LockMode)>,
    /// What a second session could not do while this statement's transaction held its locks.
    pub blocked: Vec<String>,
    /// Tables whose existing rows a second session could not update or delete meanwhile (row
    /// locks, which no table lock shows), each with how: `public.messages` or `public.messages
    /// (deleting a parent in public.conversations cascades)`.
    pub rows_blocked: Vec<String>,
    /// How long the locks this statement took stayed held (until its transaction ended; for a
    /// batched backfill, the longest batch).
    pub held: Duration,
    /// A batched backfill: how many batches ran.
    pub batches: Option<u64>,
}

impl Traced {
    /// The whole statement without its comments, in upper case with runs of whitespace as one
    /// space, for hint conditions (a comment saying "NOT VALID" does not make it so).
    pub fn normalized_sql(&self) -> String {
        runner::sql_split::strip_comments(&self.sql)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase()
    }

    /// The table a backfill (an UPDATE writing rows under ROW EXCLUSIVE) wrote, if this is one.
    pub fn backfilled_table(&self) -> Option<&str> {
        let update = self.normalized_sql().contains("UPDATE");
        let table = self.acquired.iter().find(|(_, m)| *m == LockMode::RowExclusive).map(|(r, _)| r.as_str());
        table.filter(|_| update && self.rows > 0)
    }
}

/// A traced file: its statements, or where it failed.
#[derive(Debug, Clone)]
pub struct FileTrace {
    pub statements: Vec<Traced>,
    /// `file:line: error` when a statement failed (the file was rolled back).
    pub failed: Option<String>,
    pub duration: Duration,
    /// When the second session probed (its tries lengthen the locks' hold, which production
    /// would not see): the workload's latencies leave these spans out.
    pub probes: Vec<(Instant, Instant)>,
}

/// Runs `file` as the runner would (one transaction, unless it cannot be), statement by
/// statement, recording what each does; a second session on `url` probes the app meanwhile. In a
/// file that cannot be one transaction, each statement that can is its own transaction (as when
/// it commits on its own), so its locks are seen too; a CONCURRENTLY statement's locks are
/// watched from a third session while it runs. The trace is the application: the history row
/// and the commit follow, as the runner does.
pub async fn trace_file(conn: &mut PgConnection, url: &str, file: &MigrationFile) -> anyhow::Result<FileTrace> {
    trace_as(conn, url, file, Kind::Migration, runner::backfill::Overrides::default()).await
}

/// What a traced file is, for the history row written after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A migration: its row is recorded.
    Migration,
    /// A rollback script of the file's version: its row is deleted.
    Rollback,
}

/// [`trace_file`] for a migration or a rollback script, a backfill's batches as `batch` says.
pub async fn trace_as(
    conn: &mut PgConnection,
    url: &str,
    file: &MigrationFile,
    kind: Kind,
    batch: runner::backfill::Overrides,
) -> anyhow::Result<FileTrace> {
    match runner::backfill::Backfill::of(&file.text) {
        Some(plan) => trace_backfill(conn, url, file, plan.map(|p| (p, batch)), kind).await,
        None => trace_statements(conn, url, file, kind).await,
    }
}

/// A file that is not a batched backfill, statement by statement.
async fn trace_statements(
    conn: &mut PgConnection,
    url: &str,
    file: &MigrationFile,
    kind: Kind,
) -> anyhow::Result<FileTrace> {
    let statements = file.statements();
    let atomic = !statements.iter().any(Statement::is_non_transactional);
    let mut probe = crate::pg::connect(url).await?;
    let mut watcher = crate::pg::connect(url).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *conn).await?;
    sqlx::raw_sql("RESET ALL").execute(&mut *conn).await?;
    if atomic {
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
    }
    let mut traced: Vec<Traced> = Vec::new();
    let mut held: BTreeSet<(String, LockMode)> = BTreeSet::new();
    let file_started = Instant::now();
    let mut starts = Vec::new();
    let mut written_before: i64 = 0;
    // Time spent probing from the second session, subtracted from hold times.
    let mut probe_times: Vec<Duration> = Vec::new();
    let mut spans = Vec::new();
    for stmt in &statements {
        let own = !atomic && !stmt.is_non_transactional();
        if !atomic {
            held.clear();
            written_before = 0;
        }
        if own {
            sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
        }
        let files_before = relfilenodes(conn).await?;
        let lsn_before: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&mut *conn).await?;
        let started = Instant::now();
        starts.push(started);
        let (result, watched) = if stmt.is_non_transactional() {
            execute_watched(conn, &mut watcher, pid, &stmt.sql).await
        } else {
            (sqlx::raw_sql(&stmt.sql).execute(&mut *conn).await, Vec::new())
        };
        let duration = started.elapsed();
        let tag_rows = match result {
            Ok(r) => r.rows_affected(),
            Err(e) => {
                if atomic || own {
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                }
                let failed = Some(format!("{}:{}: {e}", file.file_name(), stmt.code_line()));
                return Ok(FileTrace { statements: traced, failed, duration: file_started.elapsed(), probes: spans });
            }
        };
        let mut t = facts(conn, pid, stmt, duration, &lsn_before, &files_before, &mut held).await?;
        t.acquired.extend(watched.into_iter().filter(|lock| held.insert(lock.clone())));
        let written = tuples_written(conn).await?;
        t.rows = tag_rows.max(u64::try_from(written - written_before).unwrap_or(0));
        written_before = written;
        let tables: Vec<String> = held.iter().map(|(t, _)| t.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let probed = Instant::now();
        if atomic || own {
            (t.blocked, t.rows_blocked) =
                (probe_app(&mut probe, &tables).await?, probe_rows(&mut probe, &tables).await?);
        }
        probe_times.push(probed.elapsed());
        spans.push((probed, Instant::now()));
        if own {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
        }
        t.held = if atomic { Duration::ZERO } else { duration };
        traced.push(t);
    }
    record(conn, file, kind).await?;
    if atomic {
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
        hold_times(&mut traced, &starts, &probe_times, Instant::now());
    }
    Ok(FileTrace { statements: traced, failed: None, duration: file_started.elapsed(), probes: spans })
}

/// What a statement that just ran did: WAL, rewrites, the locks it took first.
async fn facts(
    conn: &mut PgConnection,
    pid: i32,
    stmt: &Statement,
    duration: Duration,
    lsn_before: &str,
    files_before: &BTreeMap<String, i64>,
    held: &mut BTreeSet<(String, LockMode)>,
) -> anyhow::Result<Traced> {
    let wal_bytes: i64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint")
        .bind(lsn_before)
        .fetch_one(&mut *conn)
        .await?;
    let files_after = relfilenodes(conn).await?;
    let rewrote = files_after
        .iter()
        .filter(|(rel, node)| files_before.get(*rel).is_some_and(|n| n != *node))
        .map(|(rel, _)| rel.clone())
        .collect();
    let acquired = table_locks(conn, pid).await?.into_iter().filter(|lock| held.insert(lock.clone())).collect();
    Ok(Traced {
        line: stmt.code_line(),
        sql: stmt.sql.clone(),
        duration,
        wal_bytes,
        rewrote,
        acquired,
        ..Traced::default()
    })
}

/// A statement that cannot run in a transaction, with the table locks it holds while it runs,
/// polled from `watcher` (it commits on its own, so they are gone when it returns).
async fn execute_watched(
    conn: &mut PgConnection,
    watcher: &mut PgConnection,
    pid: i32,
    sql: &str,
) -> (sqlx::Result<sqlx::postgres::PgQueryResult>, Vec<(String, LockMode)>) {
    let done = std::sync::atomic::AtomicBool::new(false);
    let run = async {
        let result = sqlx::raw_sql(sql).execute(&mut *conn).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        result
    };
    let watch = async {
        let mut seen = BTreeSet::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(locks) = table_locks(watcher, pid).await {
                seen.extend(locks);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen
    };
    let (result, seen) = tokio::join!(run, watch);
    (result, seen.into_iter().collect())
}

/// In one transaction, each statement's locks stay held from its start to the commit at `end`,
/// less the time the second session spent probing after it.
fn hold_times(traced: &mut [Traced], starts: &[Instant], probe_times: &[Duration], end: Instant) {
    for (i, (t, start)) in traced.iter_mut().zip(starts).enumerate() {
        let probing: Duration = probe_times[i..].iter().sum();
        t.held = end.duration_since(*start).saturating_sub(probing);
    }
}

/// A batched backfill as the runner runs it, batch by batch, each its own transaction; the
/// second session probes while the first batch holds its locks. Locks are held for one batch at
/// most: `held` is the longest batch.
async fn trace_backfill(
    conn: &mut PgConnection,
    url: &str,
    file: &MigrationFile,
    plan: Result<(runner::backfill::Backfill, runner::backfill::Overrides), String>,
    kind: Kind,
) -> anyhow::Result<FileTrace> {
    let started = Instant::now();
    let mut spans = Vec::new();
    let failed = |why: String, traced: Vec<Traced>| FileTrace {
        probes: Vec::new(),
        statements: traced,
        failed: Some(why),
        duration: started.elapsed(),
    };
    let (plan, batch) = match plan {
        Ok(found) => found,
        Err(e) => return Ok(failed(format!("{}:1: {e}", file.file_name()), Vec::new())),
    };
    let batching = plan.effective_batching(batch);
    let mut batches = match runner::backfill::Batches::start(conn, &plan.table, batching.rows).await {
        Ok(b) => b,
        Err(e) => return Ok(failed(format!("{}:{}: {e}", file.file_name(), plan.line), Vec::new())),
    };
    let mut probe = crate::pg::connect(url).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *conn).await?;
    sqlx::raw_sql("RESET ALL").execute(&mut *conn).await?;
    let lsn_before: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&mut *conn).await?;
    let sql = file.statements().into_iter().next().map(|s| s.sql).unwrap_or_default();
    let mut t = Traced { line: plan.line, sql, batches: Some(0), ..Traced::default() };
    while let Some(range) = batches.next(conn, &plan.table).await? {
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
        let batch_started = Instant::now();
        let (sql, params) = plan.batch_sql(&batches.key, &range);
        let result =
            params.iter().fold(sqlx::query(&sql), |q, p| q.bind(p)).persistent(false).execute(&mut *conn).await;
        let took = batch_started.elapsed();
        match result {
            Ok(done) => t.rows += done.rows_affected(),
            Err(e) => {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                return Ok(failed(format!("{}:{}: {e}", file.file_name(), plan.line), vec![t]));
            }
        }
        if t.batches == Some(0) {
            t.acquired = table_locks(conn, pid).await?;
            let tables: Vec<String> = t.acquired.iter().map(|(r, _)| r.clone()).collect();
            let probed = Instant::now();
            t.blocked = probe_app(&mut probe, &tables).await?;
            t.rows_blocked = probe_rows(&mut probe, &tables).await?;
            spans.push((probed, Instant::now()));
        }
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
        t.held = t.held.max(took);
        t.batches = t.batches.map(|n| n + 1);
        if !batching.pause.is_zero() {
            tokio::time::sleep(batching.pause).await;
        }
    }
    t.duration = started.elapsed();
    t.wal_bytes = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint")
        .bind(&lsn_before)
        .fetch_one(&mut *conn)
        .await?;
    record(conn, file, kind).await?;
    Ok(FileTrace { statements: vec![t], failed: None, duration: started.elapsed(), probes: spans })
}

async fn record(conn: &mut PgConnection, file: &MigrationFile, kind: Kind) -> sqlx::Result<()> {
    match kind {
        Kind::Migration => runner::record_applied(conn, file).await,
        Kind::Rollback => runner::record_reverted(conn, file).await,
    }
}

/// Table locks session `pid` holds, outside Postgres's and the runner's own schemas.
async fn table_locks(conn: &mut PgConnection, pid: i32) -> anyhow::Result<Vec<(String, LockMode)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT l.relation::regclass::text, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND c.relkind IN ('r', 'p') \
           AND n.nspname NOT IN ({SYSTEM_SCHEMAS})"
    ))
    .bind(pid)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().filter_map(|(rel, mode)| Some((rel, mode.parse().ok()?))).collect())
}

/// Rows this transaction inserted, updated or deleted so far (DO blocks included).
async fn tuples_written(conn: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid) \
         + pg_stat_get_xact_tuples_deleted(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ({SYSTEM_SCHEMAS})"
    ))
    .fetch_one(&mut *conn)
    .await?)
}

async fn relfilenodes(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT c.oid::regclass::text, c.relfilenode::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ({SYSTEM_SCHEMAS})"
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}
