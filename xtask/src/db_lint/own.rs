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
    let backfill = stmt.sql.lines().any(|l| l.trim().starts_with(crate::runner::backfill::DIRECTIVE));
    if (starts(&["update"]) || starts(&["delete"])) && !backfill && whole_table(&words) {
        out.push((
            "xtask-unbatched-backfill",
            "it changes rows all over the table in the file's one transaction: every row it changes stays locked until \
             the file commits, and the app's edits and deletes of them wait (or time out)"
                .to_string(),
            "move it to a file of its own marked `-- xtask:backfill`: xtask runs it in batches by primary key, each its \
             own short transaction (the plain CLI still runs it as written)",
        ));
    }
    if policy
        && (squeezed(&code).contains("using(true)") || squeezed(&code).contains("withcheck(true)"))
        && !service_only(&code)
    {
        out.push((
            "xtask-policy-using-true",
            "the policy lets every row through for every role it applies to".to_string(),
            "name who may see the rows (`using (owner = (select auth.uid()))`), or say why they are public with \
             `-- xtask:ignore xtask-policy-using-true <why>` (db-rls also wants `-- xtask:rls-widens`)",
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

/// Tables a file creates in `public` (the schema the Data API exposes) without enabling row-level
/// security on them in the same file: (index of the CREATE TABLE statement, table). Until RLS
/// is on, anyone with the public key reads and writes the table; enabling it in a later file
/// leaves it open if that file fails or is never pushed.
pub fn tables_without_rls(statements: &[Statement]) -> Vec<(usize, String)> {
    let words: Vec<Vec<String>> = statements
        .iter()
        .map(|s| strip_comments(&s.sql).to_lowercase().split_whitespace().map(str::to_string).collect())
        .collect();
    let enabled: Vec<String> = words
        .iter()
        .filter(|w| w.starts_with(&["alter".into(), "table".into()]))
        .filter(|w| {
            w.windows(4).any(|x| x[1..] == ["row", "level", "security"] && (x[0] == "enable" || x[0] == "force"))
        })
        .filter_map(|w| name_after(&w[2..], &["if", "exists", "only"]))
        .collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let plain = w.len() > 2 && w[0] == "create" && (w[1] == "table" || (w[1] == "unlogged" && w[2] == "table"));
        if !plain || w.windows(2).any(|x| x[0] == "partition" && x[1] == "of") {
            continue; // temporary tables, and partitions (the parent's RLS applies) are not exposed
        }
        let at = w.iter().position(|x| x == "table").unwrap_or(1) + 1;
        let Some(table) = name_after(&w[at..], &["if", "not", "exists"]) else { continue };
        if table.starts_with("public.") && !enabled.contains(&table) {
            out.push((i, table));
        }
    }
    out
}

/// SECURITY DEFINER functions a file creates in `public` without revoking EXECUTE from anon (or
/// PUBLIC) in the same file: (statement index, function). Supabase grants EXECUTE on new
/// functions in `public` to anon, so anyone with the public key calls it with its owner's rights.
pub fn definers_callable_by_anon(statements: &[Statement]) -> Vec<(usize, String)> {
    let codes: Vec<String> = statements.iter().map(|s| squeezed(&strip_comments(&s.sql).to_lowercase())).collect();
    let mut out = Vec::new();
    for (i, stmt) in statements.iter().enumerate() {
        let code = strip_comments(&stmt.sql).to_lowercase();
        let words: Vec<String> = code.split_whitespace().map(str::to_string).collect();
        let Some(at) = words.iter().position(|w| w == "function" || w.starts_with("function(")) else { continue };
        let creates = words.first().is_some_and(|w| w == "create")
            && words[..at].iter().all(|w| ["create", "or", "replace"].contains(&w.as_str()));
        // A trigger function cannot be called directly, by anon or anyone.
        let trigger = code.contains("returns trigger") || code.contains("returns event_trigger");
        if !creates || !code.contains("security definer") || trigger {
            continue;
        }
        let Some(name) = name_after(&words[at + 1..], &[]) else { continue };
        if !name.starts_with("public.") {
            continue;
        }
        let bare = name.trim_start_matches("public.");
        let revoked = codes.iter().any(|c| {
            // `revoke all` revokes EXECUTE too.
            c.starts_with("revoke")
                && (c.contains("execute") || c.starts_with("revokeall"))
                && (c.contains(&format!("function{name}")) || c.contains(&format!("function{bare}")))
                && (c.contains("anon") || c.contains("frompublic"))
        });
        if !revoked {
            out.push((i, name));
        }
    }
    out
}

/// Lower-case code without whitespace, for matching shapes like `using(true)`.
fn squeezed(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A policy only for `service_role` (which bypasses RLS anyway).
/// Whitespace does not matter: line breaks and runs of spaces read as one space.
fn service_only(code: &str) -> bool {
    let code = code.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(at) = code.find(" to ") else { return false };
    let roles = code[at + 4..].split(['(', ' ']).take_while(|w| !["using", "with", ""].contains(w)).collect::<Vec<_>>();
    !roles.is_empty() && roles.iter().all(|r| r.trim_end_matches(',').trim_matches('"') == "service_role")
}

/// The table name after optional `skip` words, schema-qualified (`public` when not) and unquoted.
fn name_after(words: &[String], skip: &[&str]) -> Option<String> {
    let word = words.iter().find(|w| !skip.contains(&w.as_str()))?;
    let name = word.split('(').next().unwrap_or(word).replace('"', "");
    if name.is_empty() {
        return None;
    }
    Some(if name.contains('.') { name } else { format!("public.{name}") })
}

/// An UPDATE or DELETE that reaches across the table: no WHERE, a join (`FROM`/`USING`), or a
/// condition on a NULL (the backfill shape), rather than a few rows named by key.
fn whole_table(words: &[&str]) -> bool {
    let Some(at) = words.iter().position(|w| *w == "where") else { return true };
    // `DELETE FROM t`: that FROM names the table itself.
    let head = if words.first() == Some(&"delete") { &words[at.min(2)..at] } else { &words[..at] };
    let cond = words[at..].join(" ");
    head.contains(&"from") || head.contains(&"using") || cond.contains("is null") || cond.contains("is not null")
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
            ("create policy p on t for select using (true);", &["xtask-policy-using-true"]),
            ("create policy p on t for insert to authenticated with check ( true );", &["xtask-policy-using-true"]),
            ("create policy p on t to service_role using (true);", &[]),
            // Seen on a public project: the role on its own line, or quoted.
            ("create policy p on t for all\n  to service_role\n  using (true) with check (true);", &[]),
            ("create policy p on t for all to   \"service_role\"   using (true);", &[]),
            ("create policy p on t for all\n  to authenticated\n  using (true);", &["xtask-policy-using-true"]),
            ("update public.notes set body = '';", &["xtask-unbatched-backfill"]),
            ("update t m set a = c.a from c where c.id = m.cid and m.a is null;", &["xtask-unbatched-backfill"]),
            ("delete from t where owner is null;", &["xtask-unbatched-backfill"]),
            // A rollback's undo of a backfill is one too.
            ("update public.notes set owner = null where owner is not null;", &["xtask-unbatched-backfill"]),
            ("update public.settings set value = 1 where key = 'x';", &[]),
            ("delete from public.settings where key = 'x';", &[]),
            ("-- xtask:backfill\nupdate t set a = 1 where a is null;", &[]),
            ("-- auth.uid() in a comment\nselect 1;", &[]),
        ];
        for (sql, expected) in cases {
            assert_eq!(rules(sql), *expected, "{sql}");
        }
    }

    #[test]
    fn a_public_table_needs_rls_in_its_own_file() {
        let open = |sql: &str| -> Vec<String> { tables_without_rls(&split(sql)).into_iter().map(|(_, t)| t).collect() };
        let cases: &[(&str, &[&str])] = &[
            ("create table public.notes (id bigint primary key);", &["public.notes"]),
            ("create table if not exists notes(id int);", &["public.notes"]),
            ("create table \"Notes\" (id int); alter table \"Notes\" enable row level security;", &[]),
            ("create table public.notes (id int);\nalter table if exists only public.notes enable row level security;", &[]),
            ("create table private.notes (id int);", &[]),
            ("create temporary table t (id int);", &[]),
            ("create table public.p1 partition of public.p for values in (1);", &[]),
            ("create table a (id int); create table b (id int); alter table b enable row level security;", &["public.a"]),
        ];
        for (sql, expected) in cases {
            assert_eq!(open(sql), *expected, "{sql}");
        }
    }

    #[test]
    fn a_definer_in_public_needs_execute_revoked_from_anon() {
        let open =
            |sql: &str| -> Vec<String> { definers_callable_by_anon(&split(sql)).into_iter().map(|(_, f)| f).collect() };
        let f = "create function public.f(a int) returns int language sql security definer set search_path = '' as $$ select 1 $$;";
        assert_eq!(open(f), ["public.f"]);
        assert_eq!(
            open(&format!("{f}\nrevoke execute on function public.f(int) from public, anon;")),
            Vec::<String>::new()
        );
        assert_eq!(
            open(&format!("{f}\nrevoke all on function f from anon;")),
            Vec::<String>::new(),
            "`revoke all` takes EXECUTE with it"
        );
        assert_eq!(
            open(&format!("{f}\nrevoke all on function public.f(int) from public, anon;")),
            Vec::<String>::new()
        );
        assert_eq!(open(&format!("{f}\nrevoke select on all tables in schema public from anon;")), ["public.f"]);
        assert_eq!(
            open("create function private.f() returns int language sql security definer as $$ select 1 $$;"),
            Vec::<String>::new()
        );
        assert_eq!(
            open("create function public.f() returns int language sql as $$ select 1 $$;"),
            Vec::<String>::new()
        );
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
