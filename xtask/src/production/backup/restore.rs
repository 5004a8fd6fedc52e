//! Restoring a backup into an ephemeral Postgres to verify it: never on the backed-up target's
//! own server unless asked, the layer's platform tables widened to what the dump holds, as
//! Supabase's restore guide loads it.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use sqlx::PgConnection;

use super::{
    dump::{self, count_rows, run_tool, split_password},
    Manifest, FILES,
};
use crate::{
    analysis::catalog::CatalogSnapshot,
    pg::{EphemeralPostgres, PgOptions},
    production::TargetIdentity,
};

/// A url backend restores into a throwaway database on a server of the user's choosing: never
/// the backed-up target's own server unless asked (`--restore-on-target-server`), since the
/// restore would create a database beside production and load a copy of its data there.
pub(super) async fn refuse_target_server(manifest: &Manifest, pg: &PgOptions) -> anyhow::Result<()> {
    let (Some(server), Some(target)) = (pg.url_server(), &manifest.identity) else { return Ok(()) };
    if pg.on_target_server {
        return Ok(());
    }
    let mut conn = crate::pg::connect(&server).await?;
    let there = TargetIdentity::read(&mut conn).await?;
    let same_cluster = target.system_identifier.is_some()
        && there.system_identifier == target.system_identifier
        && there.server == target.server;
    if same_cluster {
        anyhow::bail!(
            "the restore's server ({}) is the backed-up target's own server: verifying there would create a \
             database beside production and load a copy of its data; use --backend docker or native (or another \
             server), or pass --restore-on-target-server if that is what you want",
            crate::pg::redact(&server)
        );
    }
    Ok(())
}

pub(super) async fn restore(dir: &Path, pg: &PgOptions) -> anyhow::Result<(BTreeMap<String, i64>, CatalogSnapshot)> {
    let db = EphemeralPostgres::start(pg).await?;
    let result = async {
        let mut conn = db.connect().await?;
        crate::supabase::layer::install(&mut conn).await?;
        // The dump states every object's privileges relative to Postgres's built-in defaults; the
        // layer's default privileges (anon may execute new functions…) would widen them. It also
        // holds the target's publications (supabase_realtime with its tables).
        sqlx::raw_sql(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon, authenticated, service_role; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM anon, authenticated, service_role; \
             ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON FUNCTIONS FROM anon, authenticated, service_role; \
             ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE ALL ON TABLES FROM anon, authenticated, service_role; \
             ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE ALL ON SEQUENCES FROM anon, authenticated, service_role; \
             ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE ALL ON FUNCTIONS FROM anon, authenticated, service_role; \
             DROP PUBLICATION IF EXISTS supabase_realtime",
        )
        .execute(&mut conn)
        .await
        .context("clearing the layer's default privileges before the restore")?;
        widen_platform_tables(&mut conn, &dir.join(FILES[2])).await?;
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
            password.as_deref(),
        )?;
        let mut conn = db.connect().await?;
        let counts = count_rows(&mut conn).await?;
        let mut catalog = CatalogSnapshot::take(&mut conn).await?;
        if let Ok(text) = std::fs::read_to_string(dir.join(super::CATALOG)) {
            let recorded: CatalogSnapshot = serde_json::from_str(&text).context("parsing the recorded catalog")?;
            checks_as_parsed_here(&mut conn, &recorded, &mut catalog).await?;
        }
        anyhow::Ok((counts, catalog))
    }
    .await;
    db.close().await?;
    result
}

/// The layer's platform tables are a model of production's: before the data loads, every
/// platform table the dump fills gets the columns it has in production (as text) and stops
/// requiring the ones it lacks, so a newer or older platform's rows restore whole.
async fn widen_platform_tables(conn: &mut PgConnection, data: &Path) -> anyhow::Result<()> {
    use std::io::BufRead;
    let file = std::fs::File::open(data).with_context(|| format!("reading {}", data.display()))?;
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Some((table, cols)) = copy_header(&line) else { continue };
        let schema = table.split('.').next().unwrap_or_default().trim_matches('"');
        if !dump::PLATFORM_DATA_SCHEMAS.contains(&schema) {
            continue;
        }
        let mut sql = format!("CREATE SCHEMA IF NOT EXISTS {schema}; CREATE TABLE IF NOT EXISTS {table} ();");
        for col in &cols {
            sql.push_str(&format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {col} text;"));
        }
        sqlx::raw_sql(&sql).execute(&mut *conn).await.with_context(|| format!("preparing {table} for its rows"))?;
        let required: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 \
             AND NOT attisdropped AND attnotnull",
        )
        .bind(&table)
        .fetch_all(&mut *conn)
        .await?;
        for col in required.iter().filter(|c| !cols.contains(c)) {
            // A key column the dump lacks cannot be relaxed; the restore then says why.
            let _ = sqlx::raw_sql(&format!("ALTER TABLE {table} ALTER COLUMN {col} DROP NOT NULL"))
                .execute(&mut *conn)
                .await;
        }
    }
    Ok(())
}

/// `COPY schema.table (a, b) FROM stdin;` as pg_dump writes it: the table and its columns.
fn copy_header(line: &str) -> Option<(String, Vec<String>)> {
    let rest = line.strip_prefix("COPY ")?;
    let (table, rest) = rest.split_once(" (")?;
    let (cols, _) = rest.rsplit_once(") FROM stdin")?;
    Some((table.to_string(), cols.split(", ").map(str::to_string).collect()))
}

/// CHECK constraints the restore renders otherwise than the target did: pg_dump prints Postgres's
/// rendering of a constraint, and parsing that rendering back can render differently (a varchar
/// `IN (…)` list is the common case: `= ANY ((ARRAY['a'::varchar])::text[])` comes back as
/// `= ANY (ARRAY[('a'::varchar)::text])`). The recorded definition is parsed here, on the same
/// table, in a transaction rolled back: when it renders as the restored one, they are the same
/// constraint and the recorded text is kept; otherwise the difference stands.
async fn checks_as_parsed_here(
    conn: &mut PgConnection,
    recorded: &CatalogSnapshot,
    restored: &mut CatalogSnapshot,
) -> anyhow::Result<()> {
    for (name, attrs) in &recorded.objects {
        let Some((_, table)) = name.strip_prefix("constraint ").and_then(|rest| rest.split_once(" on ")) else {
            continue;
        };
        let Some(def) = attrs.get("definition").filter(|d| d.starts_with("CHECK")) else { continue };
        let Some(now) = restored.objects.get_mut(name) else { continue };
        if now.get("definition") == Some(def) {
            continue;
        }
        let body = def.strip_suffix(" NOT VALID").unwrap_or(def);
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let probe = format!("ALTER TABLE {table} ADD CONSTRAINT xtask_reparsed {body} NOT VALID");
        let reparsed: Option<String> = match sqlx::raw_sql(&probe).execute(&mut *tx).await {
            Ok(_) => {
                sqlx::query_scalar(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'xtask_reparsed' \
                 AND conrelid = $1::regclass",
                )
                .bind(table)
                .fetch_optional(&mut *tx)
                .await?
            }
            Err(_) => None,
        };
        tx.rollback().await?;
        let now_body = now.get("definition").map(|d| d.strip_suffix(" NOT VALID").unwrap_or(d).to_string());
        if reparsed.as_deref().map(|r| r.strip_suffix(" NOT VALID").unwrap_or(r)) == now_body.as_deref() {
            now.insert("definition".into(), def.clone());
        }
    }
    Ok(())
}
