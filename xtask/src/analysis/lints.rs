//! Supabase-style database lints as catalog queries of our own, over the exposed schemas we are
//! told about (not `pgrst.db_schemas`, which a bare Postgres leaves empty). Findings the pending
//! migrations add are warnings or failures; findings that were already there are information.

use std::collections::BTreeSet;

use anyhow::Context;
use sqlx::PgConnection;

use crate::report::{Check, Status};

/// One lint: a catalog query in `xtask/sql/lints/<id>.sql` (`$1` = exposed schemas; returns
/// `object text, detail text`) whose header says what it means (`-- title:`) and how bad a new
/// finding is (`-- severity: fail|warn|info`). Each has `<id>.bad.sql` and `<id>.good.sql`
/// fixtures that a test applies.
pub struct Lint {
    pub id: &'static str,
    pub sql: &'static str,
}

macro_rules! lint {
    ($id:literal) => {
        Lint { id: $id, sql: include_str!(concat!("../../sql/lints/", $id, ".sql")) }
    };
}

pub const LINTS: &[Lint] = &[
    lint!("security_definer_api_callable"),
    lint!("auth_rls_initplan"),
    lint!("security_definer_search_path"),
    lint!("security_definer_executable_by_anon"),
    lint!("rls_disabled_in_exposed_schema"),
    lint!("rls_disabled_without_grants"),
    lint!("policy_exists_rls_disabled"),
    lint!("unindexed_foreign_keys"),
    lint!("multiple_permissive_policies"),
    lint!("unenforced_denormalized_owner"),
    lint!("view_bypasses_rls"),
    lint!("materialized_view_in_api"),
    lint!("security_definer_returns_rls_rows"),
];

impl Lint {
    fn header(&self, key: &str) -> Option<&'static str> {
        let prefix = format!("-- {key}:");
        self.sql.lines().find_map(|l| l.strip_prefix(prefix.as_str())).map(str::trim)
    }

    pub fn title(&self) -> &'static str {
        self.header("title").unwrap_or(self.id)
    }

    pub fn severity(&self) -> Status {
        match self.header("severity") {
            Some("warn") => Status::Warn,
            Some("info") => Status::Info,
            _ => Status::Fail,
        }
    }
}

/// (lint id, object, detail).
pub type Finding = (String, String, String);

pub async fn run(conn: &mut PgConnection, schemas: &[String]) -> anyhow::Result<BTreeSet<Finding>> {
    let mut out = BTreeSet::new();
    for lint in LINTS {
        let rows: Vec<(String, String)> = sqlx::query_as(lint.sql)
            .bind(schemas)
            .fetch_all(&mut *conn)
            .await
            .with_context(|| format!("running lint {}", lint.id))?;
        out.extend(rows.into_iter().map(|(object, detail)| (lint.id.to_string(), object, detail)));
    }
    Ok(out)
}

/// One check per lint: findings the migrations add, or that sit on an object they changed
/// (`changed`, catalog names such as `function public.f(a uuid)`), at the lint's severity;
/// findings that were already there on untouched objects as information.
/// Lints about a door the API may open: a new finding for an object in `excused` (a migration's
/// `-- xtask:rls-widens <object> <why>`, or probes that read nothing past RLS through it) warns,
/// saying which.
const DECLARABLE: &[&str] = &[
    "view_bypasses_rls",
    "materialized_view_in_api",
    "security_definer_api_callable",
    "security_definer_executable_by_anon",
    "security_definer_returns_rls_rows",
];

pub fn compare(
    before: &BTreeSet<Finding>,
    after: &BTreeSet<Finding>,
    changed: &BTreeSet<String>,
    excused: &std::collections::BTreeMap<String, String>,
) -> Vec<Check> {
    let same = |a: &Finding, b: &Finding| a.0 == b.0 && a.1 == b.1 && !changed.contains(&a.1);
    let declared = |f: &Finding| {
        // `view public.v`, `function public.f(uuid)` → `public.v`, `public.f`
        let object = f.1.rsplit(' ').next().unwrap_or(&f.1).split('(').next().unwrap_or(&f.1);
        DECLARABLE.contains(&f.0.as_str()).then(|| excused.get(object)).flatten()
    };
    LINTS
        .iter()
        .map(|lint| {
            let found: Vec<&Finding> = after.iter().filter(|f| f.0 == lint.id).collect();
            let (old, new): (Vec<&Finding>, Vec<&Finding>) =
                found.iter().partition(|f| before.iter().any(|b| same(b, f)));
            let (on_purpose, new): (Vec<&Finding>, Vec<&Finding>) =
                new.into_iter().partition(|f| declared(f).is_some());
            let mut lines: Vec<String> = new
                .iter()
                .map(|f| {
                    let was_there = before.iter().any(|b| b.0 == f.0 && b.1 == f.1);
                    let how = if was_there { "changed by the migration, still" } else { "new" };
                    format!("{how}: {} — {}", f.1, f.2)
                })
                .collect();
            lines.extend(
                on_purpose.iter().map(|f| format!("{} — {}; {}", f.1, declared(f).cloned().unwrap_or_default(), f.2)),
            );
            lines.extend(old.iter().map(|f| format!("already there: {} — {}", f.1, f.2)));
            let status = if !new.is_empty() {
                lint.severity()
            } else if !on_purpose.is_empty() {
                Status::Warn
            } else if !old.is_empty() {
                Status::Info
            } else {
                Status::Pass
            };
            Check::new(format!("lint.{}", lint.id), lint.title(), status)
                .value(format!("{} new, {} already there", new.len(), old.len()))
                .detail(lines.join("\n"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(lint: &str, object: &str) -> Finding {
        (lint.to_string(), object.to_string(), "why".to_string())
    }

    fn check(before: &[Finding], after: &[Finding], changed: &[&str], lint: &str, expected: (Status, &str)) {
        let before: BTreeSet<Finding> = before.iter().cloned().collect();
        let after: BTreeSet<Finding> = after.iter().cloned().collect();
        let changed: BTreeSet<String> = changed.iter().map(|s| s.to_string()).collect();
        let widens = [("public.open".to_string(), "declared: public on purpose".to_string())].into_iter().collect();
        let checks = compare(&before, &after, &changed, &widens);
        let c = checks
            .iter()
            .find(|c| c.id == format!("lint.{lint}"))
            .map(|c| (c.status, c.value.clone().unwrap_or_default()));
        assert_eq!(c, Some((expected.0, expected.1.to_string())), "{lint}");
    }

    #[test]
    fn new_findings_take_the_lint_severity_old_ones_are_information() {
        let f = |o| finding("rls_disabled_in_exposed_schema", o);
        let lint = "rls_disabled_in_exposed_schema";
        check(&[], &[], &[], lint, (Status::Pass, "0 new, 0 already there"));
        check(&[], &[f("table public.a")], &[], lint, (Status::Fail, "1 new, 0 already there"));
        check(&[f("table public.a")], &[f("table public.a")], &[], lint, (Status::Info, "0 new, 1 already there"));
        // A finding on an object the migration changed counts as the migration's.
        check(
            &[f("table public.a")],
            &[f("table public.a")],
            &["table public.a"],
            lint,
            (Status::Fail, "1 new, 0 already there"),
        );
        // A door the migration declares open on purpose warns.
        let v = |o| finding("view_bypasses_rls", o);
        check(&[], &[v("view public.open")], &[], "view_bypasses_rls", (Status::Warn, "0 new, 0 already there"));
        check(&[], &[v("view public.shut")], &[], "view_bypasses_rls", (Status::Fail, "1 new, 0 already there"));
        let w = |o| finding("unindexed_foreign_keys", o);
        check(
            &[],
            &[w("constraint c on public.a")],
            &[],
            "unindexed_foreign_keys",
            (Status::Warn, "1 new, 0 already there"),
        );
    }

    #[test]
    fn every_lint_has_a_title_a_severity_and_both_fixtures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sql/lints");
        for lint in LINTS {
            assert!(lint.header("title").is_some(), "{} has no -- title:", lint.id);
            assert!(
                matches!(lint.header("severity"), Some("fail" | "warn" | "info")),
                "{} has no -- severity:",
                lint.id
            );
            for kind in ["bad", "good"] {
                assert!(dir.join(format!("{}.{kind}.sql", lint.id)).is_file(), "{} lacks its {kind} fixture", lint.id);
            }
        }
        let files = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(files, LINTS.len() * 3, "every file in sql/lints belongs to a listed lint");
    }
}
