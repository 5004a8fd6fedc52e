//! Hosted Supabase runs migrations as `postgres`, which is not a superuser; its `supautils`
//! extension then runs a few statements on that role's behalf as the superuser and refuses a few
//! that plain Postgres would allow. This decides, from a statement's text, which of the three a
//! statement is, so the ephemeral database raises what production would raise.
//!
//! The lists are supabase/postgres' `supautils.conf` (platform 15.8.1): privileged extensions,
//! `policy_grants`/`drop_trigger_grants` for `postgres`, reserved roles and memberships, and the
//! settings the privileged role may change. Two rules follow supautils as of 2026 (its own tests,
//! supabase/supautils@7e8cfb7, 2026-07-24): the privileged role may create event triggers
//! (`test/expected/event_triggers.out.in`), and `privileged_role_allowed_configs` takes wildcards,
//! with `pgrst.*` among them, so `ALTER ROLE authenticator SET pgrst.db_schemas = …` works
//! (`test/init.conf.in`, `test/expected/privileged_role.out.in`).

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
const PRIVILEGED_EXTENSIONS: &str = "\
    address_standardizer address_standardizer_data_us autoinc bloom btree_gin btree_gist citext \
    cube dblink dict_int dict_xsyn earthdistance fuzzystrmatch hstore http hypopg index_advisor \
    insert_username intarray isn ltree moddatetime pg_cron pg_graphql pg_hashids pg_jsonschema \
    pg_net pg_repack pg_stat_monitor pg_stat_statements pg_trgm pg_walinspect pgaudit pgcrypto \
    pgjwt pgmq pgroonga pgroonga_database pgrouting pgrowlocks pgsodium pgtap plcoffee plls plpgsql \
    plpgsql_check plv8 postgis postgis_raster postgis_sfcgal postgis_tiger_geocoder \
    postgis_topology postgres_fdw refint rum seg sslinfo supabase_vault tablefunc tcn \
    tsm_system_rows unaccent uuid-ossp wrappers";

fn privileged_extension(name: &str) -> bool {
    PRIVILEGED_EXTENSIONS.split_whitespace().any(|e| e == name)
}

/// Extensions hosted Supabase offers besides the privileged ones (trusted, created as the role
/// that asks): pgvector's `vector` and the trusted contrib modules migrations use.
const TRUSTED_EXTENSIONS: &str = "vector pg_prewarm pg_buffercache pgstattuple lo intagg tsm_system_time xml2 amcheck";

/// The offered extension whose name is closest to `name`, when `name` is not one but looks like
/// a misspelling of one (`pgnet` → `pg_net`).
pub fn near_extension(name: &str) -> Option<&'static str> {
    let all = PRIVILEGED_EXTENSIONS.split_whitespace().chain(TRUSTED_EXTENSIONS.split_whitespace());
    let mut known = all.clone();
    if known.any(|e| e == name) {
        return None;
    }
    all.map(|e| (strsim::damerau_levenshtein(e, name), e)).filter(|(d, _)| *d <= 2).min().map(|(_, e)| e)
}

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
/// --data-only` open with `SET session_replication_role = replica`); `prefix.*` allows every
/// setting under the prefix: PostgREST's `pgrst.*`, which projects set on `authenticator`.
const ALLOWED_SETTINGS: [&str; 4] = ["session_replication_role", "track_io_timing", "pgrst.*", "pgaudit.*"];

fn allowed_setting(name: &str) -> bool {
    ALLOWED_SETTINGS.iter().any(|allowed| match allowed.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *allowed,
    })
}

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
    let w = Words(tokens(&strip_comments(sql)));
    match (w.word(0).as_str(), w.word(1).as_str()) {
        ("CREATE" | "DROP" | "ALTER", "EXTENSION") => extension(&w, stand_ins),
        ("CREATE" | "ALTER" | "DROP", "POLICY") => on_granted_table(&w, "supautils.policy_grants"),
        ("DROP", "TRIGGER") => on_granted_table(&w, "supautils.drop_trigger_grants"),
        // Event triggers need a superuser in Postgres; supautils lets the privileged role create,
        // alter and drop its own.
        ("CREATE" | "ALTER" | "DROP", "EVENT") if w.word(2) == "TRIGGER" => {
            Verdict::AsSuperuser("supautils: event triggers by the privileged role")
        }
        // supautils' hook sees every utility statement, also those a DO block runs: a policy on
        // storage.objects created in `DO $$ BEGIN IF NOT EXISTS (…) THEN CREATE POLICY … END $$`.
        ("DO", _) => do_block(sql, stand_ins),
        ("ALTER", "ROLE" | "USER" | "GROUP") => alter_role(&w),
        ("DROP", "ROLE" | "USER" | "GROUP") => {
            let dropped = w.list(w.after_if(2));
            dropped
                .iter()
                .find(|r| RESERVED_ROLES.contains(&r.as_str()))
                .map_or(Verdict::AsMigrationRole, |r| reserved_role(r))
        }
        ("CREATE", "ROLE" | "USER" | "GROUP") => {
            // CREATE ROLE r IN ROLE a, b / IN GROUP a
            let granted = w.position_of("IN", 3).filter(|&i| matches!(w.word(i + 1).as_str(), "ROLE" | "GROUP"));
            let granted = granted.map(|i| w.list(i + 2)).unwrap_or_default();
            reserved_membership_in(&granted)
        }
        ("GRANT", _) if w.position_of("ON", 1).is_none() => {
            // GRANT role [, role] TO grantee: a membership.
            reserved_membership_in(&w.list(1))
        }
        ("SET" | "RESET", "SESSION") if w.word(2) == "AUTHORIZATION" => {
            Verdict::Refused("permission denied to set session authorization".to_string())
        }
        ("SET", _) | ("RESET", _) => {
            let setting = if matches!(w.word(1).as_str(), "SESSION" | "LOCAL") { w.name(2) } else { w.name(1) };
            if allowed_setting(&setting) {
                Verdict::AsSuperuser("supautils.privileged_role_allowed_configs")
            } else {
                Verdict::AsMigrationRole
            }
        }
        _ => Verdict::AsMigrationRole,
    }
}

/// CREATE / ALTER / DROP EXTENSION: a stand-in, a privileged extension, or Postgres decides.
fn extension(w: &Words, stand_ins: &[&str]) -> Verdict {
    let first = w.after_if(2);
    // DROP EXTENSION a, b [CASCADE]; the others name one.
    let names = if w.word(0) == "DROP" { w.list(first) } else { vec![w.name(first)] };
    if let Some(ext) = names.iter().find(|n| stand_ins.contains(&n.as_str())) {
        return Verdict::StandIn(format!(
            "`{ext}` is not installed on this Postgres; the layer's stand-in takes its place (env.supabase_layer \
             says what it does not do), so this statement was not sent"
        ));
    }
    if names.iter().all(|n| privileged_extension(n)) {
        return Verdict::AsSuperuser("supautils.privileged_extensions");
    }
    Verdict::AsMigrationRole
}

/// A DO block: as the superuser when a statement it runs (as written in its body, not built as a
/// string for EXECUTE) uses the policy or drop-trigger grants; Postgres decides otherwise.
fn do_block(sql: &str, stand_ins: &[&str]) -> Verdict {
    let body = strip_comments(sql);
    let granted = body.split(';').map(|part| {
        // A statement inside THEN / BEGIN / LOOP starts after those words.
        let upper = part.to_ascii_uppercase();
        let at =
            ["CREATE POLICY", "ALTER POLICY", "DROP POLICY", "DROP TRIGGER"].iter().filter_map(|k| upper.find(k)).min();
        at.map(|i| &part[i..]).unwrap_or("")
    });
    granted
        .filter(|statement| !statement.is_empty())
        .map(|statement| classify(statement, stand_ins))
        .find(|v| matches!(v, Verdict::AsSuperuser(_)))
        .unwrap_or(Verdict::AsMigrationRole)
}

/// `… ON table`: as the superuser when the table is one the grant `setting` lists.
fn on_granted_table(w: &Words, setting: &'static str) -> Verdict {
    match w.position_of("ON", 2).map(|i| w.name(i + 1)) {
        Some(table) if POLICY_GRANTS.contains(&table.as_str()) => Verdict::AsSuperuser(setting),
        _ => Verdict::AsMigrationRole,
    }
}

fn alter_role(w: &Words) -> Verdict {
    let role = w.name(2);
    // ALTER ROLE r [IN DATABASE d] SET name …: a setting supautils allows is set as the superuser.
    let set_at = if w.word(3) == "IN" && w.word(4) == "DATABASE" { 6 } else { 3 };
    let allowed = matches!(w.word(set_at).as_str(), "SET" | "RESET") && allowed_setting(&w.name(set_at + 1));
    if allowed && (SETTINGS_ALLOWED.contains(&role.as_str()) || !RESERVED_ROLES.contains(&role.as_str())) {
        return Verdict::AsSuperuser("supautils.privileged_role_allowed_configs");
    }
    let renamed = (w.word(3) == "RENAME" && w.word(4) == "TO").then(|| w.name(5));
    if let Some(to) = renamed.filter(|to| RESERVED_ROLES.contains(&to.as_str())) {
        return reserved_role(&to);
    }
    let settings_only = matches!(w.word(3).as_str(), "SET" | "RESET")
        || (w.word(3) == "IN" && w.word(4) == "DATABASE" && matches!(w.word(6).as_str(), "SET" | "RESET"));
    if RESERVED_ROLES.contains(&role.as_str()) && !(settings_only && SETTINGS_ALLOWED.contains(&role.as_str())) {
        return reserved_role(&role);
    }
    Verdict::AsMigrationRole
}

fn reserved_membership_in(roles: &[String]) -> Verdict {
    roles
        .iter()
        .find(|r| RESERVED_MEMBERSHIPS.contains(&r.as_str()))
        .map_or(Verdict::AsMigrationRole, |r| reserved_membership(r))
}

/// A statement's tokens, read as keywords (`word`) or names (`name`).
struct Words(Vec<String>);

impl Words {
    fn word(&self, i: usize) -> String {
        self.0.get(i).map(|t| t.to_ascii_uppercase()).unwrap_or_default()
    }

    fn name(&self, i: usize) -> String {
        self.0.get(i).map(|t| identifier(t)).unwrap_or_default()
    }

    /// The index after an optional `IF [NOT] EXISTS` at `i`.
    fn after_if(&self, i: usize) -> usize {
        match (self.word(i).as_str(), self.word(i + 1).as_str()) {
            ("IF", "NOT") => i + 3,
            ("IF", "EXISTS") => i + 2,
            _ => i,
        }
    }

    fn position_of(&self, keyword: &str, from: usize) -> Option<usize> {
        (from..self.0.len()).find(|&i| self.word(i) == keyword)
    }

    /// The names of a comma-separated list starting at `i`.
    fn list(&self, mut i: usize) -> Vec<String> {
        let mut names = Vec::new();
        while i < self.0.len() {
            names.push(self.name(i));
            if self.0.get(i + 1).map(String::as_str) != Some(",") {
                break;
            }
            i += 2;
        }
        names
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
mod tests;
