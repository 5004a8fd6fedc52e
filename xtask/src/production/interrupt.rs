//! An interrupted command (Ctrl-C, SIGTERM, SIGHUP) must not leave its statement running or
//! queued on the target: every session that may change a target is registered here, and on
//! interrupt each one still busy is cancelled and ended from a second connection, and the
//! target's history says what was applied.

use std::{sync::Mutex, time::Duration};

use anyhow::Context;
use sqlx::PgConnection;

use crate::pg::redact;

/// (target URL, backend pid, backend start): the start tells our session from a later one that
/// reused its pid.
static SESSIONS: Mutex<Vec<(String, i32, String)>> = Mutex::new(Vec::new());

pub(super) async fn register(url: &str, conn: &mut PgConnection) -> anyhow::Result<()> {
    let (pid, started): (i32, String) =
        sqlx::query_as("SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            .fetch_one(&mut *conn)
            .await
            .context("identifying our session on the target")?;
    if let Ok(mut sessions) = SESSIONS.lock() {
        sessions.push((url.to_string(), pid, started));
    }
    Ok(())
}

/// Cancels and ends every registered session still running a statement, then reads each
/// target's history; one line per target for the person who pressed Ctrl-C. Empty when nothing
/// was registered.
pub async fn cancel_in_flight() -> Vec<String> {
    let sessions: Vec<(String, i32, String)> = SESSIONS.lock().map(|s| s.clone()).unwrap_or_default();
    let mut lines = Vec::new();
    for (url, pid, started) in sessions {
        let line = match tokio::time::timeout(Duration::from_secs(15), cancel(&url, pid, &started)).await {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => format!("{}: could not check session {pid}: {e:#}", redact(&url)),
            Err(_) => format!("{}: could not check session {pid} within 15 s", redact(&url)),
        };
        lines.push(line);
    }
    lines.dedup();
    lines
}

async fn cancel(url: &str, pid: i32, started: &str) -> anyhow::Result<String> {
    let (opts, timeout) = crate::pg::libpq_options(url)?;
    let mut conn = crate::pg::connect_within(url, &opts.application_name("cargo-xtask-cancel"), timeout).await?;
    let busy: Option<(String, String)> = sqlx::query_as(
        "SELECT state, left(regexp_replace(query, '\\s+', ' ', 'g'), 80) FROM pg_stat_activity \
         WHERE pid = $1 AND backend_start::text = $2 AND state <> 'idle'",
    )
    .bind(pid)
    .bind(started)
    .fetch_optional(&mut conn)
    .await?;
    let what = match busy {
        Some((state, query)) => {
            // Cancel the statement, then end the session so its transaction rolls back too.
            sqlx::query("SELECT pg_cancel_backend($1), pg_terminate_backend($1)").bind(pid).execute(&mut conn).await?;
            format!("cancelled our {state} statement `{query}` (session {pid})")
        }
        None => "no statement of ours was running".to_string(),
    };
    let applied: Vec<String> =
        crate::runner::applied_versions(&mut conn).await?.into_iter().map(|(v, _, _)| v).collect();
    let last = applied.last().map_or("none".to_string(), Clone::clone);
    Ok(format!(
        "{}: {what}; its history holds {} version(s), the newest {last}: run `cargo xtask db-validate` to see what is pending",
        redact(url),
        applied.len()
    ))
}
