//! Backups that count: roles, schema and data (COPY) as plain SQL in `backups/<UTC timestamp>/`,
//! a manifest with sizes, SHA-256 and the row counts seen in the same snapshot as the data dump,
//! then a verification that restores it into an ephemeral Postgres and compares row counts and
//! the catalog with the target. Only a verified backup counts for `db-push`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

use crate::{
    analysis::catalog::{CatalogSnapshot, MANAGED_SCHEMAS},
    pg::{EphemeralPostgres, PgOptions},
    report::{Check, Report, Status},
    supabase::cli::SupabaseCli,
    target::{Mode, Target},
};

pub const FILES: [&str; 3] = ["roles.sql", "schema.sql", "data.sql"];
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
    "dashboard_user",
    "pgbouncer",
    "pgsodium_keyholder",
    "pgsodium_keyiduser",
    "pgsodium_keymaker",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub ok: bool,
    pub at: DateTime<Utc>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// host:port/database of the target (no user, no password).
    pub target: String,
    pub mode: String,
    pub created_at: DateTime<Utc>,
    pub files: Vec<FileEntry>,
    /// Rows per table, counted in the data dump's snapshot (direct mode) or right after it.
    pub tables: BTreeMap<String, i64>,
    pub verified: Option<Verification>,
}

impl Manifest {
    pub fn read(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("writing {}/manifest.json", dir.display()))
    }
}

/// Takes a backup of `target` into a new folder under `root`; returns the folder.
pub async fn take(target: &Target, supabase_dir: &Path, root: &Path, report: &mut Report) -> anyhow::Result<PathBuf> {
    let created_at = Utc::now();
    let dir = root.join(created_at.format("%Y%m%dT%H%M%SZ").to_string());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Absolute: the supabase CLI resolves paths against its own --workdir.
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))?;
    let timer = report.phase("backup");
    let tables = match &target.mode {
        Mode::Direct => dump_direct(target, &dir).await?,
        Mode::Linked { .. } => {
            SupabaseCli::new(supabase_dir)?.dump(&dir.join(FILES[0]), &dir.join(FILES[1]), &dir.join(FILES[2]))?;
            let mut conn = target.connect_read_only().await?;
            let mut tx = conn.begin().await?;
            count_rows(&mut tx).await?
        }
    };
    let files = FILES.iter().map(|name| file_entry(&dir, name)).collect::<anyhow::Result<Vec<_>>>()?;
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let manifest = Manifest {
        target: target.fingerprint(),
        mode: match target.mode {
            Mode::Direct => "direct".into(),
            Mode::Linked { .. } => "linked".into(),
        },
        created_at,
        files,
        tables,
        verified: None,
    };
    manifest.write(&dir)?;
    let took = report.record(timer);
    report.push(
        Check::new("backup.taken", "roles, schema and data written", Status::Pass)
            .value(format!("{} bytes, {} tables, {} ms", bytes, manifest.tables.len(), took.as_millis()))
            .detail(dir.display().to_string()),
    );
    Ok(dir)
}

fn file_entry(dir: &Path, name: &str) -> anyhow::Result<FileEntry> {
    let bytes = std::fs::read(dir.join(name)).with_context(|| format!("reading {}/{name}", dir.display()))?;
    Ok(FileEntry { name: name.into(), bytes: bytes.len() as u64, sha256: hex(&Sha256::digest(&bytes)) })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Row counts of every table the backup holds (user schemas, auth.users, the migration history).
async fn count_rows(conn: &mut PgConnection) -> anyhow::Result<BTreeMap<String, i64>> {
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
async fn dump_direct(target: &Target, dir: &Path) -> anyhow::Result<BTreeMap<String, i64>> {
    let (url, password) = split_password(&target.url)?;
    let pg_dump = crate::pg::find_pg_tool("pg_dump")?;
    let pg_dumpall = crate::pg::find_pg_tool("pg_dumpall")?;
    let excluded: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| format!("--exclude-schema={s}")).collect();

    let roles = run_tool(&pg_dumpall, &["--roles-only", "--no-role-passwords", "-d", &url], &password)?;
    std::fs::write(dir.join(FILES[0]), without_reserved_roles(&roles))?;

    let mut args: Vec<&str> = vec!["--schema-only", "-d", &url];
    args.extend(excluded.iter().map(String::as_str));
    std::fs::write(dir.join(FILES[1]), run_tool(&pg_dump, &args, &password)?)?;

    // The counts and the data dump see the same snapshot: the manifest matches the file exactly.
    let mut conn = target.connect_read_only().await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let snapshot: String = sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut *tx).await?;
    let tables = count_rows(&mut tx).await?;
    let snap = format!("--snapshot={snapshot}");
    let mut args: Vec<&str> = vec!["--data-only", &snap, "-d", &url];
    args.extend(excluded.iter().map(String::as_str));
    let mut data = run_tool(
        &pg_dump,
        &["--data-only", &snap, "-d", &url, "-t", "auth.users", "-t", "supabase_migrations.schema_migrations"],
        &password,
    )?;
    data.push_str(&run_tool(&pg_dump, &args, &password)?);
    tx.rollback().await?;
    std::fs::write(dir.join(FILES[2]), data)?;
    Ok(tables)
}

/// The URL without its password, and the password (handed to tools through PGPASSWORD, so it
/// never appears in a process list or an error message).
fn split_password(url: &str) -> anyhow::Result<(String, String)> {
    let mut u = url::Url::parse(url).context("parsing the target URL")?;
    let password = u
        .password()
        .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().to_string())
        .unwrap_or_default();
    let _ = u.set_password(None);
    Ok((u.to_string(), password))
}

fn run_tool(tool: &Path, args: &[&str], password: &str) -> anyhow::Result<String> {
    let name = tool.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let out = std::process::Command::new(tool)
        .args(args)
        .env("PGPASSWORD", password)
        .output()
        .with_context(|| format!("running {name}"))?;
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

/// Verifies the backup in `dir`: checksums, then a restore into an ephemeral Postgres whose row
/// counts must equal the manifest's and whose catalog must equal the target's. Records the
/// outcome in the manifest and returns it.
pub async fn verify(dir: &Path, target: &Target, pg: &PgOptions, report: &mut Report) -> anyhow::Result<bool> {
    let mut manifest = Manifest::read(dir)?;
    let mut problems = Vec::new();
    for entry in &manifest.files {
        match file_entry(dir, &entry.name) {
            Ok(now) if now.sha256 == entry.sha256 && now.bytes == entry.bytes => {}
            Ok(now) => problems.push(format!(
                "{}: {} bytes, sha256 {} — the manifest says {} bytes, sha256 {} (corrupted or truncated)",
                entry.name, now.bytes, now.sha256, entry.bytes, entry.sha256
            )),
            Err(e) => problems.push(format!("{}: {e:#}", entry.name)),
        }
    }
    report.push(if problems.is_empty() {
        Check::new("backup.checksums", "backup files match their manifest", Status::Pass).value(manifest.files.len())
    } else {
        Check::new("backup.checksums", "backup files match their manifest", Status::Fail).detail(problems.join("\n"))
    });

    if problems.is_empty() {
        let timer = report.phase("restore backup");
        let restored = restore(dir, pg).await;
        report.record(timer);
        match restored {
            Err(e) => {
                let p = format!("restoring the backup failed: {e:#}");
                report.push(Check::new("backup.restore", "the backup restores", Status::Fail).detail(&p));
                problems.push(p);
            }
            Ok((counts, catalog)) => {
                report.push(Check::new("backup.restore", "the backup restores", Status::Pass));
                let mut diffs: Vec<String> = Vec::new();
                for (table, n) in &manifest.tables {
                    let got = counts.get(table).copied().unwrap_or(-1);
                    if got != *n {
                        diffs.push(format!("{table}: {got} rows restored, {n} in the target"));
                    }
                }
                report.push(if diffs.is_empty() {
                    Check::new("backup.row_counts", "restored row counts equal the target's", Status::Pass)
                        .value(format!("{} tables, {} rows", counts.len(), manifest.tables.values().sum::<i64>()))
                } else {
                    Check::new("backup.row_counts", "restored row counts equal the target's", Status::Fail)
                        .detail(diffs.join("\n"))
                });
                problems.extend(diffs);
                let mut conn = target.connect_read_only().await?;
                let live = CatalogSnapshot::take(&mut conn).await?;
                let cat: Vec<String> = live.diff(&catalog).iter().map(|d| format!("{d:?}")).collect();
                report.push(if cat.is_empty() {
                    Check::new("backup.catalog", "restored catalog equals the target's", Status::Pass)
                        .value(format!("{} objects", live.objects.len()))
                } else {
                    Check::new("backup.catalog", "restored catalog equals the target's", Status::Fail)
                        .detail(cat.iter().take(20).cloned().collect::<Vec<_>>().join("\n"))
                });
                problems.extend(cat);
            }
        }
    }
    let ok = problems.is_empty();
    manifest.verified = Some(Verification { ok, at: Utc::now(), problems });
    manifest.write(dir)?;
    Ok(ok)
}

async fn restore(dir: &Path, pg: &PgOptions) -> anyhow::Result<(BTreeMap<String, i64>, CatalogSnapshot)> {
    let db = EphemeralPostgres::start(pg).await?;
    let result = async {
        let mut conn = db.connect().await?;
        crate::supabase::layer::install(&mut conn).await?;
        widen_auth_users(&mut conn, &std::fs::read_to_string(dir.join(FILES[2]))?).await?;
        let psql = crate::pg::find_pg_tool("psql")?;
        let (url, password) = split_password(db.url())?;
        let p = |name: &str| dir.join(name).display().to_string();
        // As Supabase's restore guide: one transaction, triggers and FKs off while data loads.
        run_tool(
            &psql,
            &[
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                "-d",
                &url,
                "-f",
                &p(FILES[0]),
                "-f",
                &p(FILES[1]),
                "-c",
                "SET session_replication_role = replica",
                "-f",
                &p(FILES[2]),
            ],
            &password,
        )?;
        let mut conn = db.connect().await?;
        let counts = count_rows(&mut conn).await?;
        let catalog = CatalogSnapshot::take(&mut conn).await?;
        anyhow::Ok((counts, catalog))
    }
    .await;
    db.close().await?;
    result
}

/// The restore target's auth.users is our layer's; a real Supabase dump may carry more columns.
/// Add any the dump names (as text: only row counts are compared).
async fn widen_auth_users(conn: &mut PgConnection, data: &str) -> anyhow::Result<()> {
    let Some(line) = data.lines().find(|l| l.starts_with("COPY auth.users (")) else { return Ok(()) };
    let cols = line.trim_start_matches("COPY auth.users (").split(')').next().unwrap_or("");
    for col in cols.split(',').map(|c| c.trim()).filter(|c| !c.is_empty()) {
        sqlx::raw_sql(&format!("ALTER TABLE auth.users ADD COLUMN IF NOT EXISTS {col} text"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The newest verified backup of `target` under `root` younger than `max_age`.
pub fn latest_verified(root: &Path, target: &Target, max_age: Duration) -> Option<(PathBuf, Manifest)> {
    let entries = std::fs::read_dir(root).ok()?;
    let mut found: Vec<(PathBuf, Manifest)> = entries
        .flatten()
        .filter_map(|e| Manifest::read(&e.path()).ok().map(|m| (e.path(), m)))
        .filter(|(_, m)| m.target == target.fingerprint() && m.verified.as_ref().is_some_and(|v| v.ok))
        .filter(|(_, m)| (Utc::now() - m.created_at).to_std().is_ok_and(|age| age <= max_age))
        .collect();
    found.sort_by_key(|(_, m)| m.created_at);
    found.pop()
}
