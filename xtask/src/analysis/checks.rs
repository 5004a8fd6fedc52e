//! A project's own SQL checks: `supabase/checks/<phase>/*.sql`, one read-only query per file
//! returning rows of `(id, ok, value, detail)`; `ok` NULL means information only.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::{Connection, PgConnection};

use crate::{
    report::{Check, Status},
    runner::sql_split,
};

/// The check files of one phase (`pre`, `post`…), sorted by name. A missing folder has none.
pub fn files(supabase_dir: &Path, phase: &str) -> anyhow::Result<Vec<PathBuf>> {
    let dir = supabase_dir.join("checks").join(phase);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("reading {}", dir.display()))?.path();
        if path.extension().is_some_and(|e| e == "sql") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Runs every check of `phase` in a read-only transaction and returns one report check per row,
/// with ids `<phase>.<id>`. A query error or an empty result is a failed check named after the file.
pub async fn run(conn: &mut PgConnection, supabase_dir: &Path, phase: &str) -> anyhow::Result<Vec<Check>> {
    let mut out = Vec::new();
    for path in files(supabase_dir, phase)? {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
        let stem = stem.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-').to_string();
        let title = title_of(&text).unwrap_or_else(|| stem.replace('_', " "));
        match run_one(conn, &text).await {
            Ok(rows) if rows.is_empty() => out.push(
                Check::new(format!("{phase}.{stem}"), title, Status::Fail)
                    .detail(format!("{} returned no row; a check must return (id, ok, value, detail)", path.display())),
            ),
            Ok(rows) => {
                for (id, ok, value, detail) in rows {
                    let status = match ok {
                        Some(true) => Status::Pass,
                        Some(false) => Status::Fail,
                        None => Status::Info,
                    };
                    let id = id.unwrap_or_else(|| stem.clone());
                    let mut check = Check::new(format!("{phase}.{id}"), title.clone(), status);
                    if let Some(v) = value {
                        check = check.value(v);
                    }
                    out.push(check.detail(detail.unwrap_or_default()));
                }
            }
            Err(e) => out.push(
                Check::new(format!("{phase}.{stem}"), title, Status::Fail).detail(format!("{}: {e:#}", path.display())),
            ),
        }
    }
    Ok(out)
}

type Row = (Option<String>, Option<bool>, Option<String>, Option<String>);

async fn run_one(conn: &mut PgConnection, text: &str) -> anyhow::Result<Vec<Row>> {
    let statements = sql_split::split(text);
    let [query] = statements.as_slice() else {
        anyhow::bail!("a check file holds exactly one query; this one has {}", statements.len());
    };
    let first = sql_split::strip_comments(&query.sql);
    let keyword = first.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
    if !matches!(keyword.as_str(), "SELECT" | "WITH" | "VALUES" | "TABLE" | "(") {
        anyhow::bail!("checks are read-only queries, and this one starts with {keyword}: a check may only SELECT");
    }
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("SET TRANSACTION READ ONLY; SET LOCAL statement_timeout = '60s'; SET LOCAL lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    // Casting here lets check authors return counts and numbers without `::text` everywhere.
    let wrapped =
        format!("SELECT id::text, ok::boolean, value::text, detail::text FROM (\n{}\n) AS check_rows", query.sql);
    let rows = sqlx::query_as::<_, Row>(&wrapped).fetch_all(&mut *tx).await.map_err(|e| match e {
        // 25006: a write in the read-only transaction; 0A000: a data-modifying WITH.
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("25006" | "0A000")) => {
            anyhow::anyhow!("the check tried to write, and checks are read-only: {}", db.message())
        }
        sqlx::Error::Database(db) => anyhow::anyhow!(crate::runner::server_error(db.as_ref())),
        other => other.into(),
    })?;
    tx.rollback().await?;
    Ok(rows)
}

/// `-- title: …` in the file's leading comment lines.
fn title_of(text: &str) -> Option<String> {
    text.lines().take_while(|l| l.trim_start().starts_with("--") || l.trim().is_empty()).find_map(|l| {
        l.trim_start().trim_start_matches('-').trim().strip_prefix("title:").map(|t| t.trim().to_string())
    })
}
