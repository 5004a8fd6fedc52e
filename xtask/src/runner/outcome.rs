//! What applying a file did, as a check: the same words for every command that applies
//! migrations (db-local-test, db-rollback-test, db-push).

use super::{Applied, ApplyError};
use crate::report::{Check, Status};

/// `ERROR <sqlstate>: <message>`, the way psql names a server error.
pub fn server_error(db: &dyn sqlx::error::DatabaseError) -> String {
    format!("ERROR {}: {}", db.code().unwrap_or_default(), db.message())
}

/// A file that applied: its statements, time and NOTICEs; a warning when it could not run in
/// one transaction (a lone CONCURRENTLY statement is as atomic as a file can be).
pub fn applied_check(id: String, title: String, applied: &Applied) -> Check {
    let split = !applied.atomic && applied.statements > 1;
    let mut detail: Vec<String> = applied.notices.iter().map(|n| format!("{}: {}", n.severity, n.message)).collect();
    if split {
        detail.push(
            "not atomic: this file holds statements that cannot run in a transaction, so each statement \
             commits on its own"
                .to_string(),
        );
    }
    if applied.commits_on_its_own {
        detail.push(
            "this file commits on its own (its BEGIN/COMMIT end the transaction it runs in): a failure after \
             its COMMIT leaves the earlier part applied, with no history row"
                .to_string(),
        );
    }
    if let Some(backfill) = &applied.backfill {
        detail.push(backfill.describe());
    }
    let warn = split || applied.commits_on_its_own;
    Check::new(id, title, if warn { Status::Warn } else { Status::Pass })
        .value(format!("{} statement(s) in {} ms", applied.statements, applied.duration.as_millis()))
        .detail(detail.join("\n"))
}

/// Whether a batched backfill, run once more in full, changed nothing (`rerun_rows`): batches
/// that ran twice after an interruption then do no harm. `filled`: rows its batches changed; with
/// none, the second run proves nothing.
pub fn rerun_check(version: &str, filled: u64, rows: u64) -> Check {
    let check = Check::new(
        format!("backfill.idempotent.{version}"),
        "the batched backfill resumes safely (run again, it changes nothing)",
        Status::Pass,
    );
    if filled == 0 && rows == 0 {
        return Check { status: Status::Warn, ..check }.value("no rows to backfill").detail(
            "the backfill changed no row here, so running it again proves nothing: load data (seed.sql, or the \
             app's generator) that it has to fill",
        );
    }
    if rows == 0 {
        return check.value("0 rows on a second run");
    }
    Check { status: Status::Fail, ..check }.value(format!("{rows} rows on a second run")).detail(format!(
        "run again after all its batches, the UPDATE changed {rows} row(s) once more: a run interrupted after some \
         batches and started again would apply those batches twice. Add to its WHERE a condition that rows already \
         done no longer match (e.g. `AND new_column IS NULL`, or `IS DISTINCT FROM` the new value)"
    ))
}

/// A file that failed: the statement, the server's words and NOTICEs, what stayed (`recorded`:
/// its history row was written anyway), and `hint` on what to do.
pub fn failed_check(id: String, title: String, error: &ApplyError, recorded: bool, hint: Option<String>) -> Check {
    let mut detail = vec![error.to_string()];
    detail.extend(error.notices.iter().map(|n| format!("{}: {}", n.severity, n.message)));
    detail.extend(hint);
    if recorded {
        detail.push("the history row was written despite the error".to_string());
    }
    let own_commit = error.stayed.iter().any(|s| s.starts_with(super::modes::OWN_COMMIT));
    let why = if own_commit {
        "this file commits on its own, and its COMMIT kept this (no history row; later files were not run):"
    } else {
        "not atomic: this file runs statement by statement, and this stayed on the database \
         (no history row; later files were not run):"
    };
    match (error.stayed.is_empty(), recorded) {
        (true, false) => detail.push("nothing of this file was applied; later files were not run".to_string()),
        (true, true) => {}
        (false, _) => {
            detail.push(why.to_string());
            detail.extend(error.stayed.iter().map(|s| format!("  - {s}")));
        }
    }
    Check::new(id, title, Status::Fail).detail(detail.join("\n"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runner::notices::Notice;

    fn applied(statements: usize, atomic: bool) -> Applied {
        Applied {
            version: "1".into(),
            name: "a".into(),
            statements,
            duration: Duration::from_millis(7),
            notices: vec![Notice { severity: "NOTICE", message: "backfill: 3".into() }],
            atomic,
            commits_on_its_own: false,
            backfill: None,
        }
    }

    #[test]
    fn a_backfill_that_changes_rows_again_fails() {
        assert_eq!(rerun_check("1", 60, 0).status, Status::Pass);
        assert_eq!(rerun_check("1", 0, 0).status, Status::Warn, "nothing filled: nothing proven");
        let twice = rerun_check("1", 60, 40);
        assert_eq!((twice.status, twice.id.as_str()), (Status::Fail, "backfill.idempotent.1"));
        assert!(twice.detail.unwrap_or_default().contains("apply those batches twice"));
    }

    #[test]
    fn only_a_file_split_into_several_commits_warns() {
        let cases = [((3, true), Status::Pass), ((1, false), Status::Pass), ((2, false), Status::Warn)];
        for ((statements, atomic), expected) in cases {
            let c = applied_check("x".into(), "t".into(), &applied(statements, atomic));
            assert_eq!(c.status, expected, "{statements} statements, atomic {atomic}");
            assert!(c.detail.unwrap_or_default().starts_with("NOTICE: backfill: 3"));
        }
    }

    #[test]
    fn a_failure_says_what_stayed() {
        let e = ApplyError {
            file: "1_a.sql".into(),
            line: 4,
            statement: "select 1/0".into(),
            message: "ERROR 22012: division by zero".into(),
            notices: Vec::new(),
            stayed: Vec::new(),
        };
        let kept = failed_check("x".into(), "t".into(), &e, true, Some("retry later".into()));
        let detail = kept.detail.unwrap_or_default();
        assert_eq!(
            detail,
            "1_a.sql:4: ERROR 22012: division by zero (statement: select 1/0)\nretry later\nthe history row was written despite the error"
        );
        let clean = failed_check("x".into(), "t".into(), &e, false, None).detail.unwrap_or_default();
        assert!(clean.ends_with("nothing of this file was applied; later files were not run"), "{clean}");
        let partial =
            ApplyError { stayed: vec!["invalid index public.i, … DROP INDEX CONCURRENTLY public.i".into()], ..e };
        let detail = failed_check("x".into(), "t".into(), &partial, false, None).detail.unwrap_or_default();
        assert!(!detail.contains("nothing of this file was applied"), "{detail}");
        assert!(
            detail.contains("not atomic")
                && detail.ends_with("  - invalid index public.i, … DROP INDEX CONCURRENTLY public.i"),
            "{detail}"
        );
    }
}

#[cfg(test)]
mod missing_extension {
    use crate::runner::ApplyError;

    fn check(message: &str, expected: Option<&str>) {
        let e = ApplyError {
            file: "f.sql".into(),
            line: 1,
            statement: String::new(),
            message: message.into(),
            notices: Vec::new(),
            stayed: Vec::new(),
        };
        assert_eq!(e.missing_extension().as_deref(), expected, "{message}");
    }

    #[test]
    fn the_missing_extension_is_read_from_each_postgres_wording() {
        check(
            r#"ERROR 58P01: could not open extension control file "/usr/share/postgresql/15/extension/vector.control": No such file or directory"#,
            Some("vector"),
        );
        check(r#"ERROR 0A000: extension "pg_jsonschema" is not available"#, Some("pg_jsonschema"));
        check(r#"ERROR 42710: extension "vector" already exists"#, None);
        check("ERROR 42601: syntax error at or near \"extension\"", None);
    }
}
