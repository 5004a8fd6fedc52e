//! Dumping a target by hand (direct mode): roles without Supabase's own, then schema, data, row
//! counts and catalog from one exported snapshot; tools get the password through PGPASSWORD.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use super::{private::write_private, FILES};
use crate::{
    analysis::catalog::{CatalogSnapshot, MANAGED_SCHEMAS},
    production::Session,
};

/// Roles every Supabase (or bare) database already has: never part of roles.sql.
const RESERVED_ROLES: &[&str] = &[
    "postgres",
    "anon",
    "authenticated",
    "service_role",
    "authenticator",
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_replication_admin",
    "supabase_read_only_user",
    "supabase_realtime_admin",
    "supabase_functions_admin",
    "supabase_etl_admin",
    "dashboard_user",
    "pgbouncer",
    "pgsodium_keyholder",
    "pgsodium_keyiduser",
    "pgsodium_keymaker",
];

/// Platform schemas that hold the project's data (its users and their identities, its buckets
/// and objects, its secrets, its webhooks): their rows are backed up like the project's own.
pub const PLATFORM_DATA_SCHEMAS: &[&str] = &["auth", "storage", "vault", "supabase_functions"];
/// The platform's own bookkeeping in those schemas (its version, not the project's data), left
/// out as the supabase CLI's data dump leaves it out.
const PLATFORM_BOOKKEEPING: &[&str] =
    &["auth.schema_migrations", "storage.migrations", "supabase_functions.migrations"];

/// Row counts of every table the backup holds: the project's schemas, the platform schemas that
/// hold its data, and the migration history.
pub(super) async fn count_rows(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<String, i64>> {
    let excluded: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| s.to_string()).collect();
    let platform: Vec<String> = PLATFORM_DATA_SCHEMAS.iter().map(|s| s.to_string()).collect();
    let bookkeeping: Vec<String> = PLATFORM_BOOKKEEPING.iter().map(|s| s.to_string()).collect();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND (n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\\_%' \
            OR n.nspname = ANY($2) AND n.nspname || '.' || c.relname <> ALL($3) \
            OR (n.nspname, c.relname) = ('supabase_migrations', 'schema_migrations')) \
         ORDER BY 1",
    )
    .bind(&excluded)
    .bind(&platform)
    .bind(&bookkeeping)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}")).fetch_one(&mut *conn).await?;
        out.insert(t, n);
    }
    Ok(out)
}

/// Whether a counted table lives in a managed schema (its rows are dumped by name).
fn in_managed_schema(table: &str) -> bool {
    let schema = table.split('.').next().unwrap_or_default().trim_matches('"');
    MANAGED_SCHEMAS.contains(&schema)
}

/// pg_dumpall/pg_dump by hand, each writing its file itself (nothing of a dump passes through
/// this process's memory); the data and the counts come from one exported snapshot.
pub(super) async fn dump_direct(
    session: &mut Session,
    dir: &Path,
) -> anyhow::Result<(BTreeMap<String, i64>, CatalogSnapshot)> {
    let (url, password) = split_password(&session.target().url)?;
    let password = password.as_deref();
    let pg_dump = crate::pg::find_pg_tool("pg_dump")?;
    let pg_dumpall = crate::pg::find_pg_tool("pg_dumpall")?;
    let excluded: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| format!("--exclude-schema={s}")).collect();

    let roles = dir.join(format!("{}.all", FILES[0]));
    dump_to(&pg_dumpall, &["--roles-only", "--no-role-passwords", "-d", &url], password, &roles)?;
    let text = std::fs::read_to_string(&roles).with_context(|| format!("reading {}", roles.display()))?;
    write_private(&dir.join(FILES[0]), &without_reserved_roles(&text))?;
    std::fs::remove_file(&roles).with_context(|| format!("removing {}", roles.display()))?;

    // The schema, the data, the counts and the catalog all see one snapshot: the manifest and
    // catalog.json describe the files exactly.
    let mut tx = session.read().begin().await?;
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut *tx).await?;
    let tables = count_rows(&mut tx).await?;
    let catalog = CatalogSnapshot::take(&mut tx).await?;
    let snap = format!("--snapshot={snapshot}");
    let mut args: Vec<&str> = vec!["--schema-only", &snap, "-d", &url];
    args.extend(excluded.iter().map(String::as_str));
    dump_to(&pg_dump, &args, password, &dir.join(FILES[1]))?;
    // The platform tables that hold the project's data, by name; then every project schema.
    let platform: Vec<String> =
        tables.keys().filter(|t| in_managed_schema(t)).map(|t| format!("--table={t}")).collect();
    let mut args: Vec<&str> = vec!["--data-only", &snap, "-d", &url];
    args.extend(platform.iter().map(String::as_str));
    let first = dir.join(format!("{}.platform", FILES[2]));
    dump_to(&pg_dump, &args, password, &first)?;
    let mut args: Vec<&str> = vec!["--data-only", &snap, "-d", &url];
    args.extend(excluded.iter().map(String::as_str));
    let second = dir.join(format!("{}.project", FILES[2]));
    dump_to(&pg_dump, &args, password, &second)?;
    tx.rollback().await?;
    concatenate(&[&first, &second], &dir.join(FILES[2]))?;
    Ok((tables, catalog))
}

/// Runs `tool … --file <path>.partial`, then renames it to `path`: a failed or killed dump (a
/// full disk) leaves no file that looks whole; the partial file is removed.
fn dump_to(tool: &Path, args: &[&str], password: Option<&str>, path: &Path) -> anyhow::Result<()> {
    let partial = partial(path);
    write_private(&partial, "")?;
    let file = format!("--file={}", partial.display());
    let all: Vec<&str> = args.iter().copied().chain([file.as_str()]).collect();
    if let Err(e) = run_tool(tool, &all, password) {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, path).with_context(|| format!("renaming {}", partial.display()))
}

fn partial(path: &Path) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("{}.partial", path.display()))
}

/// `parts`, in order, streamed into `path` (private; written whole or not at all), then removed.
fn concatenate(parts: &[&Path], path: &Path) -> anyhow::Result<()> {
    let partial = partial(path);
    let result = (|| {
        write_private(&partial, "")?;
        let mut out = std::fs::OpenOptions::new().append(true).open(&partial)?;
        for part in parts {
            let mut input = std::fs::File::open(part).with_context(|| format!("reading {}", part.display()))?;
            std::io::copy(&mut input, &mut out).with_context(|| format!("writing {}", partial.display()))?;
        }
        out.sync_all()?;
        std::fs::rename(&partial, path).with_context(|| format!("renaming {}", partial.display()))
    })();
    for part in parts {
        let _ = std::fs::remove_file(part);
    }
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// The URL without its password (user part or `?password=`), and the password, handed to tools
/// through PGPASSWORD so it never appears in a process list or an error message; `None` when the
/// URL has none (the tool then reads PGPASSWORD or ~/.pgpass as libpq does).
pub(super) fn split_password(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut u = url::Url::parse(url).context("parsing the target URL")?;
    let mut password = u.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().to_string());
    let _ = u.set_password(None);
    let pairs: Vec<(String, String)> = u.query_pairs().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if let Some((_, p)) = pairs.iter().find(|(k, _)| k == "password") {
        password = Some(p.clone());
        u.set_query(None);
        let kept: Vec<&(String, String)> = pairs.iter().filter(|(k, _)| k != "password").collect();
        if !kept.is_empty() {
            u.query_pairs_mut().extend_pairs(kept.iter().map(|(k, v)| (k, v)));
        }
    }
    Ok((u.to_string(), password))
}

pub(super) fn run_tool(tool: &Path, args: &[&str], password: Option<&str>) -> anyhow::Result<String> {
    let name = tool.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let mut command = std::process::Command::new(tool);
    command.args(args);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let out = command.output().with_context(|| format!("running {name}"))?;
    if !out.status.success() {
        bail!("{name} failed ({}): {}", out.status, crate::pg::redact_text(&String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

fn without_reserved_roles(roles: &str) -> String {
    roles
        .lines()
        .filter(|line| {
            let l = line.trim_start();
            let statement = l.starts_with("CREATE ROLE ") || l.starts_with("ALTER ROLE ");
            let name = l.split_whitespace().nth(2).unwrap_or("").trim_end_matches(';').trim_matches('"');
            !(statement && (RESERVED_ROLES.contains(&name) || name.starts_with("pg_")))
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_leaves_the_url_wherever_it_was() {
        let cases = [
            ("postgres://u:p%40ss@h:5432/db", "postgres://u@h:5432/db", Some("p@ss")),
            ("postgres://u@h/db?password=s3cret&sslmode=require", "postgres://u@h/db?sslmode=require", Some("s3cret")),
            ("postgres://u@h/db?password=s3cret", "postgres://u@h/db", Some("s3cret")),
            ("postgres://u@h/db", "postgres://u@h/db", None),
        ];
        for (url, without, password) in cases {
            let (u, p) = split_password(url).expect("split");
            assert_eq!((u.as_str(), p.as_deref()), (without, password), "{url}");
        }
    }
}
