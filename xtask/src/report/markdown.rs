//! The report as Markdown, for people who read it in a pull request or a file: the outcome, a
//! table of every check with failures first, then each check's detail. Pure.

use std::fmt::Write;

use super::{Outcome, Report, Status};

fn rank(status: Status) -> u8 {
    match status {
        Status::Fail => 0,
        Status::Warn => 1,
        Status::Pass => 2,
        Status::Info => 3,
        Status::Skip => 4,
    }
}

fn word(status: Status) -> &'static str {
    match status {
        Status::Pass => "✅ pass",
        Status::Fail => "❌ fail",
        Status::Warn => "⚠️ warn",
        Status::Info => "ℹ️ info",
        Status::Skip => "⏭️ skip",
    }
}

/// A table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `preamble` lines go under the heading (when, who, target …).
pub fn markdown(report: &Report, heading: &str, preamble: &[String]) -> String {
    let mut out = format!("# {heading}\n\n");
    for line in preamble {
        let _ = writeln!(out, "- {line}");
    }
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let outcome = match (&report.error, report.outcome) {
        (Some(_), _) => "STOPPED (environment or usage error)",
        (None, Outcome::Pass) => "PASSED",
        (None, Outcome::Fail) => "FAILED",
    };
    let coverage =
        report.check(super::COVERAGE).and_then(|c| c.value.as_deref()).map(|v| format!(" ({v})")).unwrap_or_default();
    let _ = writeln!(
        out,
        "\n**{} {outcome}**{coverage}: {} pass, {} fail, {} warn, {} info, {} skip in {:.1} s\n",
        report.command,
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn),
        count(Status::Info),
        count(Status::Skip),
        report.total_millis as f64 / 1000.0
    );
    if let Some(e) = &report.error {
        let _ = writeln!(out, "> {}\n", cell(e));
    }
    let mut checks: Vec<_> = report.checks.iter().collect();
    checks.sort_by_key(|c| rank(c.status));
    out.push_str("| status | check | result |\n|---|---|---|\n");
    for c in &checks {
        let result = c.value.as_deref().map(cell).unwrap_or_default();
        let _ = writeln!(out, "| {} | `{}` {} | {result} |", word(c.status), c.id, cell(&c.title));
    }
    let detailed: Vec<_> = checks.iter().filter(|c| c.detail.is_some()).collect();
    if !detailed.is_empty() {
        out.push_str("\n## Details\n");
    }
    for c in detailed {
        let detail = c.detail.as_deref().unwrap_or("");
        let _ = writeln!(out, "\n### {} `{}`\n", word(c.status), c.id);
        match table(&c.id, detail) {
            Some(t) => out.push_str(&t),
            None => {
                let _ = writeln!(out, "```text\n{detail}\n```");
            }
        }
    }
    out
}

/// A detail that is a table, as a Markdown table: lines of `a | b | c` with a header line (the
/// query-speed table), or an access-matrix difference (`rls.matrix.<table>`, a change a line).
fn table(id: &str, detail: &str) -> Option<String> {
    let lines: Vec<&str> = detail.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = String::new();
    if let Some(relation) = id.strip_prefix("rls.matrix.") {
        out.push_str("| table | what changed |\n|---|---|\n");
        for l in &lines {
            let _ = writeln!(out, "| {relation} | {} |", cell(l.trim()));
        }
        return Some(out);
    }
    let columns = lines.first()?.matches(" | ").count();
    if lines.len() < 2 || columns == 0 || lines.iter().any(|l| l.matches(" | ").count() != columns) {
        return None;
    }
    for (i, l) in lines.iter().enumerate() {
        let cells: Vec<String> = l.split(" | ").map(|c| c.trim().replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if i == 0 {
            let _ = writeln!(out, "|{}", "---|".repeat(columns + 1));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Check;

    #[test]
    fn failures_come_first_with_their_detail() {
        let mut r = Report::quiet("db-push");
        r.push(Check::new("push.plan", "migrations to push", Status::Info).value(2));
        r.push(Check::new("push.apply.1", "1_a.sql applies", Status::Fail).detail("1_a.sql:3: ERROR 42P01 | x"));
        let md = markdown(&r, "db-push record", &["when: now".to_string()]);
        assert!(md.starts_with("# db-push record\n\n- when: now\n"), "{md}");
        assert!(md.contains("**db-push FAILED**: 0 pass, 1 fail, 0 warn, 1 info, 0 skip"), "{md}");
        let fail = md.find("| ❌ fail | `push.apply.1`").unwrap_or(usize::MAX);
        let info = md.find("| ℹ️ info | `push.plan` migrations to push | 2 |").unwrap_or(0);
        assert!(fail < info, "{md}");
        assert!(md.contains("### ❌ fail `push.apply.1`\n\n```text\n1_a.sql:3: ERROR 42P01 | x\n```"), "{md}");
    }

    #[test]
    fn tables_in_details_become_markdown_tables() {
        let speed =
            "query | before (median) | after (median)\ncount | 11.50 ms | 0.41 ms\nlatest | 17.06 ms | 0.62 ms\n";
        assert_eq!(
            table("push.query_speed", speed).as_deref(),
            Some("| query | before (median) | after (median) |\n|---|---|---|\n| count | 11.50 ms | 0.41 ms |\n| latest | 17.06 ms | 0.62 ms |\n")
        );
        let rls = "anon can now see 4 row(s) of public.notes\nu1 can now see 2 row(s) that are not its own";
        let t = table("rls.matrix.public.notes", rls).unwrap_or_default();
        assert!(
            t.starts_with(
                "| table | what changed |\n|---|---|\n| public.notes | anon can now see 4 row(s) of public.notes |\n"
            ),
            "{t}"
        );
        assert_eq!(table("x", "one line | only"), None);
        assert_eq!(table("x", "a | b\nc"), None);
    }
}
