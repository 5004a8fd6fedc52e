//! The migration runner: reads `supabase/migrations` as the supabase CLI does and applies each
//! file as `supabase db push` does (`RESET ALL`, the statements and the history row in one
//! transaction), so `supabase migration list` and we agree on what is applied.

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use crate::{
    notices::{self, Notice},
    sql_split::{self, Statement},
};

/// One file under `migrations/` the CLI would apply.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub version: String,
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

impl MigrationFile {
    pub fn file_name(&self) -> String {
        format!("{}_{}.sql", self.version, self.name)
    }

    pub fn statements(&self) -> Vec<Statement> {
        sql_split::split(&self.text)
    }
}

/// What the CLI would do with each file of a migrations folder.
#[derive(Debug, Default)]
pub struct MigrationDir {
    /// Applied by the CLI, ordered by version.
    pub files: Vec<MigrationFile>,
    /// Skipped by the CLI: (file name, the CLI's reason).
    pub skipped: Vec<(String, String)>,
    /// Named like a rollback or down script, yet the CLI would apply it as a migration.
    pub dangerous: Vec<(String, String)>,
}

/// Reads `<supabase_dir>/migrations` like the supabase CLI: names matching
/// `^([0-9]+)_(.*)\.sql$`, ordered by version; everything else is skipped.
pub fn scan(supabase_dir: &Path) -> anyhow::Result<MigrationDir> {
    let dir = supabase_dir.join("migrations");
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!("reading {}; is --supabase-dir pointing at a Supabase project folder?", dir.display())
    })?;
    let mut out = MigrationDir::default();
    let mut by_version: BTreeMap<(u128, String), MigrationFile> = BTreeMap::new();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().to_string();
        if entry.file_type()?.is_dir() {
            out.skipped.push((file_name, "directories are not read by the supabase CLI".into()));
            continue;
        }
        let Some((version, name)) = parse_file_name(&file_name) else {
            out.skipped.push((
                file_name,
                "file name must match pattern \"<timestamp>_name.sql\"; the supabase CLI skips it".into(),
            ));
            continue;
        };
        if let Some(why) = looks_like_rollback(&name) {
            out.dangerous.push((
                file_name.clone(),
                format!(
                    "named like a {why} script, but `supabase db push` would apply it as migration \
                     {version}; move it to supabase/rollbacks/"
                ),
            ));
        }
        let path = entry.path();
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let key = (version.parse::<u128>().unwrap_or(u128::MAX), version.clone());
        if let Some(prev) = by_version.insert(key, MigrationFile { version: version.clone(), name, path, text }) {
            bail!(
                "two migrations share version {version}: {} and {file_name}; the supabase CLI \
                 refuses this too, rename one",
                prev.file_name()
            );
        }
    }
    out.files = by_version.into_values().collect();
    out.skipped.sort();
    out.dangerous.sort();
    Ok(out)
}

fn parse_file_name(file_name: &str) -> Option<(String, String)> {
    let stem = file_name.strip_suffix(".sql")?;
    let (version, name) = stem.split_once('_')?;
    (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (version.to_string(), name.to_string()))
}

fn looks_like_rollback(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".down") || lower.ends_with("_down") || lower == "down" {
        return Some("down");
    }
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    ["rollback", "revert", "undo"].into_iter().find(|w| words.contains(w))
}

/// Baseline (already in production) and pending (under test) migrations, with rollbacks.
#[derive(Debug)]
pub struct MigrationPlan {
    pub baseline: Vec<MigrationFile>,
    pub pending: Vec<MigrationFile>,
    /// Rollback script per pending version, when one exists under `rollbacks/`.
    pub rollbacks: BTreeMap<String, PathBuf>,
    /// How the pending set was chosen, for the report.
    pub rule: String,
}

impl MigrationPlan {
    /// Pending = versions >= `since` if given, else the trailing files that have a rollback script.
    pub fn new(supabase_dir: &Path, dir: &MigrationDir, since: Option<&str>) -> anyhow::Result<MigrationPlan> {
        let rollbacks = scan_rollbacks(supabase_dir)?;
        let split_at = match since {
            Some(since) => {
                if !dir.files.iter().any(|f| f.version == since) {
                    bail!(
                        "--since {since}: no migration has that version; versions are: {}",
                        dir.files.iter().map(|f| f.version.as_str()).collect::<Vec<_>>().join(", ")
                    );
                }
                dir.files.iter().position(|f| f.version == since).unwrap_or(dir.files.len())
            }
            None => {
                let trailing = dir.files.iter().rev().take_while(|f| rollbacks.contains_key(&f.version)).count();
                dir.files.len() - trailing
            }
        };
        let rule = match since {
            Some(v) => format!("--since {v}"),
            None => "the trailing migrations that have a rollback script in rollbacks/".to_string(),
        };
        let (baseline, pending) = dir.files.split_at(split_at);
        let rollbacks = rollbacks.into_iter().filter(|(v, _)| pending.iter().any(|f| &f.version == v)).collect();
        Ok(MigrationPlan { baseline: baseline.to_vec(), pending: pending.to_vec(), rollbacks, rule })
    }

    pub fn describe(files: &[MigrationFile]) -> String {
        if files.is_empty() {
            return "(none)".to_string();
        }
        files.iter().map(MigrationFile::file_name).collect::<Vec<_>>().join(", ")
    }
}

/// `rollbacks/<version>_<name>.sql`, keyed by version.
pub fn scan_rollbacks(supabase_dir: &Path) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let dir = supabase_dir.join("rollbacks");
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().to_string();
        if let Some((version, _)) = parse_file_name(&file_name) {
            out.insert(version, entry.path());
        }
    }
    Ok(out)
}

/// A file applied: its timing and what the server said along the way.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: String,
    pub name: String,
    pub statements: usize,
    pub duration: Duration,
    pub notices: Vec<Notice>,
    /// False when the file held statements that cannot run in a transaction.
    pub atomic: bool,
}

/// Why a file did not apply: the file, the statement and the database's words.
#[derive(Debug)]
pub struct ApplyError {
    pub file: String,
    pub line: usize,
    pub statement: String,
    pub message: String,
    pub notices: Vec<Notice>,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {} (statement: {})", self.file, self.line, self.message, self.statement)
    }
}

impl std::error::Error for ApplyError {}

/// What a file does to the history table in its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum History {
    /// A migration: insert its row (`supabase db push`).
    Record,
    /// A rollback script: delete the row of `version`, as `supabase migration repair --status
    /// reverted` does, so a later push applies the migration again.
    Revert,
    /// A rollback script whose history repair someone else does (the supabase CLI, linked mode).
    Untouched,
}

/// Applies `file` the way `supabase db push` does. On error nothing of a transactional file stays.
pub async fn apply(conn: &mut PgConnection, file: &MigrationFile) -> Result<Applied, ApplyError> {
    run_file(conn, file, History::Record).await
}

/// Runs a rollback script for migration `version` and deletes that version's history row, in
/// one transaction.
pub async fn roll_back(conn: &mut PgConnection, version: &str, script: &Path) -> Result<Applied, ApplyError> {
    rollback_script(conn, version, script, History::Revert).await
}

/// Runs a rollback script in one transaction without touching the history table.
pub async fn run_rollback_script(conn: &mut PgConnection, version: &str, script: &Path) -> Result<Applied, ApplyError> {
    rollback_script(conn, version, script, History::Untouched).await
}

async fn rollback_script(
    conn: &mut PgConnection,
    version: &str,
    script: &Path,
    history: History,
) -> Result<Applied, ApplyError> {
    let text = std::fs::read_to_string(script).map_err(|e| ApplyError {
        file: script.display().to_string(),
        line: 0,
        statement: String::new(),
        message: format!("reading the rollback script: {e}"),
        notices: Vec::new(),
    })?;
    let name = script.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let name = name.trim_end_matches(".sql").split_once('_').map(|(_, n)| n.to_string()).unwrap_or(name);
    let file = MigrationFile { version: version.to_string(), name, path: script.to_path_buf(), text };
    run_file(conn, &file, history).await
}

async fn run_file(conn: &mut PgConnection, file: &MigrationFile, history: History) -> Result<Applied, ApplyError> {
    let started = Instant::now();
    let statements = file.statements();
    let atomic = !statements.iter().any(Statement::is_non_transactional);
    let (result, notices) = notices::capture(apply_inner(conn, file, &statements, atomic, history)).await;
    match result {
        Ok(()) => Ok(Applied {
            version: file.version.clone(),
            name: file.name.clone(),
            statements: statements.len(),
            duration: started.elapsed(),
            notices,
            atomic,
        }),
        Err(mut e) => {
            e.notices = notices;
            Err(e)
        }
    }
}

async fn apply_inner(
    conn: &mut PgConnection,
    file: &MigrationFile,
    statements: &[Statement],
    atomic: bool,
    history: History,
) -> Result<(), ApplyError> {
    let file_error = |message: String| ApplyError {
        file: file.file_name(),
        line: 0,
        statement: String::new(),
        message,
        notices: Vec::new(),
    };
    sqlx::raw_sql("RESET ALL").execute(&mut *conn).await.map_err(|e| file_error(e.to_string()))?;
    if atomic {
        let mut tx = conn.begin().await.map_err(|e| file_error(e.to_string()))?;
        for stmt in statements {
            run_statement(&mut tx, file, stmt).await?;
        }
        write_history(&mut tx, file, statements, history).await.map_err(|e| file_error(e.to_string()))?;
        tx.commit().await.map_err(|e| file_error(format!("commit failed: {e}")))?;
    } else {
        // Newer CLI versions run such files statement by statement: they cannot be atomic.
        for stmt in statements {
            run_statement(&mut *conn, file, stmt).await?;
        }
        write_history(&mut *conn, file, statements, history).await.map_err(|e| file_error(e.to_string()))?;
    }
    Ok(())
}

async fn run_statement(conn: &mut PgConnection, file: &MigrationFile, stmt: &Statement) -> Result<(), ApplyError> {
    sqlx::raw_sql(&stmt.sql).execute(&mut *conn).await.map(drop).map_err(|e| {
        let (line, message) = match &e {
            sqlx::Error::Database(db) => {
                let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
                let line = match pg.map(|p| p.position()) {
                    Some(Some(sqlx::postgres::PgErrorPosition::Original(pos))) => stmt.line_of_position(pos),
                    _ => stmt.line,
                };
                let mut message = format!("ERROR {}: {}", db.code().unwrap_or_default(), db.message());
                if let Some(detail) = pg.and_then(|p| p.detail()) {
                    message.push_str(&format!(" ({detail})"));
                }
                (line, message)
            }
            other => (stmt.line, other.to_string()),
        };
        ApplyError { file: file.file_name(), line, statement: excerpt(&stmt.sql), message, notices: Vec::new() }
    })
}

async fn write_history(
    conn: &mut PgConnection,
    file: &MigrationFile,
    statements: &[Statement],
    history: History,
) -> sqlx::Result<()> {
    if history == History::Untouched {
        return Ok(());
    }
    if history == History::Revert {
        sqlx::query("DELETE FROM supabase_migrations.schema_migrations WHERE version = $1")
            .bind(&file.version)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        // As the CLI does on a first push.
        sqlx::raw_sql(
            "CREATE SCHEMA IF NOT EXISTS supabase_migrations; \
             CREATE TABLE supabase_migrations.schema_migrations \
             (version text PRIMARY KEY, statements text[], name text)",
        )
        .execute(&mut *conn)
        .await?;
    }
    let texts: Vec<String> = statements.iter().map(|s| s.sql.clone()).collect();
    sqlx::query("INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ($1, $2, $3)")
        .bind(&file.version)
        .bind(&file.name)
        .bind(&texts)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Records `file` as applied (its history row), in the caller's transaction.
pub async fn record_applied(conn: &mut PgConnection, file: &MigrationFile) -> sqlx::Result<()> {
    write_history(conn, file, &file.statements(), History::Record).await
}

/// The first line of a statement, shortened, for error messages.
pub fn excerpt(sql: &str) -> String {
    let first = sql_split::strip_comments(sql);
    let first = first.split_whitespace().collect::<Vec<_>>().join(" ");
    if first.chars().count() > 80 {
        format!("{}…", first.chars().take(80).collect::<String>())
    } else {
        first
    }
}

/// Versions recorded in the history table, in order.
pub async fn applied_versions(conn: &mut PgConnection) -> anyhow::Result<Vec<(String, String, Vec<String>)>> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Option<String>, Option<Vec<String>>)> =
        sqlx::query_as("SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
    Ok(rows.into_iter().map(|(v, n, s)| (v, n.unwrap_or_default(), s.unwrap_or_default())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_cli_pattern() {
        let cases = [
            ("20251116173500_add_x.sql", Some(("20251116173500", "add_x"))),
            ("1_a.sql", Some(("1", "a"))),
            ("rollback_migration.sql", None),
            ("validation_queries.sql", None),
            ("20251116_x.txt", None),
            ("20251116x_y.sql", None),
        ];
        for (name, expected) in cases {
            let got = parse_file_name(name);
            assert_eq!(got, expected.map(|(a, b)| (a.to_string(), b.to_string())), "{name}");
        }
    }

    #[test]
    fn names_like_rollbacks_are_flagged() {
        assert_eq!(looks_like_rollback("add_x.down"), Some("down"));
        assert_eq!(looks_like_rollback("rollback_add_x"), Some("rollback"));
        assert_eq!(looks_like_rollback("undo_thing"), Some("undo"));
        assert_eq!(looks_like_rollback("add_auth_user_id"), None);
        assert_eq!(looks_like_rollback("rollbacks_table"), None);
    }
}
