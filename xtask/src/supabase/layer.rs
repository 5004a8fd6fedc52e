//! Installs what a bare PostgreSQL lacks and Supabase migrations assume (roles, `auth`,
//! `storage`, `extensions`, vault, a pg_net stand-in, default privileges, the CLI's history
//! table), and says which role migrations then run as. Idempotent; leaves existing objects
//! alone, so it is safe on a real Supabase database too.

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use super::supautils;
use crate::{
    report::{Check, Status},
    runner::PlatformRole,
};

/// The layer's SQL, versioned in its first line.
pub const SQL: &str = include_str!("../../sql/supabase_layer.sql");

/// `supabase-layer vN`, from the SQL's first line.
pub fn version() -> &'static str {
    SQL.lines().next().unwrap_or_default().trim_start_matches("-- ").trim()
}

pub async fn install(conn: &mut PgConnection) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    // Roles are cluster-wide: concurrent installs on one server (url backend) must not race.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('xtask supabase layer'))").execute(&mut *tx).await?;
    sqlx::raw_sql(SQL).execute(&mut *tx).await.with_context(|| {
        format!(
            "installing the Supabase layer ({}); the server needs the contrib extensions \
             pgcrypto and uuid-ossp",
            version()
        )
    })?;
    tx.commit().await?;
    Ok(())
}

/// Who migrations run as after the layer, measured on `conn`: hosted Supabase's non-superuser
/// `postgres` (with supautils' exceptions) where this session can take that role, else the
/// connected user, with why.
pub async fn platform_role(conn: &mut PgConnection) -> anyhow::Result<MigrationRole> {
    let (me, me_super, postgres_super): (String, bool, Option<bool>) = sqlx::query_as(
        "SELECT current_user::text, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), \
                (SELECT rolsuper FROM pg_roles WHERE rolname = $1)",
    )
    .bind(supautils::MIGRATION_ROLE)
    .fetch_one(&mut *conn)
    .await
    .context("reading which role migrations can run as")?;
    let mut stand_ins = Vec::new();
    for (extension, schema, _) in STAND_INS {
        let comment: Option<String> = sqlx::query_scalar("SELECT obj_description(to_regnamespace($1), 'pg_namespace')")
            .bind(schema)
            .fetch_one(&mut *conn)
            .await?;
        if comment.is_some_and(|c| c.starts_with("supabase-layer stand-in")) {
            stand_ins.push(extension);
        }
    }
    let role = supautils::MIGRATION_ROLE;
    let (role, why_not) = match postgres_super {
        Some(false) if me_super => (Some(role.to_string()), None),
        Some(true) => (
            None,
            Some(format!(
                "role {role} is a superuser on this server, as it is not on hosted Supabase: migrations run as a \
                 superuser here, so a statement production refuses (42501) passes; use the native or docker \
                 backend, where it is not"
            )),
        ),
        _ => (
            None,
            Some(format!(
                "the connected role {me} is not a superuser, so it cannot take the role {role}: migrations run as {me}"
            )),
        ),
    };
    Ok(MigrationRole { session: PlatformRole { role, stand_ins }, why_not })
}

/// See [`platform_role`].
#[derive(Debug, Clone)]
pub struct MigrationRole {
    /// What the runner takes for every file it applies on the ephemeral database.
    pub session: PlatformRole,
    /// Why migrations do not run as hosted Supabase's `postgres`, when they do not.
    pub why_not: Option<String>,
}

/// The platform's extensions the layer stands in for where this Postgres lacks them: (extension,
/// its schema, what the stand-in does not do).
pub const STAND_INS: [(&str, &str, &str); 4] = [
    ("pg_net", "net", "sends nothing: requests are recorded in net.http_request_queue"),
    ("pg_graphql", "graphql", "answers every query with an error: GraphQL is not served"),
    ("supabase_vault", "vault", "keeps secrets in clear text (no pgsodium key)"),
    ("pgsodium", "pgsodium", "has no functions: any use fails (cryptography is never faked)"),
];

/// What production has that the layer does not reproduce: printed with every report.
pub const NOT_REPRODUCED: [&str; 5] = [
    "the auth, storage and realtime servers (GoTrue, storage-api, Realtime): their tables exist, their \
     processes do not (no e-mails, no file bytes, no broadcasts)",
    "supautils is reproduced by the runner from each statement's text (privileged extensions, policy and \
     trigger grants, reserved roles): a DO block's own statements are read too, but SQL built as a string (EXECUTE) or run by a function is not seen",
    "extensions this Postgres does not have and the layer does not stand in for (vector, pg_jsonschema, http, \
     …): a migration that needs one stops with the package or image that has it",
    "the platform's event triggers and extension after-create scripts",
    "an event trigger the migrations create belongs to `postgres` on hosted Supabase and is skipped for \
     superusers and reserved roles (supautils); here the superuser creates it and it fires for every role",
];

/// The platform's pieces this database already had before the layer (a `supabase/postgres`
/// image, a real Supabase database): the layer leaves them alone, and the report says so.
pub async fn already_present(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let present: Vec<String> = sqlx::query_scalar(
        "SELECT 'schema ' || nspname FROM pg_namespace \
           WHERE nspname IN ('auth', 'storage', 'vault', 'net', 'realtime', 'graphql', 'supabase_functions', 'extensions') \
         UNION ALL SELECT 'role ' || rolname FROM pg_roles \
           WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator', 'supabase_auth_admin', \
                             'supabase_storage_admin') \
         UNION ALL SELECT 'publication ' || pubname FROM pg_publication WHERE pubname = 'supabase_realtime' \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .context("reading what the platform already has")?;
    Ok(present)
}

/// The layer's check: its version, what was already there, and what it does not reproduce.
pub fn layer_check(role: &MigrationRole, present: &[String]) -> Check {
    let mut missing: Vec<String> = NOT_REPRODUCED.iter().map(|m| format!("  - {m}")).collect();
    for (extension, _, lacks) in STAND_INS.iter().filter(|(e, _, _)| role.session.stand_ins.contains(e)) {
        missing.push(format!("  - stand-in for {extension}: {lacks}"));
    }
    let mut detail = Vec::new();
    if !present.is_empty() {
        detail.push(format!("already there, left alone (only what was missing was added): {}", present.join(", ")));
    }
    detail.push(format!("not reproduced compared with hosted Supabase:\n{}", missing.join("\n")));
    Check::new("env.supabase_layer", "Supabase roles, auth schema and history table", Status::Pass)
        .value(version())
        .detail(detail.join("\n"))
}

/// Which role migrations run as: a warning when it is not hosted Supabase's.
pub fn role_check(role: &MigrationRole) -> Check {
    let check = Check::new("env.migration_role", "migrations run as hosted Supabase runs them", Status::Pass);
    match (&role.session.role, &role.why_not) {
        (Some(name), _) => check.value(format!("{name}, not a superuser")).detail(format!(
            "as `supabase db push` on hosted Supabase: {name} owns what migrations create; supautils' \
             exceptions apply (privileged extensions, policies and dropped triggers on auth/storage tables, \
             reserved roles refused)"
        )),
        (None, why) => Check { status: Status::Warn, ..check }.detail(why.clone().unwrap_or_default()),
    }
}
