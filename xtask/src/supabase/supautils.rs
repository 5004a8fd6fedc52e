//! Hosted Supabase runs migrations as `postgres`, which is not a superuser; its `supautils`
//! extension then runs a few statements on that role's behalf as the superuser and refuses a few
//! that plain Postgres would allow. This decides, from a statement's text, which of the three a
//! statement is, so the ephemeral database raises what production would raise.
//!
//! The lists are supabase/postgres' `supautils.conf` (platform 15.8.1): privileged extensions,
//! `policy_grants`/`drop_trigger_grants` for `postgres`, reserved roles and memberships, and the
//! settings the privileged role may change.

use crate::runner::sql_split::strip_comments;

/// The role hosted Supabase (and `supabase db push`) applies migrations as.
pub const MIGRATION_ROLE: &str = "postgres";

/// Tables whose policies (and triggers, for dropping) `postgres` may manage without owning them.
pub const POLICY_GRANTS: [&str; 11] = [
    "auth.audit_log_entries",
    "auth.identities",
    "auth.refresh_tokens",
    "auth.sessions",
    "auth.users",
    "realtime.messages",
    "storage.buckets",
    "storage.migrations",
    "storage.objects",
    "storage.s3_multipart_uploads",
    "storage.s3_multipart_uploads_parts",
];

/// Extensions `postgres` may create although they are not trusted: created as the superuser.
pub const PRIVILEGED_EXTENSIONS: [&str; 64] = [
    "address_standardizer",
    "address_standardizer_data_us",
    "autoinc",
    "bloom",
    "btree_gin",
    "btree_gist",
    "citext",
    "cube",
    "dblink",
    "dict_int",
    "dict_xsyn",
    "earthdistance",
    "fuzzystrmatch",
    "hstore",
    "http",
    "hypopg",
    "index_advisor",
    "insert_username",
    "intarray",
    "isn",
    "ltree",
    "moddatetime",
    "pg_cron",
    "pg_graphql",
    "pg_hashids",
    "pg_jsonschema",
    "pg_net",
    "pg_repack",
    "pg_stat_monitor",
    "pg_stat_statements",
    "pg_trgm",
    "pg_walinspect",
    "pgaudit",
    "pgcrypto",
    "pgjwt",
    "pgmq",
    "pgroonga",
    "pgroonga_database",
    "pgrouting",
    "pgrowlocks",
    "pgsodium",
    "pgtap",
    "plcoffee",
    "plls",
    "plpgsql",
    "plpgsql_check",
    "plv8",
    "postgis",
    "postgis_raster",
    "postgis_sfcgal",
    "postgis_tiger_geocoder",
    "postgis_topology",
    "postgres_fdw",
    "refint",
    "rum",
    "seg",
    "sslinfo",
    "supabase_vault",
    "tablefunc",
    "tcn",
    "tsm_system_rows",
    "unaccent",
    "uuid-ossp",
    "wrappers",
];

/// Roles only a superuser may alter, rename or drop.
pub const RESERVED_ROLES: [&str; 14] = [
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_read_only_user",
    "supabase_realtime_admin",
    "supabase_replication_admin",
    "supabase_etl_admin",
    "dashboard_user",
    "pgbouncer",
    "service_role",
    "authenticator",
    "authenticated",
    "anon",
    "supabase_functions_admin",
];

/// Reserved roles whose settings (`ALTER ROLE … SET`) may still change: Supabase's own docs tell
/// projects to raise `authenticated`'s statement_timeout this way.
const SETTINGS_ALLOWED: [&str; 4] = ["anon", "authenticated", "service_role", "authenticator"];

/// Memberships only a superuser may grant.
pub const RESERVED_MEMBERSHIPS: [&str; 4] =
    ["pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "authenticator"];

/// Superuser-only settings the privileged role may change (seeds from `supabase db dump
/// --data-only` open with `SET session_replication_role = replica`).
const ALLOWED_SETTINGS: [&str; 2] = ["session_replication_role", "track_io_timing"];

/// How one statement runs for the migration role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// As `postgres`: Postgres alone decides.
    AsMigrationRole,
    /// supautils runs it as the superuser on the role's behalf; the reason names the setting.
    AsSuperuser(&'static str),
    /// supautils refuses it, in its own words (SQLSTATE 42501).
    Refused(String),
    /// A stand-in the layer installed already provides it (`pg_net` without the real extension):
    /// not sent, and the report says so.
    StandIn(String),
}

/// Decides how `sql` runs; `stand_ins` are the extensions the layer stands in for.
pub fn classify(sql: &str, stand_ins: &[&str]) -> Verdict {
    let tokens = tokens(&strip_comments(sql));
    let word = |i: usize| tokens.get(i).map(|t| t.to_ascii_uppercase()).unwrap_or_default();
    let name = |i: usize| tokens.get(i).map(|t| identifier(t)).unwrap_or_default();
    // Index of the token after an optional `IF [NOT] EXISTS`.
    let after_if = |i: usize| match (word(i).as_str(), word(i + 1).as_str()) {
        ("IF", "NOT") => i + 3,
        ("IF", "EXISTS") => i + 2,
        _ => i,
    };
    let position_of = |keyword: &str, from: usize| (from..tokens.len()).find(|&i| word(i) == keyword);
    match (word(0).as_str(), word(1).as_str()) {
        ("CREATE" | "DROP" | "ALTER", "EXTENSION") => {
            let first = after_if(2);
            let mut names = vec![name(first)];
            if word(0) == "DROP" {
                // DROP EXTENSION a, b [CASCADE]
                let mut i = first + 1;
                while tokens.get(i).map(String::as_str) == Some(",") {
                    names.push(name(i + 1));
                    i += 2;
                }
            }
            if let Some(ext) = names.iter().find(|n| stand_ins.contains(&n.as_str())) {
                return Verdict::StandIn(format!(
                    "`{ext}` is not installed on this Postgres; the layer's stand-in (schema `net`, requests \
                     recorded in net.http_request_queue, never sent) takes its place, so this statement was not sent"
                ));
            }
            if names.iter().all(|n| PRIVILEGED_EXTENSIONS.contains(&n.as_str())) {
                return Verdict::AsSuperuser("supautils.privileged_extensions");
            }
            Verdict::AsMigrationRole
        }
        ("CREATE" | "ALTER" | "DROP", "POLICY") => {
            let on = position_of("ON", 2);
            match on.map(|i| name(i + 1)) {
                Some(table) if POLICY_GRANTS.contains(&table.as_str()) => {
                    Verdict::AsSuperuser("supautils.policy_grants")
                }
                _ => Verdict::AsMigrationRole,
            }
        }
        ("DROP", "TRIGGER") => match position_of("ON", 2).map(|i| name(i + 1)) {
            Some(table) if POLICY_GRANTS.contains(&table.as_str()) => {
                Verdict::AsSuperuser("supautils.drop_trigger_grants")
            }
            _ => Verdict::AsMigrationRole,
        },
        ("ALTER", "ROLE" | "USER" | "GROUP") => {
            let role = name(2);
            let renamed = (word(3) == "RENAME" && word(4) == "TO").then(|| name(5));
            if let Some(to) = renamed.filter(|to| RESERVED_ROLES.contains(&to.as_str())) {
                return reserved_role(&to);
            }
            let settings_only = matches!(word(3).as_str(), "SET" | "RESET")
                || (word(3) == "IN" && word(4) == "DATABASE" && matches!(word(6).as_str(), "SET" | "RESET"));
            if RESERVED_ROLES.contains(&role.as_str()) && !(settings_only && SETTINGS_ALLOWED.contains(&role.as_str()))
            {
                return reserved_role(&role);
            }
            Verdict::AsMigrationRole
        }
        ("DROP", "ROLE" | "USER" | "GROUP") => {
            let mut i = after_if(2);
            loop {
                let role = name(i);
                if RESERVED_ROLES.contains(&role.as_str()) {
                    return reserved_role(&role);
                }
                if tokens.get(i + 1).map(String::as_str) != Some(",") {
                    return Verdict::AsMigrationRole;
                }
                i += 2;
            }
        }
        ("CREATE", "ROLE" | "USER" | "GROUP") => {
            // CREATE ROLE r IN ROLE a, b / IN GROUP a
            let granted = position_of("IN", 3).filter(|&i| matches!(word(i + 1).as_str(), "ROLE" | "GROUP"));
            let mut i = granted.map_or(tokens.len(), |i| i + 2);
            while i < tokens.len() {
                let role = name(i);
                if RESERVED_MEMBERSHIPS.contains(&role.as_str()) {
                    return reserved_membership(&role);
                }
                if tokens.get(i + 1).map(String::as_str) != Some(",") {
                    break;
                }
                i += 2;
            }
            Verdict::AsMigrationRole
        }
        ("GRANT", _) if position_of("ON", 1).is_none() => {
            // GRANT role [, role] TO grantee: a membership.
            let to = position_of("TO", 1).unwrap_or(tokens.len());
            let granted = (1..to).map(name).find(|r| RESERVED_MEMBERSHIPS.contains(&r.as_str()));
            granted.map_or(Verdict::AsMigrationRole, |r| reserved_membership(&r))
        }
        ("SET" | "RESET", "SESSION") if word(2) == "AUTHORIZATION" => {
            Verdict::Refused("permission denied to set session authorization".to_string())
        }
        ("SET", _) | ("RESET", _) => {
            let setting = if matches!(word(1).as_str(), "SESSION" | "LOCAL") { name(2) } else { name(1) };
            if ALLOWED_SETTINGS.contains(&setting.as_str()) {
                Verdict::AsSuperuser("supautils.privileged_role_allowed_configs")
            } else {
                Verdict::AsMigrationRole
            }
        }
        _ => Verdict::AsMigrationRole,
    }
}

fn reserved_role(role: &str) -> Verdict {
    Verdict::Refused(format!("\"{role}\" is a reserved role, only superusers can modify it"))
}

fn reserved_membership(role: &str) -> Verdict {
    Verdict::Refused(format!("\"{role}\" role memberships are reserved, only superusers can grant them"))
}

/// Words, quoted identifiers (kept with their quotes), strings, and `(`, `)`, `,`, `;`, `=` as
/// tokens of their own. Comments are already gone.
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                current.push(c);
                while let Some(d) = chars.next() {
                    current.push(d);
                    if d == c {
                        if chars.peek() == Some(&c) {
                            current.push(c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '(' | ')' | ',' | ';' | '=' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
                out.push(c.to_string());
            }
            c if c.is_whitespace() => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A possibly qualified, possibly quoted name as the catalog spells it: `"Storage".objects` ->
/// `Storage.objects`, `STORAGE.Objects` -> `storage.objects`.
fn identifier(token: &str) -> String {
    let mut out = String::new();
    let mut chars = token.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            while let Some(d) = chars.next() {
                if d == '"' {
                    if chars.peek() == Some(&'"') {
                        out.push('"');
                        chars.next();
                    } else {
                        break;
                    }
                } else {
                    out.push(d);
                }
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(sql: &str, expected: Verdict) {
        assert_eq!(classify(sql, &["pg_net"]), expected, "{sql}");
    }

    fn refused(text: &str) -> Verdict {
        Verdict::Refused(text.to_string())
    }

    #[test]
    fn privileged_extensions_run_as_the_superuser_and_others_as_postgres() {
        let superuser = Verdict::AsSuperuser("supautils.privileged_extensions");
        check("create extension if not exists pg_cron with schema pg_catalog", superuser.clone());
        check("CREATE EXTENSION \"uuid-ossp\" WITH SCHEMA extensions", superuser.clone());
        check("drop extension if exists pg_trgm, hstore cascade", superuser.clone());
        check("alter extension pg_trgm update", superuser);
        // Not on the list: Postgres decides (a trusted extension works, another fails as in production).
        check("create extension vector with schema extensions", Verdict::AsMigrationRole);
        check("drop extension pg_trgm, vector", Verdict::AsMigrationRole);
    }

    #[test]
    fn a_stand_in_extension_is_not_sent() {
        for sql in ["create extension if not exists \"pg_net\" with schema \"extensions\"", "drop extension pg_net"] {
            assert!(matches!(classify(sql, &["pg_net"]), Verdict::StandIn(_)), "{sql}");
        }
        assert_eq!(classify("create extension pg_net", &[]), Verdict::AsSuperuser("supautils.privileged_extensions"));
    }

    #[test]
    fn policies_and_dropped_triggers_on_platform_tables_use_the_grants() {
        let policy = Verdict::AsSuperuser("supautils.policy_grants");
        check(
            "create policy \"avatars are their owner's\" on storage.objects for select to authenticated using (true)",
            policy.clone(),
        );
        check("CREATE POLICY p ON \"storage\".\"objects\" FOR ALL USING (true)", policy.clone());
        check("drop policy if exists \"Give users access\" on storage.objects", policy.clone());
        check("alter policy p on auth.users using (false)", policy);
        check("create policy p on public.profiles using (true)", Verdict::AsMigrationRole);
        check(
            "drop trigger if exists on_auth_user_created on auth.users",
            Verdict::AsSuperuser("supautils.drop_trigger_grants"),
        );
        check("drop trigger t on public.profiles", Verdict::AsMigrationRole);
        // Not covered by any grant: Postgres refuses it as in production (must be owner).
        check("alter table storage.objects enable row level security", Verdict::AsMigrationRole);
    }

    #[test]
    fn reserved_roles_and_memberships_are_refused_in_supautils_words() {
        check(
            "alter role authenticator nosuperuser",
            refused("\"authenticator\" is a reserved role, only superusers can modify it"),
        );
        check(
            "ALTER USER supabase_storage_admin WITH PASSWORD 'x'",
            refused("\"supabase_storage_admin\" is a reserved role, only superusers can modify it"),
        );
        check(
            "alter role supabase_auth_admin set search_path = auth",
            refused("\"supabase_auth_admin\" is a reserved role, only superusers can modify it"),
        );
        check("alter role app rename to anon", refused("\"anon\" is a reserved role, only superusers can modify it"));
        check(
            "drop role if exists app_reader, anon",
            refused("\"anon\" is a reserved role, only superusers can modify it"),
        );
        check(
            "grant authenticator to app_user",
            refused("\"authenticator\" role memberships are reserved, only superusers can grant them"),
        );
        check(
            "create role spy login in role pg_read_server_files",
            refused("\"pg_read_server_files\" role memberships are reserved, only superusers can grant them"),
        );
        check("set session authorization supabase_admin", refused("permission denied to set session authorization"));
        // Allowed: settings of the API roles, ordinary roles, grants of privileges.
        check("alter role authenticated set statement_timeout = '15s'", Verdict::AsMigrationRole);
        check("alter role app_reader nologin", Verdict::AsMigrationRole);
        check("grant anon to app_user", Verdict::AsMigrationRole);
        check("grant select on all tables in schema public to authenticator", Verdict::AsMigrationRole);
        check("alter role postgres nosuperuser", Verdict::AsMigrationRole);
    }

    #[test]
    fn settings_the_privileged_role_may_change_run_as_the_superuser() {
        let allowed = Verdict::AsSuperuser("supautils.privileged_role_allowed_configs");
        check("SET session_replication_role = replica", allowed.clone());
        check("set local session_replication_role to 'origin'", allowed.clone());
        check("reset session_replication_role", allowed);
        check("set search_path = public", Verdict::AsMigrationRole);
        check("set statement_timeout = 0", Verdict::AsMigrationRole);
    }
}
