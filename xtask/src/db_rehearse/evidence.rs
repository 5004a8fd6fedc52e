//! Static and measured evidence for the same statement, side by side: each `lint.static.*`
//! finding of a pending file is told what the rehearsal measured for its statement (time, the
//! strongest lock and how long it was held, rows), and one `rehearse.evidence` check lists them
//! together ("adding-not-nullable-field — measured: held AccessExclusiveLock on messages 0.50 s").
//! Pure.

use std::fmt::Write;

use super::trace::Traced;
use crate::{
    report::{Check, Report, Status},
    runner::MigrationFile,
};

/// What the rehearsal measured for one statement, in words.
pub fn measured(t: &Traced) -> String {
    let mut words = format!("{:.2} s", t.duration.as_secs_f64());
    if let Some((rel, mode)) = t.acquired.iter().max_by_key(|(_, m)| *m) {
        let _ = write!(words, ", held {mode} on {rel} for {:.2} s", t.held.as_secs_f64());
    }
    if t.rows > 0 {
        let _ = write!(words, ", {} row(s)", t.rows);
    }
    if !t.blocked.is_empty() {
        let _ = write!(words, "; meanwhile the app could not: {}", t.blocked.join(", "));
    }
    words
}

/// (rule, line) of a `lint.static.<rule>.<version>.<line>` check of `version`.
fn lint_finding<'a>(id: &'a str, version: &str) -> Option<(&'a str, usize)> {
    let rest = id.strip_prefix("lint.static.")?;
    let mut parts = rest.rsplitn(3, '.');
    let line = parts.next()?.parse().ok()?;
    (parts.next()? == version).then_some(())?;
    Some((parts.next()?, line))
}

/// Adds the rehearsal's measurements to the static findings of `file`; the lines for
/// `rehearse.evidence`.
pub fn annotate(report: &mut Report, file: &MigrationFile, statements: &[Traced]) -> Vec<String> {
    let mut lines = Vec::new();
    for check in report.checks.iter_mut() {
        let Some((rule, line)) = lint_finding(&check.id, &file.version) else { continue };
        let Some(t) = statements.iter().filter(|t| t.line <= line).max_by_key(|t| t.line) else { continue };
        let words = measured(t);
        let detail = check.detail.take().unwrap_or_default();
        check.detail = Some(format!("{detail}\nmeasured by the rehearsal: {words}"));
        lines.push(format!("{}:{line} {rule} — measured: {words}", file.file_name()));
    }
    lines
}

/// The `rehearse.evidence` check: every static finding with its measurement.
pub fn check(lines: &[String]) -> Option<Check> {
    (!lines.is_empty()).then(|| {
        Check::new(
            "rehearse.evidence",
            "static findings and what the rehearsal measured for the same statement",
            Status::Info,
        )
        .value(format!("{} finding(s)", lines.len()))
        .detail(lines.join("\n"))
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::db_rehearse::lock_mode::LockMode;

    #[test]
    fn a_finding_gets_the_measurement_of_the_statement_it_is_in() {
        let file = MigrationFile { version: "5".into(), path: "5_x.sql".into(), ..MigrationFile::default() };
        let mut report = Report::quiet("db-rehearse");
        report.push(
            Check::new("lint.static.adding-not-nullable-field.5.7", "static rule", Status::Fail).detail("5_x.sql:7:27"),
        );
        report.push(Check::new("lint.static.renaming-column.6.7", "another file", Status::Fail));
        let t = |line, ms| Traced {
            line,
            duration: Duration::from_millis(ms),
            held: Duration::from_millis(ms + 2),
            acquired: vec![("messages".into(), LockMode::AccessExclusive), ("messages".into(), LockMode::AccessShare)],
            ..Traced::default()
        };
        let lines = annotate(&mut report, &file, &[t(1, 3), t(6, 500), t(9, 1)]);
        assert_eq!(
            lines,
            ["5_x.sql:7 adding-not-nullable-field — measured: 0.50 s, held AccessExclusiveLock on messages for 0.50 s"]
        );
        let d = report.checks[0].detail.clone().unwrap_or_default();
        assert!(
            d.ends_with("\nmeasured by the rehearsal: 0.50 s, held AccessExclusiveLock on messages for 0.50 s"),
            "{d}"
        );
        assert_eq!(report.checks[1].detail, None);
        assert!(check(&lines).is_some() && check(&[]).is_none());
    }
}
