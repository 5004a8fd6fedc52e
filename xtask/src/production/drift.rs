//! What the target holds against what the local folder says: drift between the migrations and
//! the target's history, and indexes a failed build left invalid.

use anyhow::Context;
use sqlx::PgConnection;

use crate::{
    report::{Check, Report, Status},
    runner::MigrationDir,
};

/// Every invalid index on the target (`pg_index.indisvalid = false`): a failed or cancelled
/// CONCURRENTLY build leaves one, which slows every write, serves no query and, if UNIQUE,
/// enforces nothing. A build running right now is invalid too, so the fix says to wait for it.
pub async fn invalid_indexes_check(conn: &mut PgConnection) -> anyhow::Result<Check> {
    let invalid: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I on %s', n.nspname, c.relname, i.indrelid::regclass) \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .context("reading pg_index for invalid indexes")?;
    let check = Check::new("target.invalid_indexes", "no index on the target is invalid", Status::Pass);
    Ok(if invalid.is_empty() {
        check.value(0)
    } else {
        let names: Vec<&str> = invalid.iter().filter_map(|i| i.split(' ').next()).collect();
        Check { status: Status::Fail, ..check }.value(invalid.len()).detail(format!(
            "{}\na failed CREATE INDEX CONCURRENTLY leaves these behind (or one is being built right now): they \
             slow every write and serve no query, and a UNIQUE one enforces nothing; once no session is building \
             them: {}",
            invalid.join("\n"),
            names.iter().map(|n| format!("DROP INDEX CONCURRENTLY {n};")).collect::<Vec<_>>().join(" ")
        ))
    })
}

/// Versions applied on the target versus local files: drift checks, and the files to push.
pub async fn drift(
    conn: &mut PgConnection,
    dir: &MigrationDir,
    report: &mut Report,
) -> anyhow::Result<Vec<crate::runner::MigrationFile>> {
    let applied = crate::runner::applied_versions(conn).await?;
    let versions: Vec<String> = applied.iter().map(|(v, _, _)| v.clone()).collect();
    let on_target = crate::runner::pending::on_target(dir, &versions);
    let local: Vec<&crate::runner::MigrationFile> = dir.files.iter().collect();

    let missing: Vec<String> = applied
        .iter()
        .filter(|(v, _, _)| !local.iter().any(|f| &f.version == v))
        .map(|(v, n, _)| format!("{v}_{n}"))
        .collect();
    report.push(check(
        "drift.missing_locally",
        "every version applied on the target exists locally",
        &missing,
        "applied on the target but not in migrations/ (pull them with `supabase db pull` or restore the files)",
    ));

    let out_of_order: Vec<String> = on_target.out_of_order.iter().map(|f| f.file_name()).collect();
    report.push(check(
        "drift.out_of_order",
        "no unapplied local version is older than the target's newest",
        &out_of_order,
        "older than the newest applied version; `supabase db push` refuses them without --include-all",
    ));

    let edited: Vec<String> = applied
        .iter()
        .filter_map(|(v, _, stored)| {
            let file = local.iter().find(|f| &f.version == v)?;
            (!stored.is_empty() && normalized(std::slice::from_ref(&file.text)) != normalized(stored))
                .then(|| file.file_name())
        })
        .collect();
    let unrecorded: Vec<String> = applied
        .iter()
        .filter(|(v, _, stored)| stored.is_empty() && local.iter().any(|f| &f.version == v))
        .map(|(v, n, _)| format!("{v}_{n}"))
        .collect();
    if !unrecorded.is_empty() {
        report.push(
            Check::new(
                "drift.unrecorded_text",
                "applied migrations whose text the target did not record",
                Status::Info,
            )
            .value(unrecorded.len())
            .detail(format!(
                "the history holds no statements for these (written by `migration repair` or an older CLI): \
                     whether they changed since cannot be told\n{}",
                unrecorded.join("\n")
            )),
        );
    }
    report.push(check(
        "drift.edited_after_apply",
        "applied migrations are unchanged since they were applied",
        &edited,
        "the file differs from the statements the target recorded when it applied it",
    ));

    let pending = on_target.pending;
    let versions: Vec<&str> = pending.iter().map(|f| f.version.as_str()).collect();
    report.push(
        Check::new("drift.pending", "local migrations not yet applied on the target", Status::Info)
            .value(pending.len())
            .detail(versions.join(", ")),
    );
    Ok(pending)
}

/// Statements as the server sees them: split again (a history row may hold the whole file as one
/// element), comments dropped, whitespace collapsed, without the trailing semicolon.
pub fn normalized(texts: &[String]) -> Vec<String> {
    let joined = texts.iter().map(|t| format!("{};\n", t.trim_end().trim_end_matches(';'))).collect::<String>();
    crate::runner::sql_split::split(&joined)
        .into_iter()
        .map(|s| {
            let text = collapse_whitespace(&crate::runner::sql_split::strip_comments(&s.sql));
            text.trim_end_matches(';').trim().to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Runs of whitespace as one space, except inside '…' and "…" (there they are data).
fn collapse_whitespace(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut space = false;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None; // a doubled quote reopens on its next char
                }
            }
            None if c.is_whitespace() => space = true,
            None => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

fn check(id: &str, title: &str, found: &[String], why: &str) -> Check {
    if found.is_empty() {
        Check::new(id, title, Status::Pass)
    } else {
        Check::new(id, title, Status::Fail).value(found.len()).detail(format!("{why}:\n{}", found.join("\n")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_compares_statements_not_formatting() {
        let file =
            "-- add a column\nalter table t add column c int;\n\ncreate  index i\n  on t (c); -- why\n".to_string();
        let as_cli_records =
            vec!["alter table t add column c int".to_string(), "create  index i\n  on t (c)".to_string()];
        let as_one_element = vec![file.clone()];
        assert_eq!(normalized(std::slice::from_ref(&file)), normalized(&as_cli_records));
        assert_eq!(normalized(&as_one_element), normalized(&as_cli_records));
        assert_ne!(normalized(&["alter table t add column c bigint".to_string()]), normalized(&as_cli_records[..1]));
        // Text inside quotes is not formatting.
        assert_ne!(normalized(&["select 'a  b'".to_string()]), normalized(&["select 'a b'".to_string()]));
    }
}
