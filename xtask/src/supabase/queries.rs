//! A project's own timed queries, `supabase/queries/*.sql`: one query per file, timed as a
//! signed-in user (role `authenticated` with that user's claims, read-only, rolled back) before
//! and after the migration by `db-rehearse` and `db-push`, each with what the project expects of
//! it after the migration. The format:
//!
//! ```sql
//! -- The chat screen: a user's latest messages.
//! -- xtask:expect index-scan no-join under=10ms
//! SELECT id, content FROM public.messages ORDER BY created_at DESC LIMIT 50;
//! ```
//!
//! The query's name is the file's stem. `index-scan`: no sequential scan anywhere in the plan;
//! `no-join`: the plan reads one table (no join, and no policy subquery on another table);
//! `under=DURATION`: the median of the runs is under it. The query runs as the user it is timed
//! for, so `auth.uid()` and RLS apply as in the app. Parsing and judging are pure.

use std::{path::Path, time::Duration};

use crate::db_rehearse::timing::{PlanFacts, TimedQuery};

pub const DIR: &str = "queries";
pub const EXPECT: &str = "-- xtask:expect";

/// What a query file says the plan and time must be after the migration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    pub index_scan: bool,
    pub no_join: bool,
    pub under: Option<Duration>,
}

impl Expect {
    pub fn is_empty(&self) -> bool {
        *self == Expect::default()
    }

    /// The expectation as written, for a report.
    pub fn describe(&self) -> String {
        let mut words = Vec::new();
        if self.index_scan {
            words.push("index scan".to_string());
        }
        if self.no_join {
            words.push("no join".to_string());
        }
        if let Some(d) = self.under {
            words.push(format!("under {} ms", d.as_secs_f64() * 1000.0));
        }
        words.join(", ")
    }
}

/// A project query: its name, SQL and expectations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectQuery {
    pub name: String,
    pub sql: String,
    pub expect: Expect,
}

impl ProjectQuery {
    pub fn timed(&self) -> TimedQuery {
        TimedQuery { name: self.name.clone(), sql: self.sql.clone() }
    }
}

/// The project's query files in name order; none when the folder does not exist. An error names
/// the file and what is wrong with it.
pub fn load(supabase_dir: &Path) -> anyhow::Result<Vec<ProjectQuery>> {
    let dir = supabase_dir.join(DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut paths: Vec<_> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "sql")).collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("reading {}: {e}", p.display()))?;
            let name = p.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            parse(&name, &text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        })
        .collect()
}

/// One query file.
pub fn parse(name: &str, text: &str) -> Result<ProjectQuery, String> {
    let mut expect = Expect::default();
    for line in text.lines().map(str::trim).filter(|l| l.starts_with(EXPECT)) {
        for word in line[EXPECT.len()..].split_whitespace() {
            match word.split_once('=') {
                None if word == "index-scan" => expect.index_scan = true,
                None if word == "no-join" => expect.no_join = true,
                Some(("under", d)) => {
                    expect.under =
                        Some(d.parse::<crate::span::Span>().map_err(|e| format!("`{word}` in `{EXPECT}`: {e}"))?.0);
                }
                _ => {
                    return Err(format!(
                    "`{word}` in `{EXPECT}` is not understood; it takes `index-scan`, `no-join` and `under=DURATION`"
                ))
                }
            }
        }
    }
    let statements = crate::runner::sql_split::split(text);
    let [stmt] = statements.as_slice() else {
        return Err(format!("a query file holds one query, and this one has {} statements", statements.len()));
    };
    let sql = stmt.sql.trim().trim_end_matches(';').trim_end().to_string();
    let first = sql.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("--")).unwrap_or_default();
    let word = first.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
    if !matches!(word.as_str(), "select" | "with" | "table" | "values") {
        return Err(format!(
            "a query file holds a read query (SELECT or WITH), not `{word}`: it is timed on production"
        ));
    }
    Ok(ProjectQuery { name: name.to_string(), sql, expect })
}

/// The user `who` names in `auth.users` (its id, or its e-mail in any case); with no `who`, the
/// first user. An error when `who` names nobody.
pub async fn user(conn: &mut sqlx::PgConnection, who: Option<&str>) -> anyhow::Result<Option<uuid::Uuid>> {
    let found: Option<uuid::Uuid> = match who {
        Some(who) => {
            sqlx::query_scalar("SELECT id FROM auth.users WHERE id::text = $1 OR lower(email) = lower($1) LIMIT 1")
                .bind(who)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => sqlx::query_scalar("SELECT id FROM auth.users ORDER BY created_at, id LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .unwrap_or(None),
    };
    match (who, found) {
        (Some(who), None) => anyhow::bail!(
            "--as-user {who}: no user of the target's auth.users has that id or e-mail; name a user who signs in to the app"
        ),
        (_, found) => Ok(found),
    }
}

/// One check per query that states expectations: `<prefix>.<name>`, failed with what it missed.
pub fn checks(
    prefix: &str,
    queries: &[ProjectQuery],
    after: &std::collections::BTreeMap<String, crate::db_rehearse::timing::Timing>,
) -> Vec<crate::report::Check> {
    use crate::report::{Check, Status};
    let mut out = Vec::new();
    for q in queries.iter().filter(|q| !q.expect.is_empty()) {
        let check =
            Check::new(format!("{prefix}.{}", q.name), "a project query meets what its file expects", Status::Pass)
                .value(q.expect.describe());
        out.push(match after.get(&q.name) {
            None => Check { status: Status::Warn, ..check }
                .detail("it was not timed: no signed-in user to run it as (pass --as-user, or load users)"),
            Some(t) => match judge(&q.expect, &t.facts, t.median) {
                unmet if unmet.is_empty() => {
                    check.detail(format!("{:.2} ms, plan {}", t.median.as_secs_f64() * 1000.0, t.plan))
                }
                unmet => {
                    Check { status: Status::Fail, ..check }.detail(format!("{}; plan {}", unmet.join("; "), t.plan))
                }
            },
        });
    }
    out
}

/// What the query's plan and median miss of its expectations, in words; empty when all hold.
pub fn judge(expect: &Expect, plan: &PlanFacts, median: Duration) -> Vec<String> {
    let mut unmet = Vec::new();
    if expect.index_scan && !plan.seq_scanned.is_empty() {
        unmet.push(format!("a sequential scan of {}", plan.seq_scanned.iter().cloned().collect::<Vec<_>>().join(", ")));
    }
    if expect.no_join && (plan.joins > 0 || plan.relations.len() > 1) {
        unmet.push(format!(
            "it reads {} table(s) ({}) with {} join(s)",
            plan.relations.len(),
            plan.relations.iter().cloned().collect::<Vec<_>>().join(", "),
            plan.joins
        ));
    }
    if let Some(limit) = expect.under.filter(|l| median >= *l) {
        unmet.push(format!(
            "its median is {:.2} ms, not under {} ms",
            median.as_secs_f64() * 1000.0,
            limit.as_secs_f64() * 1000.0
        ));
    }
    unmet
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_query_file_and_what_is_refused() {
        let q =
            parse("latest", "-- The chat screen.\n-- xtask:expect index-scan no-join under=10ms\nSELECT 1 FROM t;\n");
        assert_eq!(
            q,
            Ok(ProjectQuery {
                name: "latest".into(),
                sql: "-- The chat screen.\n-- xtask:expect index-scan no-join under=10ms\nSELECT 1 FROM t".into(),
                expect: Expect { index_scan: true, no_join: true, under: Some(Duration::from_millis(10)) },
            })
        );
        assert_eq!(parse("n", "with x as (select 1) select * from x").map(|q| q.expect.is_empty()), Ok(true));
        let refused = [
            ("-- xtask:expect fast\nSELECT 1", "not understood"),
            ("-- xtask:expect under=soon\nSELECT 1", "under=soon"),
            ("SELECT 1; SELECT 2;", "2 statements"),
            ("DELETE FROM t", "not `delete`"),
        ];
        for (text, words) in refused {
            match parse("q", text) {
                Err(e) => assert!(e.contains(words), "{text}: {e}"),
                Ok(q) => panic!("{text}: {q:?}"),
            }
        }
    }

    #[test]
    fn each_expectation_is_judged_on_the_plan_and_the_median() {
        let all = Expect { index_scan: true, no_join: true, under: Some(Duration::from_millis(10)) };
        let plan = |seq: &[&str], rels: &[&str], joins| PlanFacts {
            seq_scanned: seq.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            relations: rels.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            joins,
        };
        let ms = Duration::from_millis;
        let cases = [
            (plan(&[], &["messages"], 0), ms(2), 0, ""),
            (plan(&["messages"], &["messages"], 0), ms(2), 1, "a sequential scan of messages"),
            (plan(&[], &["conversations", "messages"], 1), ms(2), 1, "reads 2 table(s)"),
            // A policy subquery on another table is a second table read, joined or not.
            (plan(&[], &["conversations", "messages"], 0), ms(2), 1, "with 0 join(s)"),
            (plan(&[], &["messages"], 0), ms(10), 1, "median is 10.00 ms, not under 10 ms"),
        ];
        for (facts, median, n, words) in cases {
            let unmet = judge(&all, &facts, median);
            assert_eq!(unmet.len(), n, "{facts:?}: {unmet:?}");
            assert!(unmet.iter().all(|u| u.contains(words)), "{unmet:?}");
        }
        assert!(judge(&Expect::default(), &plan(&["m"], &["m", "c"], 3), ms(900)).is_empty());
    }
}
