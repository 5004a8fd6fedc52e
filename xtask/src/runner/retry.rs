//! Lock timeouts with retries, as the common practice for production migrations is: a short
//! per-attempt `lock_timeout` (so the app's requests never queue long behind a waiting
//! ACCESS EXCLUSIVE), and a bounded number of fresh attempts with backoff. Only a file of which
//! nothing stayed is tried again.

use std::time::Duration;

use sqlx::PgConnection;

use super::{Applied, ApplyError, MigrationFile};

/// How many attempts, and the wait before the second (doubling after).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRetry {
    pub attempts: u32,
    pub first_wait: Duration,
}

impl LockRetry {
    /// The wait before attempt `n` (2, 3 …): `first_wait`, doubled each time, at most 30 s.
    pub fn wait_before(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(2).min(16);
        (self.first_wait * 2u32.pow(doublings)).min(Duration::from_secs(30))
    }
}

/// A failure worth another attempt: it waited too long for a lock (55P03) and nothing of the
/// file stayed (a transactional file, or the first statement of one that is not).
pub fn retryable(error: &ApplyError) -> bool {
    error.message.contains("55P03") && error.stayed.is_empty()
}

/// What the attempts of one file were.
#[derive(Debug)]
pub struct Attempts {
    pub result: Result<Applied, ApplyError>,
    /// One line per attempt that timed out on a lock.
    pub timed_out: Vec<String>,
}

impl Attempts {
    /// `attempt 1: …; attempt 2: …` for the report, empty when the first attempt went through.
    pub fn describe(&self) -> Option<String> {
        (!self.timed_out.is_empty()).then(|| self.timed_out.join("\n"))
    }
}

/// What to run with retries.
#[derive(Debug, Clone, Copy)]
pub enum Work<'a> {
    Apply(&'a MigrationFile),
    /// A rollback script; `history_by_cli`: the supabase CLI repairs the history row after.
    RollBack {
        version: &'a str,
        script: &'a std::path::Path,
        history_by_cli: bool,
    },
}

/// Runs `work` up to `retry.attempts` times, each the way `run` says.
pub async fn with_retries(conn: &mut PgConnection, retry: LockRetry, work: Work<'_>, run: super::Run<'_>) -> Attempts {
    let mut timed_out = Vec::new();
    let mut n = 1;
    loop {
        let result = match work {
            Work::Apply(file) => super::apply_as(conn, file, run).await,
            Work::RollBack { version, script, history_by_cli: true } => {
                super::run_rollback_script(conn, version, script, run).await
            }
            Work::RollBack { version, script, history_by_cli: false } => {
                super::roll_back_as(conn, version, script, run).await
            }
        };
        match result {
            Err(e) if retryable(&e) && n < retry.attempts => {
                let wait = retry.wait_before(n + 1);
                timed_out.push(format!(
                    "attempt {n}: waited too long for a lock ({}); tried again after {} ms",
                    e.message,
                    wait.as_millis()
                ));
                tokio::time::sleep(wait).await;
                n += 1;
            }
            Err(e) if retryable(&e) => {
                timed_out.push(format!("attempt {n}: waited too long for a lock ({}); no attempts left", e.message));
                return Attempts { result: Err(e), timed_out };
            }
            result => return Attempts { result, timed_out },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(message: &str, stayed: &[&str]) -> ApplyError {
        ApplyError {
            file: "f.sql".into(),
            line: 1,
            statement: String::new(),
            message: message.into(),
            notices: Vec::new(),
            stayed: stayed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn only_a_lock_timeout_that_left_nothing_is_retried() {
        assert!(retryable(&error("ERROR 55P03: canceling statement due to lock timeout", &[])));
        assert!(!retryable(&error("ERROR 55P03: canceling statement due to lock timeout", &["committed: x"])));
        assert!(!retryable(&error("ERROR 42P01: relation does not exist", &[])));
    }

    #[test]
    fn waits_double_up_to_thirty_seconds() {
        let r = LockRetry { attempts: 20, first_wait: Duration::from_millis(500) };
        let waits: Vec<u128> = (2..=8).map(|n| r.wait_before(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000]);
    }
}
