//! Dumping a target by hand (direct mode): roles without Supabase's own, then schema, data, row
//! counts and catalog from one exported snapshot; tools get the password through PGPASSWORD.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use super::{private::write_private, FILES};
use crate::{
    analysis::catalog::{CatalogSnapshot, MANAGED_SCHEMAS},
    production::Target,
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

/// Row counts of every table the backup holds (user schemas, auth.users, the migration history).
pub(super) async fn count_rows(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<String, i64>> {
    let excluded: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| s.to_string()).collect();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND (n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\\_%' \
            OR (n.nspname, c.relname) IN (('auth', 'users'), ('supabase_migrations', 'schema_migrations'))) \
         ORDER BY 1",
    )
    .bind(&excluded)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}")).fetch_one(&mut *conn).await?;
        out.insert(t, n);
    }
    Ok(out)
}

/// pg_dumpall/pg_dump by hand; the data and the counts come from one exported snapshot.
pub(super) async fn dump_direct(
    target: &Target,
    dir: &Path,
) -> anyhow::Result<(BTreeMap<String, i64>, CatalogSnapshot)> {
    let (url, password) = split_password(&target.url)?;
    let pg_dump = crate::pg::find_pg_tool("pg_dump")?;
    let pg_dumpall = crate::pg::find_pg_tool("pg_dumpall")?;
    let excluded: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| format!("--exclude-schema={s}")).collect();

    let roles = run_tool(&pg_dumpall, &["--roles-only", "--no-role-passwords", "-d", &url], password.as_deref())?;
    write_private(&dir.join(FILES[0]), &without_reserved_roles(&roles))?;

    // The schema, the data, the counts and the catalog all see one snapshot: the manifest and
    // catalog.json describe the files exactly.
    let mut conn = target.connect_read_only().await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut *tx).await?;
    let tables = count_rows(&mut tx).await?;
    let catalog = CatalogSnapshot::take(&mut tx).await?;
    let snap = format!("--snapshot={snapshot}");
    let mut args: Vec<&str> = vec!["--schema-only", &snap, "-d", &url];
    args.extend(excluded.iter().map(String::as_str));
    write_private(&dir.join(FILES[1]), &run_tool(&pg_dump, &args, password.as_deref())?)?;
    let mut args: Vec<&str> = vec!["--data-only", &snap, "-d", &url];
    args.extend(excluded.iter().map(String::as_str));
    let mut data = run_tool(
        &pg_dump,
        &["--data-only", &snap, "-d", &url, "-t", "auth.users", "-t", "supabase_migrations.schema_migrations"],
        password.as_deref(),
    )?;
    data.push_str(&run_tool(&pg_dump, &args, password.as_deref())?);
    tx.rollback().await?;
    write_private(&dir.join(FILES[2]), &data)?;
    Ok((tables, catalog))
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
