//! Supabase-style database lints as catalog queries of our own, over the exposed schemas we are
//! told about (not `pgrst.db_schemas`, which a bare Postgres leaves empty). Findings the pending
//! migrations add are warnings or failures; findings that were already there are information.

use std::collections::BTreeSet;

use sqlx::PgConnection;

use crate::report::{Check, Status};

/// One lint: stable id, what it means, how bad a new finding is, and its catalog query
/// (`$1` = exposed schemas; returns `object text, detail text`).
pub struct Lint {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Status,
    sql: &'static str,
}

pub const LINTS: &[Lint] = &[
    Lint {
        id: "security_definer_api_callable",
        title: "SECURITY DEFINER functions anon or authenticated may execute (reported, not judged)",
        severity: Status::Info,
        sql: r#"SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                       concat_ws(', ',
                         CASE WHEN has_function_privilege('anon', p.oid, 'EXECUTE') THEN 'anon' END,
                         CASE WHEN has_function_privilege('authenticated', p.oid, 'EXECUTE') THEN 'authenticated' END)
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE p.prosecdef AND n.nspname = ANY($1) AND p.prokind = 'f'
                  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon')
                  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')
                  AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))"#,
    },
    Lint {
        id: "auth_rls_initplan",
        title: "policy calls auth.uid()/auth.jwt()/current_setting() per row (wrap it in (select …))",
        severity: Status::Warn,
        // pg_get_expr prints a wrapped call as `( SELECT auth.uid() AS uid)`: any call not right
        // after SELECT runs once per row.
        sql: r#"SELECT format('policy %I on %I.%I', p.policyname, p.schemaname, p.tablename),
                       concat_ws(' / ', 'USING ' || p.qual, 'WITH CHECK ' || p.with_check)
                FROM pg_policies p
                WHERE p.schemaname = ANY($1)
                  AND concat_ws(' ', p.qual, p.with_check) ~* '(?<!select )(auth\.(uid|jwt|role|email)\(\)|current_setting\()'"#,
    },
    Lint {
        id: "security_definer_search_path",
        title: "SECURITY DEFINER function without a fixed search_path",
        severity: Status::Fail,
        sql: r#"SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                       'runs as its owner; an attacker-controlled search_path can hijack unqualified names'
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE p.prosecdef AND n.nspname = ANY($1)
                  AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search_path=%')"#,
    },
    Lint {
        id: "security_definer_executable_by_anon",
        title: "SECURITY DEFINER function anon may execute",
        severity: Status::Fail,
        sql: r#"SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                       'bypasses RLS and is callable without signing in; REVOKE EXECUTE … FROM PUBLIC, anon'
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE p.prosecdef AND n.nspname = ANY($1) AND p.prokind = 'f'
                  AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'anon')
                  AND has_function_privilege('anon', p.oid, 'EXECUTE')"#,
    },
    Lint {
        id: "rls_disabled_in_exposed_schema",
        title: "table in an exposed schema without row-level security",
        severity: Status::Fail,
        sql: r#"SELECT format('table %I.%I', n.nspname, c.relname), 'every API role can read and write all of it'
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND n.nspname = ANY($1)"#,
    },
    Lint {
        id: "policy_exists_rls_disabled",
        title: "policy on a table whose row-level security is disabled",
        severity: Status::Fail,
        sql: r#"SELECT format('policy %I on %I.%I', p.polname, n.nspname, c.relname), 'the policy is not enforced'
                FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE NOT c.relrowsecurity AND n.nspname = ANY($1)"#,
    },
    Lint {
        id: "unindexed_foreign_keys",
        title: "foreign key without a covering index",
        severity: Status::Warn,
        sql: r#"SELECT format('constraint %I on %I.%I', con.conname, n.nspname, c.relname), pg_get_constraintdef(con.oid)
                FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE con.contype = 'f' AND n.nspname = ANY($1)
                  AND NOT EXISTS (
                    SELECT 1 FROM pg_index x
                    WHERE x.indrelid = con.conrelid
                      AND (SELECT array_agg(k ORDER BY k) FROM unnest((x.indkey::int2[])[0:cardinality(con.conkey) - 1]) k)
                        = (SELECT array_agg(k ORDER BY k) FROM unnest(con.conkey) k))"#,
    },
    Lint {
        id: "multiple_permissive_policies",
        title: "several permissive policies for the same role and command (each is evaluated)",
        severity: Status::Warn,
        sql: r#"SELECT format('%s on %I.%I for %s', r.role, n.nspname, c.relname, cmd.cmd),
                       string_agg(p.polname, ', ' ORDER BY p.polname)
                FROM pg_policy p
                JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                CROSS JOIN LATERAL (SELECT CASE WHEN x = 0 THEN 'public' ELSE pg_get_userbyid(x) END AS role FROM unnest(p.polroles) x) r
                CROSS JOIN LATERAL (SELECT unnest(CASE p.polcmd WHEN '*' THEN ARRAY['SELECT','INSERT','UPDATE','DELETE']
                    WHEN 'r' THEN ARRAY['SELECT'] WHEN 'a' THEN ARRAY['INSERT'] WHEN 'w' THEN ARRAY['UPDATE'] ELSE ARRAY['DELETE'] END) AS cmd) cmd
                WHERE p.polpermissive AND n.nspname = ANY($1)
                GROUP BY r.role, n.nspname, c.relname, cmd.cmd HAVING count(*) > 1"#,
    },
    Lint {
        id: "unenforced_denormalized_owner",
        title: "denormalised ownership column with nothing keeping it equal to its source",
        severity: Status::Fail,
        // A column that copies a column of the parent it references (messages.auth_user_id copies
        // conversations.auth_user_id): enforced by a foreign key that covers both the reference
        // and the copy, or by a trigger on the table that names the column.
        sql: r#"SELECT format('column %I.%I.%I', n.nspname, c.relname, a.attname),
                       format('copies %s.%I through %s; add a composite foreign key (%s, %I) or a trigger that sets it',
                              con.confrelid::regclass, a.attname, con.conname,
                              (SELECT string_agg(quote_ident(attname), ', ') FROM pg_attribute WHERE attrelid = con.conrelid AND attnum = ANY (con.conkey)),
                              a.attname)
                FROM pg_constraint con
                JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum > 0 AND NOT a.attisdropped
                JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attname = a.attname
                WHERE con.contype = 'f' AND n.nspname = ANY($1)
                  AND a.attname ~ '(user_id|owner|owner_id)$'
                  AND NOT a.attnum = ANY (con.conkey)
                  AND NOT pa.attnum = ANY (con.confkey)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.conrelid = con.conrelid AND f.contype = 'f'
                                  AND f.confrelid = con.confrelid AND a.attnum = ANY (f.conkey) AND con.conkey <@ f.conkey)
                  AND NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc tp ON tp.oid = t.tgfoid
                                  WHERE t.tgrelid = con.conrelid AND NOT t.tgisinternal AND tp.prosrc ~ a.attname)"#,
    },
];

/// (lint id, object, detail).
pub type Finding = (String, String, String);

pub async fn run(conn: &mut PgConnection, schemas: &[String]) -> sqlx::Result<BTreeSet<Finding>> {
    let mut out = BTreeSet::new();
    for lint in LINTS {
        let rows: Vec<(String, String)> = sqlx::query_as(lint.sql).bind(schemas).fetch_all(&mut *conn).await?;
        out.extend(rows.into_iter().map(|(object, detail)| (lint.id.to_string(), object, detail)));
    }
    Ok(out)
}

/// One check per lint: findings the migrations add, or that sit on an object they changed
/// (`changed`, catalog names such as `function public.f(a uuid)`), at the lint's severity;
/// findings that were already there on untouched objects as information.
pub fn compare(before: &BTreeSet<Finding>, after: &BTreeSet<Finding>, changed: &BTreeSet<String>) -> Vec<Check> {
    let same = |a: &Finding, b: &Finding| a.0 == b.0 && a.1 == b.1 && !changed.contains(&a.1);
    LINTS
        .iter()
        .map(|lint| {
            let found: Vec<&Finding> = after.iter().filter(|f| f.0 == lint.id).collect();
            let (old, new): (Vec<&Finding>, Vec<&Finding>) =
                found.iter().partition(|f| before.iter().any(|b| same(b, f)));
            let mut lines: Vec<String> = new
                .iter()
                .map(|f| {
                    let was_there = before.iter().any(|b| b.0 == f.0 && b.1 == f.1);
                    let how = if was_there { "changed by the migration, still" } else { "new" };
                    format!("{how}: {} — {}", f.1, f.2)
                })
                .collect();
            lines.extend(old.iter().map(|f| format!("already there: {} — {}", f.1, f.2)));
            let status = if !new.is_empty() {
                lint.severity
            } else if !old.is_empty() {
                Status::Info
            } else {
                Status::Pass
            };
            Check::new(format!("lint.{}", lint.id), lint.title, status)
                .value(format!("{} new, {} already there", new.len(), old.len()))
                .detail(lines.join("\n"))
        })
        .collect()
}
