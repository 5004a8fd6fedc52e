//! One change at a time per target: push and rollback hold a session advisory lock on the target
//! for as long as they run, on their session's read connection (`Session::exclusive`). A second
//! one exits 2 naming the session that holds it.

use anyhow::bail;
use sqlx::PgConnection;

use super::Target;

/// The advisory lock key ("xtask_mg" as a big-endian i64), the same for every version of the tool.
pub const KEY: i64 = 0x7874_6173_6b5f_6d67;

/// Takes the lock on `session` (released when that connection ends), or says who holds it.
pub(super) async fn acquire(session: &mut PgConnection, target: &Target, what: &str) -> anyhow::Result<()> {
    let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(KEY).fetch_one(&mut *session).await?;
    if got {
        return Ok(());
    }
    let holder: Option<(i32, String, String, String)> = sqlx::query_as(
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'a local socket'), \
                coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ'), '') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
    )
    .bind(KEY)
    .fetch_optional(&mut *session)
    .await?;
    let who = match holder {
        Some((pid, app, addr, since)) => format!("session {pid} ({app}, from {addr}, since {since})"),
        None => "another session".into(),
    };
    bail!(
        "another push or rollback is running on {}: {who} holds the migration lock; \
         wait for it to finish (or end that session), then run {what} again",
        target.describe()
    )
}
