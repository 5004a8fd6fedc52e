//! Which generation of hosted Supabase a local run reproduces, and why.
//!
//! Supabase's changelog 45329 ("Breaking Change: Tables not exposed to Data and GraphQL API
//! automatically", 2026-04-28): the default privileges that granted every new table, sequence and
//! function in `public` to `anon`, `authenticated` and `service_role` are off for projects created
//! from 2026-05-30 and for every project from 2026-10-30; objects that existed keep their grants.
//! pg_graphql is no longer enabled by default from 2026-05-18; new projects run Postgres 17.
//! A project that turned "Default privileges for new entities" back on is modelled with
//! `[xtask] platform = "2024"` in `config.toml`.

use std::path::Path;

use anyhow::Context;
use sqlx::PgConnection;

use crate::report::{Check, Status};

/// Automatic grants stop for projects created from this day…
const NEW_PROJECTS: &str = "20260530";
/// …and for every project from this one.
const ALL_PROJECTS: &str = "20261030";

/// How new objects in `public` get their Data API grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grants {
    /// The 2024 platform: every new object is granted to the API roles.
    Automatic,
    /// The platform today: only what the migrations grant.
    Explicit,
}

/// The platform a run reproduces: grants switch from automatic to explicit before file
/// `switch_at` of the run's files (baseline then pending), when they switch at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub grants: Grants,
    /// Index into the run's files before which new objects stop getting grants.
    pub switch_at: Option<usize>,
    pub why: String,
}

/// `[xtask] platform` of config.toml: `"2024"` (automatic grants), `"2026"` or `"current"`.
pub fn configured(supabase_dir: &Path) -> anyhow::Result<Option<Grants>> {
    let path = supabase_dir.join("config.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let config: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let Some(value) = config.get("xtask").and_then(|x| x.get("platform")) else { return Ok(None) };
    match value.as_str() {
        Some("2024") => Ok(Some(Grants::Automatic)),
        Some("2026" | "current") => Ok(Some(Grants::Explicit)),
        _ => anyhow::bail!(
            "{}: [xtask] platform = {value} is not a platform this tool models; use \"2026\" (the platform today: \
             new tables and functions are not granted to the API roles) or \"2024\" (a project that turned \
             \"Default privileges for new entities\" on)",
            path.display()
        ),
    }
}

/// The day a migration version names (`YYYYMMDD…`), if it is a timestamp.
fn day(version: &str) -> Option<&str> {
    let day = version.get(..8)?;
    (version.len() >= 8 && day.bytes().all(|b| b.is_ascii_digit()) && (day.starts_with("19") || day.starts_with("20")))
        .then_some(day)
}

/// Decides the platform for files `baseline` then `pending` (their versions): pending files run
/// today, so after the switch; a baseline file dated from 2026-10-30 ran after it too; a project
/// whose first migration is dated from 2026-05-30 was created without automatic grants.
pub fn choose(configured: Option<Grants>, baseline: &[&str], pending: &[&str]) -> Platform {
    if configured == Some(Grants::Automatic) {
        return Platform {
            grants: Grants::Automatic,
            switch_at: None,
            why: "config.toml [xtask] platform = \"2024\": new objects in public are granted to anon, authenticated \
                  and service_role, as with \"Default privileges for new entities\" on"
                .into(),
        };
    }
    let explicit = Platform { grants: Grants::Explicit, switch_at: Some(0), why: String::new() };
    if configured == Some(Grants::Explicit) {
        return Platform {
            why: "config.toml [xtask] platform = \"2026\": no automatic grants, from the first file".into(),
            ..explicit
        };
    }
    let first_day = baseline.first().or(pending.first()).and_then(|v| day(v));
    if let Some(d) = first_day.filter(|d| *d >= NEW_PROJECTS) {
        return Platform {
            why: format!(
                "the project's first migration is dated {}-{}-{}, on or after 2026-05-30, when new projects stopped \
                 granting new objects to the API roles: no automatic grants, from the first file",
                &d[..4],
                &d[4..6],
                &d[6..8]
            ),
            ..explicit
        };
    }
    let dated_after = baseline.iter().position(|v| day(v).is_some_and(|d| d >= ALL_PROJECTS));
    let at = dated_after.unwrap_or(baseline.len());
    let why = match dated_after {
        Some(_) => format!(
            "automatic grants for the {at} baseline file(s) dated before 2026-10-30, when hosted Supabase stopped \
             granting new objects in public to the API roles; explicit grants from {}",
            baseline[at]
        ),
        None => format!(
            "automatic grants for the {at} baseline file(s), which production applied before 2026-10-30; the pending \
             migrations run on the platform as it is today: what they create is reachable through the Data API only \
             where they grant it"
        ),
    };
    Platform { grants: Grants::Explicit, switch_at: Some(at), why }
}

/// Turns automatic grants off for the role migrations run as (`role`), as the platform did.
pub async fn switch(conn: &mut PgConnection, role: &str) -> anyhow::Result<()> {
    let role = crate::pg::quote_ident(role);
    let sql: String = ["TABLES", "SEQUENCES", "FUNCTIONS"]
        .iter()
        .map(|kind| {
            format!(
                "ALTER DEFAULT PRIVILEGES FOR ROLE {role} IN SCHEMA public REVOKE ALL ON {kind} \
                 FROM anon, authenticated, service_role;"
            )
        })
        .collect();
    sqlx::raw_sql(&sql).execute(&mut *conn).await.context("turning automatic Data API grants off")?;
    Ok(())
}

/// The run's platform, said in the report.
pub fn check(platform: &Platform) -> Check {
    let value = match platform.grants {
        Grants::Automatic => "2024 platform: automatic Data API grants",
        Grants::Explicit => "platform of 2026-10-30: explicit Data API grants",
    };
    Check::new("env.platform", "the hosted Supabase this run reproduces", Status::Info).value(value).detail(format!(
        "{}\nsource: supabase.com/changelog 45329 (2026-04-28); set [xtask] platform in config.toml to choose",
        platform.why
    ))
}

/// How the target grants what `postgres` creates in `public`: `None` when it has no API roles
/// (not a Supabase database).
pub async fn target_grants(conn: &mut PgConnection) -> anyhow::Result<Option<Grants>> {
    let (roles, automatic): (bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname IN ('anon', 'authenticated')), \
                EXISTS (SELECT FROM pg_default_acl d JOIN pg_roles o ON o.oid = d.defaclrole, \
                        aclexplode(d.defaclacl) a JOIN pg_roles g ON g.oid = a.grantee \
                        WHERE o.rolname = 'postgres' AND d.defaclnamespace = 'public'::regnamespace \
                          AND d.defaclobjtype = 'r' AND g.rolname IN ('anon', 'authenticated'))",
    )
    .fetch_one(&mut *conn)
    .await
    .context("reading the target's default privileges")?;
    Ok(roles.then_some(if automatic { Grants::Automatic } else { Grants::Explicit }))
}

/// What the target's default privileges say against what local runs model (`configured`).
pub fn target_check(target: Option<Grants>, configured: Option<Grants>) -> Check {
    let check = Check::new("target.grants_model", "local runs model the target's Data API grants", Status::Pass);
    let local = configured.unwrap_or(Grants::Explicit);
    match target {
        None => Check { status: Status::Info, ..check }
            .value("no API roles")
            .detail("the target has no anon or authenticated role: not a Supabase database, so no Data API grants"),
        Some(t) if t == local => check.value(describe(t)).detail(
            "the target's default privileges for postgres in public match what local runs model ([xtask] platform)",
        ),
        Some(Grants::Automatic) => Check { status: Status::Warn, ..check }.value(describe(Grants::Automatic)).detail(
            "the target still grants what postgres creates in public to anon and authenticated (\"Default \
             privileges for new entities\" is on), but local runs model today's platform, where new objects get \
             no grants: set [xtask] platform = \"2024\" in config.toml so db-local-test judges what production \
             will do",
        ),
        Some(Grants::Explicit) => Check { status: Status::Warn, ..check }.value(describe(Grants::Explicit)).detail(
            "the target grants nothing on new objects, but config.toml says [xtask] platform = \"2024\": local \
             runs grant new objects automatically, so a table the app cannot reach passes there; remove the setting",
        ),
    }
}

fn describe(grants: Grants) -> &'static str {
    match grants {
        Grants::Automatic => "automatic grants on new objects",
        Grants::Explicit => "explicit grants only",
    }
}

/// `[db] major_version` of config.toml.
pub fn project_major(supabase_dir: &Path) -> anyhow::Result<Option<u32>> {
    let path = supabase_dir.join("config.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let config: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let major = config.get("db").and_then(|db| db.get("major_version")).and_then(|m| m.as_integer());
    Ok(major.and_then(|m| u32::try_from(m).ok()))
}

/// The project's major against this server's: a check, or the error that stops the run.
pub async fn require_major(conn: &mut PgConnection, supabase_dir: &Path, other_major: bool) -> anyhow::Result<Check> {
    let server: i32 =
        sqlx::query_scalar("SELECT current_setting('server_version_num')::int / 10000").fetch_one(&mut *conn).await?;
    major_check(project_major(supabase_dir)?, server.unsigned_abs(), other_major).map_err(anyhow::Error::msg)
}

/// Whether a run on `server` (its major) proves anything for a project on `project`: a check,
/// or the error that stops the run (the project's major, unless `other_major` was asked for).
pub fn major_check(project: Option<u32>, server: u32, other_major: bool) -> Result<Check, String> {
    let check = Check::new("env.postgres_major", "Postgres is the project's major version", Status::Pass)
        .value(format!("{server}"));
    match project {
        None => Ok(Check { status: Status::Info, ..check }
            .detail(format!("config.toml names no [db] major_version: ran on {server}; new hosted projects run 17"))),
        Some(p) if p == server => Ok(check.detail(format!("config.toml [db] major_version = {p}"))),
        Some(p) if other_major => Ok(Check { status: Status::Warn, ..check }.detail(format!(
            "config.toml [db] major_version = {p}, but this run used Postgres {server} (--other-major): what \
             differs between the two majors is not proven"
        ))),
        Some(p) => Err(format!(
            "config.toml [db] major_version = {p}, but this Postgres is {server}: a run on another major proves \
             nothing about production. Use Postgres {p}: {docker}; or install its server binaries (PGDG package \
             postgresql-{p}) for the native backend; or pass --other-major to run on {server} with a warning",
            docker = match crate::pg::default_image(Some(p)) {
                image if image.starts_with(&format!("supabase/postgres:{p}.")) => format!(
                    "the docker backend runs {image} (the image `supabase start` pulls) when Docker can pull or has it"
                ),
                _ => format!("the Supabase CLI has no image of Postgres {p}"),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_grants_are_compared_with_the_local_model() {
        let cases = [
            (None, None, Status::Info),
            (Some(Grants::Explicit), None, Status::Pass),
            (Some(Grants::Automatic), None, Status::Warn),
            (Some(Grants::Automatic), Some(Grants::Automatic), Status::Pass),
            (Some(Grants::Explicit), Some(Grants::Automatic), Status::Warn),
        ];
        for (target, configured, status) in cases {
            assert_eq!(target_check(target, configured).status, status, "{target:?} {configured:?}");
        }
    }

    #[test]
    fn another_major_stops_the_run_unless_asked_for() {
        assert_eq!(major_check(Some(15), 15, false).map(|c| c.status), Ok(Status::Pass));
        assert_eq!(major_check(None, 15, false).map(|c| c.status), Ok(Status::Info));
        assert_eq!(major_check(Some(17), 15, true).map(|c| c.status), Ok(Status::Warn));
        let stop = major_check(Some(17), 15, false).expect_err("stops");
        assert!(
            stop.contains("postgresql-17") && stop.contains("supabase/postgres:17") && stop.contains("--other-major")
        );
    }

    type Case<'a> = (Option<Grants>, &'a [&'a str], &'a [&'a str], Grants, Option<usize>);

    #[test]
    fn grants_switch_where_the_platform_switched() {
        let cases: &[Case] = &[
            // An old project: its baseline kept its grants; pending files run today.
            (None, &["20240101000000", "20250601000000"], &["20261201000000"], Grants::Explicit, Some(2)),
            // A pending file written before the switch still runs today.
            (None, &["20240101000000"], &["20260901000000"], Grants::Explicit, Some(1)),
            // Baseline files applied after 2026-10-30 got no grants either.
            (None, &["20240101000000", "20261101000000"], &[], Grants::Explicit, Some(1)),
            // A project created after 2026-05-30 never had automatic grants.
            (None, &["20260601000000", "20260701000000"], &["20261201000000"], Grants::Explicit, Some(0)),
            // Versions that are not dates: only the pending files switch.
            (None, &["001", "002"], &["003"], Grants::Explicit, Some(2)),
            // The project says which.
            (Some(Grants::Automatic), &["20260601000000"], &["20261201000000"], Grants::Automatic, None),
            (Some(Grants::Explicit), &["20240101000000"], &["20261201000000"], Grants::Explicit, Some(0)),
        ];
        for (configured, baseline, pending, grants, switch_at) in cases {
            let p = choose(*configured, baseline, pending);
            assert_eq!((p.grants, p.switch_at), (*grants, *switch_at), "{baseline:?} {pending:?}: {}", p.why);
            assert!(!p.why.is_empty());
        }
        // The reason names the project's own first day, not the cut-off (read as the project's date).
        let p = choose(None, &["20260720000000"], &[]);
        assert!(
            p.why.starts_with("the project's first migration is dated 2026-07-20, on or after 2026-05-30"),
            "{}",
            p.why
        );
    }

    #[test]
    fn only_timestamps_are_read_as_days() {
        assert_eq!(day("20261030120000"), Some("20261030"));
        for v in ["001", "0001_init", "99991231", "abc"] {
            assert_eq!(day(v), None, "{v}");
        }
    }
}
