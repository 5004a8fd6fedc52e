//! Judging one window of `db-watch`: what changed since the previous sample, against the
//! baseline taken before the push. Pure; table-tested.

use std::time::Duration;

use super::sample::{Sample, Statements};

/// The thresholds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A watched table's statements slower than before by this factor fail.
    pub max_slowdown: f64,
    pub max_blocking: Duration,
    /// Share of transactions rolled back in a window (of at least 20) that fails.
    pub max_rollback_rate: f64,
}

/// A slower mean by less than this per call is noise nobody feels (a 0.05 ms lookup taking 0.12 ms
/// on a busy server), however large the factor.
pub const NOTICEABLE_MS: f64 = 0.5;

/// A threshold crossed: a stable id and the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub id: String,
    pub words: String,
}

/// Everything `cur` crossed since `prev`, with `baseline` (before the push) as the reference.
pub fn judge(baseline: &Sample, prev: &Sample, cur: &Sample, limits: &Limits) -> Vec<Finding> {
    let mut out = Vec::new();
    let (d, p) = (&cur.database, &prev.database);
    let (commits, rollbacks) = (d.commits - p.commits, d.rollbacks - p.rollbacks);
    let xacts = commits + rollbacks;
    if xacts >= 20 && rollbacks as f64 / xacts as f64 > limits.max_rollback_rate {
        out.push(Finding {
            id: "watch.rollback_rate".into(),
            words: format!(
                "{rollbacks} of {xacts} transactions rolled back in this window ({:.0}%, limit {:.0}%)",
                100.0 * rollbacks as f64 / xacts as f64,
                100.0 * limits.max_rollback_rate
            ),
        });
    }
    if d.deadlocks > p.deadlocks {
        out.push(Finding {
            id: "watch.deadlocks".into(),
            words: format!("{} deadlock(s) in this window", d.deadlocks - p.deadlocks),
        });
    }
    for (table, t) in &cur.tables {
        let (Some(before), Some(b)) = (prev.tables.get(table), baseline.tables.get(table)) else { continue };
        let (seq, read, idx) =
            (t.seq_scan - before.seq_scan, t.seq_tup_read - before.seq_tup_read, t.idx_scan - before.idx_scan);
        let share = |s: i64, i: i64| if s + i == 0 { 0.0 } else { s as f64 / (s + i) as f64 };
        let was = share(b.seq_scan, b.idx_scan);
        let now = share(seq, idx);
        if read >= 1_000 && now > (2.0 * was).max(was + 0.25) {
            out.push(Finding {
                id: format!("watch.seq_scans.{table}"),
                words: format!(
                    "{seq} sequential scan(s) of {table} read {read} rows in this window: {:.0}% of its scans, {:.0}% before \
                     the push (a policy or query that lost its index)",
                    100.0 * now,
                    100.0 * was
                ),
            });
        }
    }
    if let (Some(base), Some(before), Some(now)) = (&baseline.statements, &prev.statements, &cur.statements) {
        for (table, statements) in now {
            let (Some(base), Some(before)) = (base.get(table), before.get(table)) else { continue };
            if let Some(words) = slowest(statements, before, base, limits) {
                out.push(Finding {
                    id: format!("watch.slowdown.{table}"),
                    words: format!("statements on {table}: {words}"),
                });
            }
        }
    }
    if let Some(w) = cur
        .lock_waits
        .iter()
        .filter(|w| w.waited_ms > limits.max_blocking.as_secs_f64() * 1000.0)
        .max_by(|a, b| a.waited_ms.total_cmp(&b.waited_ms))
    {
        out.push(Finding {
            id: "watch.lock_waits".into(),
            words: format!(
                "a session has waited {:.1} s on a lock, blocked by pid(s) {:?}: {}",
                w.waited_ms / 1000.0,
                w.blocked_by,
                w.query
            ),
        });
    }
    out
}

/// The statement of a table that got the most slower since before the push, past the limits: each
/// statement's mean in this window against its own mean before the push.
fn slowest(now: &Statements, prev: &Statements, base: &Statements, limits: &Limits) -> Option<String> {
    let mut worst: Option<(f64, String)> = None;
    for (id, s) in now {
        let Some(b) = base.get(id).filter(|b| b.calls > 0) else { continue };
        let p = prev.get(id).cloned().unwrap_or_default();
        let calls = s.calls - p.calls;
        if calls < 5 {
            continue;
        }
        let (mean, was) = ((s.total_ms - p.total_ms) / calls as f64, b.total_ms / b.calls as f64);
        let factor = mean / was.max(1e-6);
        if factor > limits.max_slowdown && mean - was >= NOTICEABLE_MS && worst.as_ref().is_none_or(|w| factor > w.0) {
            let words = format!(
                "`{}`: mean {mean:.2} ms over {calls} call(s) in this window, {was:.2} ms before the push ({factor:.1}x \
                 slower, limit {:.1}x)",
                s.query, limits.max_slowdown
            );
            worst = Some((factor, words));
        }
    }
    worst.map(|w| w.1)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::db_watch::sample::{Database, LockWait, Statement, Table};

    fn limits() -> Limits {
        Limits { max_slowdown: 2.0, max_blocking: Duration::from_secs(1), max_rollback_rate: 0.05 }
    }

    fn sample(commits: i64, rollbacks: i64, seq: (i64, i64, i64), stmts: (i64, f64)) -> Sample {
        Sample {
            database: Database { commits, rollbacks, ..Database::default() },
            tables: BTreeMap::from([(
                "public.notes".to_string(),
                Table { seq_scan: seq.0, seq_tup_read: seq.1, idx_scan: seq.2 },
            )]),
            statements: Some(BTreeMap::from([(
                "public.notes".to_string(),
                BTreeMap::from([
                    (1, Statement { calls: stmts.0, total_ms: stmts.1, query: "select … from public.notes".into() }),
                    // The bulk load: one slow call, the same in every sample.
                    (2, Statement { calls: 1, total_ms: 900.0, query: "insert into public.notes …".into() }),
                ]),
            )])),
            ..Sample::default()
        }
    }

    #[test]
    fn each_threshold_fires_alone() {
        // Statements took 1 ms each before the push.
        let base = sample(1000, 10, (10, 100, 990), (1000, 1000.0));
        let cases: Vec<(Sample, Vec<&str>)> = vec![
            // Healthy: index scans, same speed, few rollbacks.
            (sample(1100, 11, (10, 100, 1090), (1100, 1100.0)), vec![]),
            (sample(1100, 20, (10, 100, 1090), (1100, 1100.0)), vec!["watch.rollback_rate"]),
            (sample(1100, 11, (110, 500_100, 1090), (1100, 1100.0)), vec!["watch.seq_scans.public.notes"]),
            (sample(1100, 11, (10, 100, 1090), (1100, 1500.0)), vec!["watch.slowdown.public.notes"]),
            // 3x slower, but by 0.2 ms a call: noise.
            (sample(1100, 11, (10, 100, 1090), (1100, 1000.0 + 100.0 * 0.3)), vec![]),
        ];
        for (cur, expected) in cases {
            let ids: Vec<String> = judge(&base, &base, &cur, &limits()).into_iter().map(|f| f.id).collect();
            assert_eq!(ids, expected, "{cur:?}");
        }
        let mut waiting = base.clone();
        waiting.lock_waits = vec![LockWait { waited_ms: 3000.0, query: "update notes".into(), blocked_by: vec![42] }];
        waiting.database.deadlocks = 1;
        let ids: Vec<String> = judge(&base, &base, &waiting, &limits()).into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["watch.deadlocks", "watch.lock_waits"]);
    }
}
