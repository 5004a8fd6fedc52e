//! One way to silence any finding: `-- xtask:ignore <check-id> <reason>` in a pending migration
//! file. The id may be a whole check id or its leading parts (`rehearse.row_blocking.20251116173502`
//! silences that file's row-lock findings); a word without a dot names a static rule and silences
//! it on the statement below (`db_lint`). A silenced check stays in the report, marked with the
//! reason and where it was given; a silence without a reason, or one that silenced nothing this
//! command checks, is a failed check itself. Pure.

use super::{Check, Report, Status};

/// One `-- xtask:ignore` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub id: String,
    pub reason: String,
    /// `file:line`, for the report.
    pub at: String,
    /// The file's path and line, for annotations.
    pub path: std::path::PathBuf,
    pub line: usize,
}

pub const DIRECTIVE: &str = "-- xtask:ignore";

/// The check-id suppressions of a file (words with a dot; rule names are the linter's).
pub fn parse(file_name: &str, path: &std::path::Path, text: &str) -> Vec<Suppression> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix(DIRECTIVE) else { continue };
        let rest = rest.trim();
        let (id, reason) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if id.contains('.') {
            out.push(Suppression {
                id: id.to_string(),
                reason: reason.trim().to_string(),
                at: format!("{file_name}:{}", n + 1),
                path: path.to_path_buf(),
                line: n + 1,
            });
        }
    }
    out
}

fn matches(id: &str, check: &str) -> bool {
    check == id || check.strip_prefix(id).is_some_and(|rest| rest.starts_with('.'))
}

/// How `check` reads once a suppression (with a reason) silences it: information, saying where
/// and why; with the suppression's index. `None` when nothing silences it. The console streams
/// this as the check happens, and the sealed report holds the same.
pub fn silenced(check: &Check, suppressions: &[Suppression]) -> Option<(usize, Check)> {
    if !matches!(check.status, Status::Fail | Status::Warn) {
        return None;
    }
    let (i, s) = suppressions.iter().enumerate().find(|(_, s)| !s.reason.is_empty() && matches(&s.id, &check.id))?;
    let was = if check.status == Status::Fail { "failed" } else { "warned" };
    let original = check.detail.clone().unwrap_or_default();
    let detail = format!("{was}, silenced at {}: {}\n{original}", s.at, s.reason).trim_end().to_string();
    Some((i, Check { status: Status::Info, detail: Some(detail), ..check.clone() }))
}

/// Marks the failed and warned checks that a suppression names, and adds a failed check for each
/// suppression without a reason or that silenced nothing among the checks of its kind.
pub fn apply(report: &mut Report, suppressions: &[Suppression]) {
    if suppressions.is_empty() {
        return;
    }
    let mut used = vec![false; suppressions.len()];
    for check in report.checks.iter_mut() {
        let Some((i, silenced)) = silenced(check, suppressions) else { continue };
        used[i] = true;
        *check = silenced;
    }
    // A roll-up (`lint.static` over `lint.static.*`) that failed only because of findings now all
    // silenced fails no more.
    let silenced: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.detail.as_deref().is_some_and(|d| d.contains(", silenced at ")))
        .map(|c| c.id.clone())
        .collect();
    let failing: Vec<String> =
        report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id.clone()).collect();
    let child_of = |parent: &str, id: &str| id.strip_prefix(parent).is_some_and(|rest| rest.starts_with('.'));
    for check in report.checks.iter_mut().filter(|c| c.status == Status::Fail) {
        let some_silenced = silenced.iter().any(|id| child_of(&check.id, id));
        let none_failing = !failing.iter().any(|id| child_of(&check.id, id));
        if some_silenced && none_failing {
            check.status = Status::Info;
            let original = check.detail.take().unwrap_or_default();
            check.detail = Some(
                format!("failed only on findings that are silenced, each with its reason\n{original}")
                    .trim_end()
                    .to_string(),
            );
        }
    }
    // A suppression of a kind this command never checks (a rehearsal finding under db-lint, a
    // static lint finding under db-rls, which runs the catalog lints but not the static ones) is
    // not judged here: its kind is its first two id segments, and the command checks that kind
    // when one of its checks starts with them.
    let family = |id: &str| id.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    for (s, used) in suppressions.iter().zip(used) {
        let kind = family(&s.id);
        let checked_here = report.checks.iter().any(|c| c.id == kind || c.id.starts_with(&format!("{kind}.")));
        let problem = if s.reason.is_empty() {
            format!("`{DIRECTIVE} {}` gives no reason: say why after the id, for the reviewer", s.id)
        } else if !used && checked_here {
            format!(
                "`{DIRECTIVE} {}` silences nothing: no failed or warned check has that id (or starts with it); \
                 remove it, or correct the id",
                s.id
            )
        } else {
            continue;
        };
        let check = Check::new(
            format!("suppress.{}", s.at.replace(':', ".")),
            "every silence names a finding and why",
            Status::Fail,
        )
        .value(&s.at)
        .detail(problem)
        .at(&s.path, s.line, 1);
        report.push(check);
    }
    let outcome_failed = report.checks.iter().any(|c| c.status == Status::Fail);
    report.outcome = if outcome_failed || report.error.is_some() { super::Outcome::Fail } else { super::Outcome::Pass };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut r = Report::quiet("db-rehearse");
        r.push(Check::new("rehearse.row_blocking.2.9.messages", "row locks", Status::Fail).detail("held 3 s"));
        r.push(Check::new("rehearse.latency.2", "latency", Status::Fail));
        r.push(Check::new("rehearse.apply.2", "applies", Status::Pass));
        r.push(Check::new("rehearse.blocking.2", "blocking", Status::Pass));
        r
    }

    #[test]
    fn a_silence_is_judged_only_by_the_commands_that_check_its_kind() {
        let text = "-- xtask:ignore lint.static.xtask-policy-using-true.2.3 the catalogue is public\n\
                    -- xtask:ignore lint.view_bypasses_rls.public.v the view is public\n";
        let s = parse("2_x.sql", std::path::Path::new("m/2_x.sql"), text);
        // db-rls runs the catalog lints, not the static ones.
        let mut r = Report::quiet("db-rls");
        r.push(Check::new("lint.view_bypasses_rls", "views", Status::Pass));
        r.push(Check::new("lint.auth_rls_initplan", "initplan", Status::Pass));
        apply(&mut r, &s);
        assert_eq!(r.check("suppress.2_x.sql.1").map(|c| c.status), None, "not db-rls's to judge");
        assert_eq!(r.check("suppress.2_x.sql.2").map(|c| c.status), Some(Status::Fail), "silences nothing it checks");
        // db-local-test lints: the static silence that matches nothing fails there.
        let mut r = Report::quiet("db-local-test");
        r.push(Check::new("lint.static", "static", Status::Pass));
        apply(&mut r, &s);
        assert_eq!(r.check("suppress.2_x.sql.1").map(|c| c.status), Some(Status::Fail));
    }

    #[test]
    fn a_silenced_finding_streams_as_silenced_with_its_reason() {
        let s =
            parse("2_x.sql", std::path::Path::new("m/2_x.sql"), "-- xtask:ignore rehearse.latency.2 a test table\n");
        let fail = Check::new("rehearse.latency.2", "latency", Status::Fail);
        let (_, shown) = silenced(&fail, &s).expect("silenced");
        assert_eq!(shown.status, Status::Info);
        assert_eq!(shown.detail.as_deref(), Some("failed, silenced at 2_x.sql:1: a test table"));
        assert!(silenced(&Check::new("rehearse.apply.2", "applies", Status::Fail), &s).is_none());
        assert!(silenced(&Check::new("rehearse.latency.2", "latency", Status::Pass), &s).is_none());
    }

    #[test]
    fn a_silence_needs_a_reason_and_a_finding() {
        let text = "-- xtask:ignore rehearse.row_blocking.2 backfill of 40 rows, locks for ms\n\
                    -- xtask:ignore rehearse.latency.2\n\
                    -- xtask:ignore rehearse.blocking.2 nothing blocks\n\
                    -- xtask:ignore lint.static.renaming-column.2.3 not checked by db-rehearse\n\
                    -- xtask:ignore xtask-grant-to-anon a rule name is the linter's\nselect 1;";
        let s = parse("2_x.sql", std::path::Path::new("m/2_x.sql"), text);
        assert_eq!(
            s.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["rehearse.row_blocking.2", "rehearse.latency.2", "rehearse.blocking.2", "lint.static.renaming-column.2.3"]
        );
        let mut r = report();
        apply(&mut r, &s);
        let status = |id: &str| r.check(id).map(|c| c.status);
        assert_eq!(status("rehearse.row_blocking.2.9.messages"), Some(Status::Info));
        let d = r.check("rehearse.row_blocking.2.9.messages").and_then(|c| c.detail.clone()).unwrap_or_default();
        assert_eq!(d, "failed, silenced at 2_x.sql:1: backfill of 40 rows, locks for ms\nheld 3 s");
        // No reason: it silences nothing, and says so.
        assert_eq!(status("rehearse.latency.2"), Some(Status::Fail));
        assert_eq!(status("suppress.2_x.sql.2"), Some(Status::Fail));
        // Silences nothing of what db-rehearse checks.
        assert_eq!(status("suppress.2_x.sql.3"), Some(Status::Fail));
        // A lint id is not db-rehearse's to judge.
        assert_eq!(status("suppress.2_x.sql.4"), None);
        assert!(r.failed());

        let mut r = report();
        let ok = "-- xtask:ignore rehearse.row_blocking why one\n-- xtask:ignore rehearse.latency.2 why two\n";
        apply(&mut r, &parse("2_x.sql", std::path::Path::new("m/2_x.sql"), ok));
        assert!(r.checks.iter().all(|c| c.status != Status::Fail), "{:#?}", r.checks);
        assert!(!r.failed());
    }

    #[test]
    fn a_roll_up_of_silenced_findings_fails_no_more_but_one_with_a_live_finding_does() {
        let lint = |findings: &[&str]| {
            let mut r = Report::quiet("db-lint");
            for id in findings {
                r.push(Check::new(*id, "rule", Status::Fail));
            }
            r.push(Check::new("lint.static", "all rules", Status::Fail));
            r
        };
        let silence =
            parse("5_x.sql", std::path::Path::new("r/5_x.sql"), "-- xtask:ignore lint.static.a.5 rebuilt on purpose\n");
        let mut r = lint(&["lint.static.a.5.9"]);
        apply(&mut r, &silence);
        assert_eq!(r.check("lint.static").map(|c| c.status), Some(Status::Info));
        assert!(!r.failed());
        let mut r = lint(&["lint.static.a.5.9", "lint.static.b.6.1"]);
        apply(&mut r, &silence);
        assert_eq!(r.check("lint.static").map(|c| c.status), Some(Status::Fail), "b.6 is not silenced");
    }
}
