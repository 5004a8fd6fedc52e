//! What the push promised, held to in every window: the project's timed queries
//! (`supabase/queries/*.sql`) as the user `db-push` timed them, with what each file expects
//! (`-- xtask:expect index-scan …`) and the time each took right after the push. An index lost or
//! left invalid after the push brings the app back to its old speed, which "not worse than before
//! the push" cannot see; these can. Measured read-only (rolled back), judged purely.

use std::{collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::judge::{Finding, Limits, NOTICEABLE_MS};
use crate::{
    db_rehearse::timing::{self, TimedQuery, Timing},
    supabase::queries::{self, Expect},
};

/// One query as `db-push` timed it right after pushing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AfterPush {
    pub name: String,
    pub sql: String,
    pub median_ms: f64,
    pub plan: String,
}

/// What `db-push` adds to the watch baseline once it has pushed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub user: Uuid,
    pub queries: Vec<AfterPush>,
}

impl Saved {
    pub fn new(user: Uuid, queries: &[TimedQuery], after: &BTreeMap<String, Timing>) -> Saved {
        let queries = queries
            .iter()
            .filter_map(|q| {
                let t = after.get(&q.name)?;
                Some(AfterPush {
                    name: q.name.clone(),
                    sql: q.sql.clone(),
                    median_ms: t.median.as_secs_f64() * 1000.0,
                    plan: t.plan.clone(),
                })
            })
            .collect();
        Saved { user, queries }
    }
}

/// A query the watch re-times every window, with what it is held to.
#[derive(Debug, Clone, PartialEq)]
pub struct Promise {
    pub query: TimedQuery,
    pub expect: Expect,
    /// Its median and plan right after the push, when db-push timed it.
    pub after_push: Option<(f64, String)>,
}

/// Runs per query in a window (after one warm-up that reads the plan): each is a rolled-back
/// transaction on the target.
pub const RUNS: usize = 3;

/// The promises: the saved queries with their after-push times, and the project's query files
/// with expectations (their own SQL when db-push did not time them).
pub fn gather(saved: Option<&Saved>, supabase_dir: &Path) -> anyhow::Result<Vec<Promise>> {
    let files = queries::load(supabase_dir)?;
    let mut out: Vec<Promise> = saved
        .into_iter()
        .flat_map(|s| &s.queries)
        .map(|q| Promise {
            query: TimedQuery { name: q.name.clone(), sql: q.sql.clone() },
            expect: files.iter().find(|f| f.name == q.name).map(|f| f.expect.clone()).unwrap_or_default(),
            after_push: Some((q.median_ms, q.plan.clone())),
        })
        .collect();
    for f in files.into_iter().filter(|f| !f.expect.is_empty()) {
        if !out.iter().any(|p| p.query.name == f.name) {
            out.push(Promise { query: f.timed(), expect: f.expect, after_push: None });
        }
    }
    Ok(out)
}

/// The promises timed now, as `user`, read-only.
pub async fn time(
    conn: &mut sqlx::PgConnection,
    promises: &[Promise],
    user: Uuid,
) -> anyhow::Result<BTreeMap<String, Timing>> {
    let queries: Vec<TimedQuery> = promises.iter().map(|p| p.query.clone()).collect();
    timing::time_queries_on(conn, &queries, Some(user), RUNS).await
}

/// Transactions one [`time`] runs (each rolled back): not the app's.
pub fn own_rollbacks(promises: &[Promise]) -> i64 {
    (promises.len() * (RUNS + 1)) as i64
}

/// Every promise `now` breaks: an expectation of its query file (`watch.query_expect.<name>`), or
/// a query slower than right after the push past `--max-slowdown` (`watch.promise.<name>`).
pub fn judge(promises: &[Promise], now: &BTreeMap<String, Timing>, limits: &Limits) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in promises {
        let Some(t) = now.get(&p.query.name) else { continue };
        let ms = t.median.as_secs_f64() * 1000.0;
        let unmet = queries::judge(&p.expect, &t.facts, t.median);
        if !unmet.is_empty() {
            out.push(Finding {
                id: format!("watch.query_expect.{}", p.query.name),
                words: format!(
                    "{} expects {}, and now has {} ({ms:.2} ms, plan {}): a promise of the push broken after it",
                    p.query.name,
                    p.expect.describe(),
                    unmet.join("; "),
                    t.plan
                ),
            });
        }
        if let Some((after_ms, plan)) = &p.after_push {
            let factor = ms / after_ms.max(1e-6);
            if factor > limits.max_slowdown && ms - after_ms >= NOTICEABLE_MS {
                out.push(Finding {
                    id: format!("watch.promise.{}", p.query.name),
                    words: format!(
                        "{}: {ms:.2} ms now, {after_ms:.2} ms right after the push ({factor:.1}x slower, limit {:.1}x); \
                         plan now {}, after the push {plan}",
                        p.query.name, limits.max_slowdown, t.plan
                    ),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A timing measured at `ms`, with its plan.
    fn timing_of(ms: f64, plan: &str, seq_scanned: &[&str]) -> Timing {
        Timing {
            median: Duration::from_secs_f64(ms / 1000.0),
            plan: plan.to_string(),
            facts: timing::PlanFacts {
                seq_scanned: seq_scanned.iter().map(|s| s.to_string()).collect(),
                relations: seq_scanned.iter().map(|s| s.to_string()).collect(),
                joins: 0,
            },
        }
    }

    fn limits() -> Limits {
        Limits { max_slowdown: 2.0, max_blocking: Duration::from_secs(1), max_rollback_rate: 0.05 }
    }

    fn promise(expect: Expect, after_push: Option<f64>) -> Promise {
        Promise {
            query: TimedQuery { name: "inbox".into(), sql: "select 1".into() },
            expect,
            after_push: after_push.map(|ms| (ms, "Index Scan (notes_owner)".to_string())),
        }
    }

    #[test]
    fn a_promise_is_broken_by_a_lost_index_or_a_slowdown_since_the_push() {
        let index = Expect { index_scan: true, ..Expect::default() };
        let fast = timing_of(0.4, "Index Scan (notes_owner)", &[]);
        let slow = timing_of(12.0, "Seq Scan (notes)", &["notes"]);
        let cases: Vec<(Promise, Timing, Vec<&str>)> = vec![
            (promise(index.clone(), Some(0.4)), fast.clone(), vec![]),
            (promise(index.clone(), Some(0.4)), slow.clone(), vec!["watch.query_expect.inbox", "watch.promise.inbox"]),
            // No expectation in the file: only the time right after the push holds it.
            (promise(Expect::default(), Some(0.4)), slow.clone(), vec!["watch.promise.inbox"]),
            // Not timed by db-push: only the file's expectation.
            (promise(index, None), slow.clone(), vec!["watch.query_expect.inbox"]),
            // 3x slower by 0.8 ms: past both limits.
            (
                promise(Expect::default(), Some(0.4)),
                timing_of(1.2, "Index Scan (notes_owner)", &[]),
                vec!["watch.promise.inbox"],
            ),
            // 3x slower by 0.2 ms: noise.
            (promise(Expect::default(), Some(0.1)), timing_of(0.3, "Index Scan (notes_owner)", &[]), vec![]),
        ];
        for (p, now, expected) in cases {
            let now = BTreeMap::from([("inbox".to_string(), now)]);
            let ids: Vec<String> = judge(std::slice::from_ref(&p), &now, &limits()).into_iter().map(|f| f.id).collect();
            assert_eq!(ids, expected, "{p:?}");
        }
    }
}
