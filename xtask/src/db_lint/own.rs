//! Our static rules, where squawk has none: Supabase's lints that the SQL text decides. Each
//! works on one statement (comments stripped, lower case); `-- xtask:ignore <rule> <reason>` in
//! the comments above a statement silences a rule for it, and a reason is required.

use crate::runner::sql_split::{strip_comments, Statement};

/// (rule, what is wrong, the fix) for one statement.
pub fn check(stmt: &Statement) -> Vec<(&'static str, String, &'static str)> {
    let code = strip_comments(&stmt.sql).to_lowercase();
    let words: Vec<&str> = code.split_whitespace().collect();
    let starts = |prefix: &[&str]| words.len() >= prefix.len() && words[..prefix.len()] == *prefix;
    let mut out = Vec::new();
    let policy = starts(&["create", "policy"]) || starts(&["alter", "policy"]);
    if policy {
        for call in ["auth.uid()", "auth.jwt()", "auth.role()"] {
            if per_row(&code, call) {
                out.push((
                    "xtask-auth-call-per-row",
                    format!("the policy calls {call} for every row it checks"),
                    "wrap it as (select auth.uid()), so Postgres evaluates it once per statement (Supabase's auth_rls_initplan lint)",
                ));
            }
        }
    }
    let function = starts(&["create", "function"]) || starts(&["create", "or", "replace", "function"]);
    if function && code.contains("security definer") && !code.contains("search_path") {
        out.push((
            "xtask-security-definer-search-path",
            "a SECURITY DEFINER function without a fixed search_path runs with its owner's rights and the caller's \
             search_path"
                .to_string(),
            "add SET search_path = '' (and schema-qualify what it uses), or SET search_path = public, pg_temp",
        ));
    }
    if starts(&["grant"]) && (code.contains(" to anon") || code.contains(", anon")) {
        out.push((
            "xtask-grant-to-anon",
            "a grant to anon: anyone with the project's public key gets it".to_string(),
            "grant to authenticated, or silence with `-- xtask:ignore xtask-grant-to-anon <why it is public>`",
        ));
    }
    out
}

/// Whether `call` appears outside a `(select …)` of its own.
fn per_row(code: &str, call: &str) -> bool {
    code.match_indices(call).any(|(at, _)| {
        let before = code[..at].trim_end();
        !before.ends_with("select")
    })
}

/// The reason given for silencing `rule` on this statement: `Some("")` when silenced without one.
pub fn ignored(stmt: &Statement, rule: &str) -> Option<String> {
    stmt.sql.lines().map(str::trim).find_map(|l| {
        let rest = l.strip_prefix("-- xtask:ignore ")?;
        let (name, why) = rest.split_once(' ').unwrap_or((rest, ""));
        (name == rule).then(|| why.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::sql_split::split;

    fn rules(sql: &str) -> Vec<&'static str> {
        split(sql).iter().flat_map(check).map(|(r, _, _)| r).collect()
    }

    #[test]
    fn each_rule_fires_on_its_hazard_only() {
        let cases: &[(&str, &[&str])] = &[
            ("create policy p on t using (owner = auth.uid());", &["xtask-auth-call-per-row"]),
            ("create policy p on t using (owner = (select auth.uid()));", &[]),
            ("alter policy p on t using (owner = ( SELECT auth.uid() ));", &[]),
            (
                "create function f() returns int language sql security definer as $$ select 1 $$;",
                &["xtask-security-definer-search-path"],
            ),
            (
                "create function f() returns int language sql security definer set search_path = '' as $$ select 1 $$;",
                &[],
            ),
            ("grant execute on function f() to anon, authenticated;", &["xtask-grant-to-anon"]),
            ("grant select on t to authenticated;", &[]),
            ("-- auth.uid() in a comment\nselect 1;", &[]),
        ];
        for (sql, expected) in cases {
            assert_eq!(rules(sql), *expected, "{sql}");
        }
    }

    #[test]
    fn a_silenced_rule_says_why() {
        let stmts = split("-- xtask:ignore xtask-grant-to-anon the catalogue is public\ngrant select on t to anon;\n");
        assert_eq!(ignored(&stmts[0], "xtask-grant-to-anon").as_deref(), Some("the catalogue is public"));
        let bare = split("-- xtask:ignore xtask-grant-to-anon\ngrant select on t to anon;");
        assert_eq!(ignored(&bare[0], "xtask-grant-to-anon").as_deref(), Some(""));
        assert_eq!(ignored(&stmts[0], "other"), None);
    }
}
