//! The report where reviewers look: JUnit XML (GitLab, Jenkins, Azure show it natively), GitLab
//! code-quality JSON, and GitHub workflow commands (annotations on the changed lines of a pull
//! request). Markdown is `markdown`. Pure: a report in, text out.

use std::fmt::Write;

use sha2::Digest;

use super::{Check, Report, Status};

/// What `--format` prints at the end, on stdout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Checks as they happen and a summary line, for people at a terminal.
    #[default]
    Human,
    /// A Markdown summary, failures first (what $GITHUB_STEP_SUMMARY gets too).
    Markdown,
    /// JUnit XML: one test case per check.
    Junit,
    /// GitLab code-quality JSON: one issue per failed or warned check.
    Gitlab,
    /// GitHub workflow commands: an annotation per failed or warned check, on its file and line.
    Github,
}

/// The report in `format`; `None` for `human` (printed as it grows instead).
pub fn render(report: &Report, format: Format) -> Option<String> {
    match format {
        Format::Human => None,
        Format::Markdown => Some(super::markdown::markdown(report, &format!("{} report", report.command), &[])),
        Format::Junit => Some(junit(report)),
        Format::Gitlab => Some(gitlab(report)),
        Format::Github => Some(github(report)),
    }
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub fn junit(report: &Report) -> String {
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites>\n<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        xml(&report.command),
        report.checks.len(),
        count(Status::Fail),
        usize::from(report.error.is_some()),
        count(Status::Skip),
        report.total_millis as f64 / 1000.0
    );
    for c in &report.checks {
        let name = xml(&c.id);
        let body = xml(&[c.value.as_deref(), c.detail.as_deref()].into_iter().flatten().collect::<Vec<_>>().join("\n"));
        let _ = write!(out, "<testcase classname=\"{}\" name=\"{name}\">", xml(&report.command));
        match c.status {
            Status::Fail => {
                let _ = write!(out, "<failure message=\"{}\">{body}</failure>", xml(&c.title));
            }
            Status::Skip => {
                let _ = write!(out, "<skipped message=\"{}\"/>", xml(&c.title));
            }
            Status::Warn => {
                let _ = write!(out, "<system-out>warning: {}\n{body}</system-out>", xml(&c.title));
            }
            Status::Pass | Status::Info => {}
        }
        out.push_str("</testcase>\n");
    }
    if let Some(e) = &report.error {
        let _ = writeln!(
            out,
            "<testcase classname=\"{0}\" name=\"{0}\"><error message=\"stopped\">{1}</error></testcase>",
            xml(&report.command),
            xml(e)
        );
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

/// Failed and warned checks, and a stop: (severity word, check).
fn findings(report: &Report) -> impl Iterator<Item = &Check> {
    report.checks.iter().filter(|c| matches!(c.status, Status::Fail | Status::Warn))
}

pub fn gitlab(report: &Report) -> String {
    let issues: Vec<serde_json::Value> = findings(report)
        .map(|c| {
            let (path, line) = c.location.as_ref().map_or(("supabase".to_string(), 1), |l| (l.path.clone(), l.line));
            let description = match &c.detail {
                Some(d) => format!("{}: {}", c.title, d.lines().next().unwrap_or_default()),
                None => c.title.clone(),
            };
            serde_json::json!({
                "description": description,
                "check_name": c.id,
                "fingerprint": format!("{:x}", sha2::Sha256::digest(format!("{}:{path}", c.id))),
                "severity": if c.status == Status::Fail { "major" } else { "minor" },
                "location": { "path": path, "lines": { "begin": line } },
            })
        })
        .collect();
    serde_json::to_string_pretty(&issues).unwrap_or_else(|_| "[]".into()) + "\n"
}

/// GitHub's workflow-command escaping of a message, and of a property value.
fn gh_message(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn gh_property(text: &str) -> String {
    gh_message(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn github(report: &Report) -> String {
    let mut out = String::new();
    for c in findings(report) {
        let level = if c.status == Status::Fail { "error" } else { "warning" };
        let mut props = vec![format!("title={}", gh_property(&format!("{}: {}", c.id, c.title)))];
        if let Some(l) = &c.location {
            props.insert(0, format!("file={},line={},col={}", gh_property(&l.path), l.line, l.column));
        }
        let message = c.detail.clone().or_else(|| c.value.clone()).unwrap_or_else(|| c.title.clone());
        let _ = writeln!(out, "::{level} {}::{}", props.join(","), gh_message(&message));
    }
    if let Some(e) = &report.error {
        let _ =
            writeln!(out, "::error title={}::{}", gh_property(&format!("{} stopped", report.command)), gh_message(e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut r = Report::quiet("db-lint");
        r.push(
            Check::new("lint.static.renaming-column.2.3", "static rule renaming-column", Status::Fail)
                .value("2_x.sql:3:1")
                .detail("2_x.sql:3:1 `alter table t rename a to b`: renaming a column <breaks> clients\nfix: add a new column")
                .at("supabase/migrations/2_x.sql", 3, 1),
        );
        r.push(Check::new("lint.static", "squawk's rules", Status::Warn).detail("nothing, 100% pending"));
        r.push(Check::new("plan.pending", "pending", Status::Info).value(1));
        r
    }

    #[test]
    fn each_format_carries_the_failure_its_file_and_line() {
        let r = report();
        let x = junit(&r);
        assert!(x.contains("<testsuite name=\"db-lint\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\""), "{x}");
        assert!(x.contains("<failure message=\"static rule renaming-column\">2_x.sql:3:1\n2_x.sql:3:1 `alter table t rename a to b`: renaming a column &lt;breaks&gt; clients"), "{x}");
        assert!(x.contains("name=\"plan.pending\"></testcase>"), "{x}");

        let g: serde_json::Value = serde_json::from_str(&gitlab(&r)).expect("json");
        assert_eq!(g.as_array().map(Vec::len), Some(2), "{g}");
        assert_eq!(g[0]["location"], serde_json::json!({"path": "supabase/migrations/2_x.sql", "lines": {"begin": 3}}));
        assert_eq!(g[0]["severity"], "major");
        assert_eq!(g[1]["severity"], "minor");

        let gh = github(&r);
        let lines: Vec<&str> = gh.lines().collect();
        assert_eq!(lines.len(), 2, "{gh}");
        assert!(
            lines[0].starts_with(
                "::error file=supabase/migrations/2_x.sql,line=3,col=1,title=lint.static.renaming-column.2.3%3A static rule renaming-column::2_x.sql:3:1"
            ),
            "{gh}"
        );
        assert!(lines[0].contains("clients%0Afix: add a new column"), "{gh}");
        assert!(lines[1].starts_with("::warning title=lint.static%3A squawk's rules::nothing, 100%25 pending"), "{gh}");
    }
}
