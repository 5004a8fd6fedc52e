//! Static guesses checked by the database. `db-lint` guesses from the text; `db-local-test`, with
//! the pending migrations applied on its database, asks the catalog about each finding it can
//! decide, and the finding is confirmed (it stays, saying so) or dismissed (information, with
//! the database's reason).

use std::collections::BTreeSet;

use sqlx::PgConnection;

use crate::report::{Report, Status};

const DEFINER: &str = "lint.static.xtask-security-definer-callable-by-anon.";

/// What the catalog said before the pending migrations: a finding about something already so
/// is not theirs (judged by difference).
#[derive(Debug, Default)]
pub struct Before {
    /// SECURITY DEFINER functions anon could execute, as `schema.name` (quoted as needed, and bare).
    definer_callable_by_anon: BTreeSet<String>,
}

/// Measures [`Before`] (read-only), before the pending migrations are applied.
pub async fn before(conn: &mut PgConnection) -> sqlx::Result<Before> {
    let names: Vec<(String, String)> = sqlx::query_as(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname), n.nspname || '.' || p.proname \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prosecdef AND has_function_privilege('anon', p.oid, 'EXECUTE')",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Before { definer_callable_by_anon: names.into_iter().flat_map(|(q, b)| [q, b]).collect() })
}

/// Confirms or dismisses the findings in `report` that the catalog decides; what `before` shows
/// was already so is said, not blamed on the pending migrations.
pub async fn confirm(conn: &mut PgConnection, before: &Before, report: &mut Report) -> anyhow::Result<()> {
    let mut changed = false;
    for check in report.checks.iter_mut().filter(|c| c.id.starts_with(DEFINER) && c.status == Status::Fail) {
        let detail = check.detail.clone().unwrap_or_default();
        let Some(function) = detail.split("`: ").nth(1).and_then(|m| m.split(" is SECURITY DEFINER").next()) else {
            continue;
        };
        let acl: Option<(bool, String)> = sqlx::query_as(
            "SELECT bool_or(has_function_privilege('anon', p.oid, 'EXECUTE')), \
                    string_agg(coalesce(p.proacl::text, 'the default: EXECUTE to PUBLIC'), '; ') \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE quote_ident(n.nspname) || '.' || quote_ident(p.proname) = $1 \
                OR n.nspname || '.' || p.proname = $1",
        )
        .bind(function)
        .fetch_optional(&mut *conn)
        .await?
        .and_then(|(may, acl): (Option<bool>, Option<String>)| Some((may?, acl.unwrap_or_default())));
        let Some((anon_may, acl)) = acl else { continue };
        if anon_may && before.definer_callable_by_anon.contains(function) {
            check.status = Status::Info;
            check.detail = Some(format!(
                "already so: anon could execute {function} before the pending migrations too (ACL now {acl}); they \
                 keep an exposure they did not open (lint.security_definer_executable_by_anon lists it as already \
                 there)\n{detail}"
            ));
            changed = true;
        } else if anon_may {
            check.detail =
                Some(format!("{detail}\nconfirmed by the database: anon may execute {function} (ACL {acl})"));
        } else {
            check.status = Status::Info;
            check.detail = Some(format!(
                "dismissed by the database: after the pending migrations anon may not execute {function} (ACL \
                 {acl})\n{detail}"
            ));
            changed = true;
        }
    }
    changed |= reachable_tables(conn, report).await?;
    if changed {
        report.reseal_roll_ups();
    }
    Ok(())
}

const NO_RLS: &str = "lint.static.xtask-table-without-rls.";

/// A table created without RLS is a hole once an API role has a grant on it: confirmed where one
/// has, a warning where none has yet (hosted Supabase grants nothing on new tables since
/// 2026-10-30). True when a finding changed.
async fn reachable_tables(conn: &mut PgConnection, report: &mut Report) -> anyhow::Result<bool> {
    let mut changed = false;
    for check in report.checks.iter_mut().filter(|c| c.id.starts_with(NO_RLS) && c.status == Status::Fail) {
        let detail = check.detail.clone().unwrap_or_default();
        let Some(table) = detail.split("`: ").nth(1).and_then(|m| m.split(" is created in public").next()) else {
            continue;
        };
        let grants: Option<(bool, bool)> = sqlx::query_as(
            "SELECT c.relrowsecurity, \
                    has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE') \
                    OR has_table_privilege('authenticated', c.oid, 'SELECT, INSERT, UPDATE, DELETE') \
             FROM pg_class c WHERE c.oid = to_regclass($1)",
        )
        .bind(table)
        .fetch_optional(&mut *conn)
        .await?;
        match grants {
            Some((false, true)) => {
                check.detail = Some(format!("{detail}\nconfirmed by the database: an API role has a grant on {table}"));
            }
            Some((false, false)) => {
                check.status = Status::Warn;
                check.detail = Some(format!(
                    "not reachable yet: after the pending migrations neither anon nor authenticated has a grant on \
                     {table}, so the Data API serves none of it; enable RLS before anyone grants it\n{detail}"
                ));
                changed = true;
            }
            Some((true, _)) => {
                check.status = Status::Info;
                check.detail =
                    Some(format!("dismissed by the database: a later migration enabled RLS on {table}\n{detail}"));
                changed = true;
            }
            None => {}
        }
    }
    Ok(changed)
}
