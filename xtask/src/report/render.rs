//! The report for people: one line per check (with its detail indented), the summary line, and
//! the whole report at once. Everything renders into any `impl Write`, so the live output and a
//! snapshot test use the same code.

use std::io::{self, Write};

use console::style;

use super::{Check, Outcome, Report, Status};

/// Whether to colour the output (a terminal) or not (files, tests, pipes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Colors {
    On,
    Off,
}

fn label(status: Status, colors: Colors) -> String {
    let (text, styled) = match status {
        Status::Pass => ("PASS", style("PASS").green().bold()),
        Status::Fail => ("FAIL", style("FAIL").red().bold()),
        Status::Warn => ("WARN", style("WARN").yellow().bold()),
        Status::Info => ("INFO", style("INFO").cyan()),
        Status::Skip => ("SKIP", style("SKIP").dim()),
    };
    match colors {
        Colors::On => styled.force_styling(true).to_string(),
        Colors::Off => text.to_string(),
    }
}

pub fn check(out: &mut impl Write, check: &Check, colors: Colors) -> io::Result<()> {
    let mut line = format!("{} {:<44} {}", label(check.status, colors), check.id, check.title);
    if let Some(v) = &check.value {
        line.push_str(&format!(" = {v}"));
    }
    writeln!(out, "{line}")?;
    for l in check.detail.iter().flat_map(|d| d.lines()) {
        match colors {
            Colors::On => writeln!(out, "       {}", style(l).dim().force_styling(true))?,
            Colors::Off => writeln!(out, "       {l}")?,
        }
    }
    Ok(())
}

pub fn summary(out: &mut impl Write, report: &Report, colors: Colors) -> io::Result<()> {
    let count = |s: Status| report.checks.iter().filter(|c| c.status == s).count();
    let (text, styled) = match (report.outcome, &report.error) {
        (_, Some(_)) => ("STOPPED", style("STOPPED").red().bold()),
        (Outcome::Pass, None) => ("PASSED", style("PASSED").green().bold()),
        (Outcome::Fail, None) => ("FAILED", style("FAILED").red().bold()),
    };
    let verdict = match colors {
        Colors::On => styled.force_styling(true).to_string(),
        Colors::Off => text.to_string(),
    };
    let coverage =
        report.check(super::COVERAGE).and_then(|c| c.value.as_deref()).map(|v| format!(" ({v})")).unwrap_or_default();
    writeln!(
        out,
        "{} {verdict}{coverage}: {} pass, {} fail, {} warn, {} info, {} skip in {:.1} s",
        report.command,
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Warn),
        count(Status::Info),
        count(Status::Skip),
        report.total_millis as f64 / 1000.0
    )
}

/// The whole report: every check in order, then the summary.
pub fn report(out: &mut impl Write, report: &Report, colors: Colors) -> io::Result<()> {
    for c in &report.checks {
        check(out, c, colors)?;
    }
    summary(out, report, colors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_renders_checks_details_and_the_verdict() {
        let mut r = Report::quiet("db-x");
        r.push(Check::new("a.one", "first", Status::Pass).value(3));
        r.push(Check::new("a.two", "second", Status::Fail).detail("why\nand how"));
        let mut buf = Vec::new();
        report(&mut buf, &r, Colors::Off).expect("render");
        let text = String::from_utf8(buf).expect("utf8");
        let expected = "PASS a.one                                        first = 3\n\
                        FAIL a.two                                        second\n       why\n       and how\n\
                        db-x FAILED: 1 pass, 1 fail, 0 warn, 0 info, 0 skip in 0.0 s\n";
        assert_eq!(text, expected);
    }
}
