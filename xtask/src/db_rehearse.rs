//! `cargo xtask db-rehearse`: the pending migrations at production scale. Loads production-shaped
//! data fast (COPY with indexes and foreign keys built after the load), traces every pending
//! statement's locks (and proves them with a second session trying the app's reads and writes
//! while they are held), measures rewrites, rows, WAL and time, and times the app's queries
//! before and after with their plan shapes.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use crate::{
    flags::DbRehearse,
    local_db::LocalDatabase,
    pg::redact,
    report::{run_command, Check, Outcome, Report, Status},
    runner::sql_split::Statement,
    runner::MigrationFile,
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

impl DbRehearse {
    pub async fn run(self) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-rehearse", json.as_deref(), async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let convs = u64::from(self.users) * u64::from(self.conversations_per_user);
        let mut local = crate::flags::DbLocalTest {
            project: self.project.clone(),
            pg: self.pg.clone(),
            data: crate::flags::Data {
                users: self.users,
                conversations_per_user: self.conversations_per_user,
                messages_per_conversation: (self.messages / convs.max(1)).max(1) as u32,
                seed: 1,
            },
            since: self.since.clone(),
        };
        if let Some(url) = &self.like {
            local.data = shape_like(url, 1, report).await?;
        }
        let mut db = LocalDatabase::start(&local, report).await?;
        let result = self.steps(&local, &mut db, report).await;
        db.close(report).await?;
        result
    }

    async fn steps(
        &self,
        local: &crate::flags::DbLocalTest,
        db: &mut LocalDatabase,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if !db.apply_baseline(report).await {
            return Ok(());
        }
        db.detect_app(report).await?;
        if db.app_missing.is_some() {
            report.push(
                Check::new("rehearse.data", "production-shaped data", Status::Skip)
                    .detail("the app's generator does not apply to this project; load data with seed.sql"),
            );
        } else {
            fast_load(db, local.data.size(), report).await?;
        }
        let max_blocking = crate::target::parse_duration(&self.max_blocking)?;
        // The app's queries are ours (app crate); another project gets no speed comparison.
        let (queries, user) = match db.app_missing {
            None => app::queries::for_busiest_user(&mut db.conn).await?,
            Some(_) => (Vec::new(), None),
        };
        let before = time_queries(db.pg.url(), &queries, user, self.runs).await?;

        let mut trace_md = String::new();
        let mut backfill: Option<(u64, Duration, i64, String)> = None;
        for file in db.plan.pending.clone() {
            let traced = trace_file(&mut db.conn, db.pg.url(), &file, max_blocking, report).await?;
            for t in &traced {
                let table = t.acquired.iter().find(|(_, m)| m == "RowExclusiveLock").map(|(r, _)| r.clone());
                if let Some(table) = table.filter(|_| t.rows > 0 && t.sql.to_ascii_uppercase().contains("UPDATE")) {
                    if backfill.as_ref().is_none_or(|(r, _, _, _)| t.rows > *r) {
                        backfill = Some((t.rows, t.duration, t.wal_bytes, table));
                    }
                }
            }
            trace_md.push_str(&render_trace(&file, &traced));
        }
        report.push(
            Check::new("rehearse.lock_trace", "lock trace of every pending statement", Status::Info).detail(trace_md),
        );

        let after = time_queries(db.pg.url(), &queries, user, self.runs).await?;
        let mut speed = String::from("query | before (median) | after (median) | ratio | plan before → after\n");
        for (name, b) in &before {
            let Some(a) = after.get(name) else { continue };
            let ratio = b.median.as_secs_f64() / a.median.as_secs_f64().max(1e-9);
            let _ = writeln!(
                speed,
                "{name} | {:.2} ms | {:.2} ms | {ratio:.1}x faster | {} → {}",
                b.median.as_secs_f64() * 1000.0,
                a.median.as_secs_f64() * 1000.0,
                b.plan,
                a.plan
            );
        }
        report.push(
            Check::new("rehearse.query_speed", "the app's queries before and after, as a signed-in user", Status::Info)
                .detail(speed),
        );

        if let Some((rows, took, wal, table)) = backfill {
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
                .with_context(|| format!("writing {}", self.summary.display()))?;
        }
        Ok(())
    }
}

/// Row counts and fan-out of production, read-only, as generator sizes.
async fn shape_like(url: &str, seed: u64, report: &mut Report) -> anyhow::Result<crate::flags::Data> {
    let target = crate::target::Target { mode: crate::target::Mode::Direct, url: url.to_string() };
    let mut conn = target.connect_read_only().await?;
    let (users, convs, msgs): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM public.users), (SELECT count(*) FROM public.conversations), (SELECT count(*) FROM public.messages)",
    )
    .fetch_one(&mut conn)
    .await
    .with_context(|| format!("reading row counts from {}", redact(url)))?;
    report.push(
        Check::new("rehearse.like", "production's shape (read-only)", Status::Info)
            .value(format!("{users} users, {convs} conversations, {msgs} messages")),
    );
    let users = users.max(2);
    Ok(crate::flags::Data {
        users: users as u32,
        conversations_per_user: (convs / users).max(1) as u32,
        messages_per_conversation: (msgs / convs.max(1)).max(1) as u32,
        seed,
    })
}

/// COPY into the tables with their secondary indexes and foreign keys dropped, then rebuilt.
async fn fast_load(db: &mut LocalDatabase, size: app::fixture::FixtureSize, report: &mut Report) -> anyhow::Result<()> {
    let tables = app::fixture::TABLES;
    // (kind, drop statement, create statement)
    let deferred: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT 'index', format('DROP INDEX %s', x.indexrelid::regclass), pg_get_indexdef(x.indexrelid) \
         FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
         WHERE x.indrelid = ANY($1::regclass[]) AND NOT x.indisprimary \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
         UNION ALL \
         SELECT CASE contype WHEN 'f' THEN 'fk' ELSE 'key' END, \
                format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname), \
                format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) \
         FROM pg_constraint WHERE contype IN ('f', 'p', 'u') AND conrelid = ANY($1::regclass[]) \
         ORDER BY 1",
    )
    .bind(tables)
    .fetch_all(&mut db.conn)
    .await?;
    for (_, drop, _) in &deferred {
        sqlx::raw_sql(drop).execute(&mut db.conn).await?;
    }
    let timer = report.phase("load production-shaped data");
    timer.set_message(format!(
        "{} users × {} conversations × {} messages",
        size.users, size.conversations_per_user, size.messages_per_conversation
    ));
    let started = Instant::now();
    let mut tx = db.conn.begin().await?;
    let stats = app::fixture::Fixture::new(size).load(&mut tx).await?;
    tx.commit().await?;
    let load = started.elapsed();
    timer.set_message("building indexes and foreign keys");
    let built = Instant::now();
    // Keys (a sort each, instead of random inserts into a btree per row), indexes, then foreign keys.
    let kind = |k: &'static str| deferred.iter().filter(move |d| d.0 == k);
    for (_, _, def) in kind("key").chain(kind("index")).chain(kind("fk")) {
        sqlx::raw_sql(def).execute(&mut db.conn).await?;
    }
    // As production's steady state: vacuumed and analysed, so no autovacuum of the fresh load
    // queues in front of (and inflates) the migration's first lock.
    sqlx::raw_sql(&format!("VACUUM (ANALYZE) {}, auth.users", tables.join(", "))).execute(&mut db.conn).await?;
    let build = built.elapsed();
    report.record(timer);
    let rows = stats.auth_users + stats.users + stats.conversations + stats.messages;
    report.push(Check::new("rehearse.data", "production-shaped data", Status::Info).value(format!(
        "{} messages; {rows} rows loaded in {:.1} s ({:.0} rows/s), indexes and keys built in {:.1} s",
        stats.messages,
        load.as_secs_f64(),
        rows as f64 / load.as_secs_f64().max(1e-6),
        build.as_secs_f64()
    )));
    Ok(())
}

/// One traced statement.
#[derive(Debug, Clone)]
struct Traced {
    line: usize,
    sql: String,
    duration: Duration,
    rows: u64,
    wal_bytes: i64,
    rewrote: Vec<String>,
    /// (relation, mode) first taken by this statement.
    acquired: Vec<(String, String)>,
    /// What a second session could not do while this statement's transaction held its locks.
    blocked: Vec<String>,
    /// How long the locks this statement took stayed held (until its transaction ended).
    held: Duration,
}

/// Runs `file` as the runner would (one transaction, unless it cannot be), statement by statement,
/// recording locks, rewrites, WAL, rows and time, probing the app from a second session.
async fn trace_file(
    conn: &mut PgConnection,
    url: &str,
    file: &MigrationFile,
    max_blocking: Duration,
    report: &mut Report,
) -> anyhow::Result<Vec<Traced>> {
    let statements = file.statements();
    let atomic = !statements.iter().any(Statement::is_non_transactional);
    let mut probe = crate::pg::connect(url).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *conn).await?;
    sqlx::raw_sql("RESET ALL").execute(&mut *conn).await?;
    if atomic {
        sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
    }
    let mut traced: Vec<Traced> = Vec::new();
    let mut held: BTreeMap<(String, String), usize> = BTreeMap::new();
    let file_started = Instant::now();
    let mut starts = Vec::new();
    let mut written_before: i64 = 0;
    // Time spent probing from the second session, subtracted from hold times.
    let mut probe_times: Vec<Duration> = Vec::new();
    for stmt in &statements {
        if !atomic {
            held.clear();
        }
        let files_before = relfilenodes(conn).await?;
        let lsn_before: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text").fetch_one(&mut *conn).await?;
        let started = Instant::now();
        starts.push(started);
        let result = sqlx::raw_sql(&stmt.sql).execute(&mut *conn).await;
        let duration = started.elapsed();
        let tag_rows = match result {
            Ok(r) => r.rows_affected(),
            Err(e) => {
                if atomic {
                    let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
                }
                report.push(
                    Check::new(
                        format!("rehearse.apply.{}", file.version),
                        format!("{} applies", file.file_name()),
                        Status::Fail,
                    )
                    .detail(format!("{}:{}: {e}", file.file_name(), stmt.line)),
                );
                return Ok(traced);
            }
        };
        let wal_bytes: i64 = sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint")
            .bind(&lsn_before)
            .fetch_one(&mut *conn)
            .await?;
        let files_after = relfilenodes(conn).await?;
        let rewrote: Vec<String> = files_after
            .iter()
            .filter(|(rel, node)| files_before.get(*rel).is_some_and(|n| n != *node))
            .map(|(rel, _)| rel.clone())
            .collect();
        let locks: Vec<(String, String)> = sqlx::query_as(
            "SELECT l.relation::regclass::text, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted AND c.relkind IN ('r', 'p') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'supabase_migrations')",
        )
        .bind(pid)
        .fetch_all(&mut *conn)
        .await?;
        // Rows written by the statement, DO blocks included: this transaction's tuple counters.
        let written: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid) \
             + pg_stat_get_xact_tuples_deleted(c.oid)), 0)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'auth')",
        )
        .fetch_one(&mut *conn)
        .await?;
        let rows = tag_rows.max(u64::try_from(written - written_before).unwrap_or(0));
        written_before = written;
        let idx = traced.len();
        let mut acquired = Vec::new();
        for lock in locks {
            if !held.contains_key(&lock) {
                held.insert(lock.clone(), idx);
                acquired.push(lock);
            }
        }
        let tables: Vec<String> =
            held.keys().map(|(t, _)| t.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let probed = Instant::now();
        let blocked = probe_app(&mut probe, &tables).await?;
        probe_times.push(probed.elapsed());
        traced.push(Traced {
            line: stmt.line,
            sql: crate::runner::excerpt(&stmt.sql),
            duration,
            rows,
            wal_bytes,
            rewrote,
            acquired,
            blocked,
            held: Duration::ZERO,
        });
        if !atomic {
            let last = traced.len() - 1;
            traced[last].held = duration;
        }
    }
    // The trace is the application: the history row, then the commit, as the runner does.
    crate::runner::record_applied(conn, file).await?;
    if atomic {
        sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
        // Hold times: from each statement's start to the end of the transaction.
        let end = Instant::now();
        for (i, (t, start)) in traced.iter_mut().zip(&starts).enumerate() {
            let probing: Duration = probe_times[i..].iter().sum();
            t.held = end.duration_since(*start).saturating_sub(probing);
        }
    }
    report.push(
        Check::new(format!("rehearse.apply.{}", file.version), format!("{} applies", file.file_name()), Status::Pass)
            .value(format!("{:.2} s", file_started.elapsed().as_secs_f64())),
    );

    for t in &traced {
        for (table, mode) in &t.acquired {
            let blocks = blocked_ops(mode);
            if blocks.is_empty() || t.held <= max_blocking {
                continue;
            }
            report.push(
                Check::new(
                    format!("rehearse.blocking.{}.{}.{table}", file.version, t.line),
                    "no statement blocks the app longer than --max-blocking",
                    Status::Fail,
                )
                .value(format!("{:.1} s", t.held.as_secs_f64()))
                .detail(format!(
                    "{}:{} `{}` holds {mode} on {table} for {:.1} s (until its transaction ends): it blocks {} there\n{}",
                    file.file_name(),
                    t.line,
                    t.sql,
                    t.held.as_secs_f64(),
                    blocks.join(", "),
                    safe_pattern(&t.sql, &traced)
                )),
            );
        }
    }
    Ok(traced)
}

async fn relfilenodes(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, c.relfilenode::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'auth')",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The app's operations a lock mode stops: reads need ACCESS SHARE, writes ROW EXCLUSIVE.
fn blocked_ops(mode: &str) -> Vec<&'static str> {
    match mode {
        "AccessExclusiveLock" => vec!["SELECT", "INSERT", "UPDATE", "DELETE"],
        "ExclusiveLock" | "ShareRowExclusiveLock" | "ShareLock" => vec!["INSERT", "UPDATE", "DELETE"],
        _ => vec![],
    }
}

fn safe_pattern(sql: &str, traced: &[Traced]) -> String {
    let s = sql.to_ascii_uppercase();
    let slowest = traced.iter().max_by_key(|t| t.duration).map(|t| t.sql.clone()).unwrap_or_default();
    let advice = if s.contains("ADD COLUMN") || s.contains("ADD CONSTRAINT") && s.contains("FOREIGN KEY") {
        if s.contains("FOREIGN KEY") {
            "add the foreign key NOT VALID and VALIDATE CONSTRAINT it in a later file (VALIDATE takes only SHARE UPDATE EXCLUSIVE)"
        } else {
            "keep the ALTER TABLE in a file of its own with only quick statements: its ACCESS EXCLUSIVE lock lasts until the file's transaction commits; fill new rows with a trigger and backfill in a later file"
        }
    } else if s.contains("SET NOT NULL") {
        "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later file, then SET NOT NULL (it skips the scan)"
    } else if s.contains("CREATE INDEX") || s.contains("CREATE UNIQUE INDEX") || s.contains("UNIQUE (") {
        "CREATE INDEX CONCURRENTLY in a file of its own (and ADD CONSTRAINT … USING INDEX for a unique key)"
    } else if s.contains("FOREIGN KEY") {
        "add the foreign key NOT VALID and VALIDATE CONSTRAINT it in a later file"
    } else {
        "split the file so slow statements do not run while this lock is held; set lock_timeout"
    };
    format!("safe pattern: {advice}; the slowest statement in this transaction: `{slowest}`")
}

/// A second session tries the app's reads and writes on each table for 50 ms.
async fn probe_app(probe: &mut PgConnection, tables: &[String]) -> anyhow::Result<Vec<String>> {
    let mut blocked = Vec::new();
    for table in tables {
        for (what, sql) in [
            ("SELECT", format!("SELECT 1 FROM {table} LIMIT 1")),
            ("INSERT/UPDATE/DELETE", format!("LOCK TABLE {table} IN ROW EXCLUSIVE MODE")),
        ] {
            let mut tx = probe.begin().await?;
            sqlx::raw_sql("SET LOCAL lock_timeout = '50ms'").execute(&mut *tx).await?;
            let result = sqlx::raw_sql(&sql).execute(&mut *tx).await;
            let _ = tx.rollback().await;
            if let Err(sqlx::Error::Database(db)) = result {
                if db.code().as_deref() == Some("55P03") {
                    blocked.push(format!("{what} on {table}"));
                }
            }
        }
    }
    Ok(blocked)
}

fn render_trace(file: &MigrationFile, traced: &[Traced]) -> String {
    let mut out = format!("{}\n", file.file_name());
    for t in traced {
        let _ = writeln!(
            out,
            "  :{:<4} {:>8.1} ms  rows {:>8}  WAL {:>10} B  held {:>7.1} ms  {}",
            t.line,
            t.duration.as_secs_f64() * 1000.0,
            t.rows,
            t.wal_bytes,
            t.held.as_secs_f64() * 1000.0,
            t.sql
        );
        if !t.acquired.is_empty() {
            let locks: Vec<String> = t.acquired.iter().map(|(r, m)| format!("{m} on {r}")).collect();
            let _ = writeln!(out, "         takes {}", locks.join(", "));
        }
        if !t.rewrote.is_empty() {
            let _ = writeln!(out, "         rewrites {}", t.rewrote.join(", "));
        }
        if !t.blocked.is_empty() {
            let _ = writeln!(out, "         while held, a second session could not: {}", t.blocked.join("; "));
        }
    }
    out
}

struct Timing {
    median: Duration,
    plan: String,
}

/// Median of `runs` executions of each query as its user, and the plan's shape.
async fn time_queries(
    url: &str,
    queries: &[app::queries::AppQuery],
    user: Option<uuid::Uuid>,
    runs: usize,
) -> anyhow::Result<BTreeMap<String, Timing>> {
    let mut out = BTreeMap::new();
    let Some(user) = user else { return Ok(out) };
    let mut conn = crate::pg::connect(url).await?;
    for q in queries {
        let claims = serde_json::json!({"sub": user.to_string(), "role": "authenticated"}).to_string();
        let mut samples = Vec::new();
        let mut plan = String::new();
        for i in 0..=runs.max(1) {
            let mut tx = conn.begin().await?;
            sqlx::query("SELECT set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)")
                .bind(&claims)
                .execute(&mut *tx)
                .await?;
            if i == 0 {
                // Warm-up run doubles as the plan capture.
                let json: serde_json::Value =
                    sqlx::query_scalar(&format!("EXPLAIN (FORMAT JSON) {}", q.sql)).fetch_one(&mut *tx).await?;
                plan = plan_shape(&json);
            } else {
                let started = Instant::now();
                sqlx::raw_sql(&q.sql).execute(&mut *tx).await?;
                samples.push(started.elapsed());
            }
            tx.rollback().await?;
        }
        samples.sort();
        out.insert(q.name.to_string(), Timing { median: samples[samples.len() / 2], plan });
    }
    Ok(out)
}

/// The plan's node types and the indexes used, e.g. `Limit > Index Scan (idx_x)`.
fn plan_shape(json: &serde_json::Value) -> String {
    fn walk(node: &serde_json::Value, out: &mut Vec<String>) {
        let kind = node.get("Node Type").and_then(|v| v.as_str()).unwrap_or("?");
        match node.get("Index Name").and_then(|v| v.as_str()) {
            Some(index) => out.push(format!("{kind} ({index})")),
            None if kind == "Seq Scan" => {
                out.push(format!("Seq Scan ({})", node.get("Relation Name").and_then(|v| v.as_str()).unwrap_or("?")))
            }
            None => out.push(kind.to_string()),
        }
        for child in node.get("Plans").and_then(|p| p.as_array()).into_iter().flatten() {
            walk(child, out);
        }
    }
    let mut out = Vec::new();
    if let Some(plan) = json.get(0).and_then(|p| p.get("Plan")) {
        walk(plan, &mut out);
    }
    out.join(" > ")
}
