//! The migration runner: reads `supabase/migrations` as the supabase CLI does and applies each
//! file as `supabase db push` does (`RESET ALL`, the statements and the history row in one
//! transaction), so `supabase migration list` and we agree on what is applied.

pub mod backfill;
pub mod branch;
mod folder;
mod modes;
pub mod notices;
pub mod outcome;
pub mod pending;
mod platform;
pub mod retry;
pub mod sql_split;

use sqlx::{Connection, PgConnection};
use std::{
    fmt,
    path::Path,
    time::{Duration, Instant},
};

pub use folder::{scan, scan_rollbacks, MigrationDir, MigrationFile};
use modes::FileMode;
use notices::Notice;
pub use outcome::{applied_check, failed_check, server_error};
pub use pending::MigrationPlan;
pub use platform::PlatformRole;
use platform::{apply_as_role, run_statement, statement_error};
use sql_split::Statement;

/// How a command runs its files: as whom (hosted Supabase's migration role, when modelled), and
/// the command's `--batch-size` / `--batch-pause` for backfill files. Handed down from the
/// command's flags; the default is the connected user and each file's own directive.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run<'a> {
    pub as_role: Option<&'a PlatformRole>,
    pub batch: backfill::Overrides,
}

impl<'a> Run<'a> {
    /// As `as_role` (when given), with each backfill file's own batching.
    pub fn as_role(as_role: Option<&'a PlatformRole>) -> Run<'a> {
        Run { as_role, batch: backfill::Overrides::default() }
    }
}

/// A file applied: its timing and what the server said along the way.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: String,
    pub name: String,
    pub statements: usize,
    pub duration: Duration,
    pub notices: Vec<Notice>,
    /// False when the file held statements that cannot run in a transaction, or its own
    /// BEGIN/COMMIT.
    pub atomic: bool,
    /// The file holds its own COMMIT: a failure after it would leave the earlier part applied.
    pub commits_on_its_own: bool,
    /// A batched backfill (`-- xtask:backfill`): what its batches did.
    pub backfill: Option<backfill::BackfillStats>,
}

/// Why a file did not apply: the file, the statement and the database's words.
#[derive(Debug)]
pub struct ApplyError {
    pub file: String,
    pub line: usize,
    pub statement: String,
    pub message: String,
    pub notices: Vec<Notice>,
    /// What stayed on the database although the file failed (a file that cannot run in one
    /// transaction commits statement by statement), each with how to remove it where known.
    pub stayed: Vec<String>,
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {} (statement: {})", self.file, self.line, self.message, self.statement)
    }
}

impl std::error::Error for ApplyError {}

impl ApplyError {
    /// An error of the file as a whole (no statement, nothing stayed).
    fn of_file(file: String, message: String) -> ApplyError {
        ApplyError { file, line: 0, statement: String::new(), message, notices: Vec::new(), stayed: Vec::new() }
    }

    /// The extension the server could not find, when that is why the file failed (PG 15 says
    /// "could not open extension control file …/x.control"; later versions "extension "x" is
    /// not available").
    pub fn missing_extension(&self) -> Option<String> {
        let m = &self.message;
        let name = if let Some(i) = m.find("could not open extension control file") {
            let path = m[i..].split('"').nth(1)?;
            path.rsplit('/').next()?.strip_suffix(".control")?.to_string()
        } else {
            let rest = m.split("extension \"").nth(1)?;
            let (name, tail) = rest.split_once('"')?;
            tail.trim_start().starts_with("is not available").then(|| name.to_string())?
        };
        Some(name)
    }
}

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
    run_file(conn, file, History::Record, Run::default()).await
}

/// Applies `file` as `supabase db push` does on hosted Supabase, the way `run` says (see
/// [`Run`], [`PlatformRole`]).
pub async fn apply_as(conn: &mut PgConnection, file: &MigrationFile, run: Run<'_>) -> Result<Applied, ApplyError> {
    run_file(conn, file, History::Record, run).await
}

/// Runs a file with no history row (a seed, `roles.sql`) as `as_role` when given.
pub async fn run_unrecorded(
    conn: &mut PgConnection,
    file: &MigrationFile,
    as_role: Option<&PlatformRole>,
) -> Result<Applied, ApplyError> {
    run_file(conn, file, History::Untouched, Run::as_role(as_role)).await
}

/// Runs a rollback script for migration `version` and deletes that version's history row, in
/// one transaction.
pub async fn roll_back(conn: &mut PgConnection, version: &str, script: &Path) -> Result<Applied, ApplyError> {
    rollback_script(conn, version, script, History::Revert, Run::default()).await
}

/// [`roll_back`] the way `run` says.
pub async fn roll_back_as(
    conn: &mut PgConnection,
    version: &str,
    script: &Path,
    run: Run<'_>,
) -> Result<Applied, ApplyError> {
    rollback_script(conn, version, script, History::Revert, run).await
}

/// Runs a rollback script without touching the history table (the supabase CLI repairs it).
pub async fn run_rollback_script(
    conn: &mut PgConnection,
    version: &str,
    script: &Path,
    run: Run<'_>,
) -> Result<Applied, ApplyError> {
    rollback_script(conn, version, script, History::Untouched, run).await
}

async fn rollback_script(
    conn: &mut PgConnection,
    version: &str,
    script: &Path,
    history: History,
    run: Run<'_>,
) -> Result<Applied, ApplyError> {
    let text = std::fs::read_to_string(script)
        .map_err(|e| ApplyError::of_file(script.display().to_string(), format!("reading the rollback script: {e}")))?;
    let name = script.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let name = name.trim_end_matches(".sql").split_once('_').map(|(_, n)| n.to_string()).unwrap_or(name);
    let file = MigrationFile { version: version.to_string(), name, path: script.to_path_buf(), text };
    run_file(conn, &file, history, run).await
}

async fn run_file(
    conn: &mut PgConnection,
    file: &MigrationFile,
    history: History,
    run: Run<'_>,
) -> Result<Applied, ApplyError> {
    if file.text.starts_with('\u{feff}') {
        // The CLI sends it to Postgres as is, which fails on an invisible character.
        return Err(ApplyError {
            file: file.file_name(),
            line: 1,
            statement: String::new(),
            message:
                "the file starts with a UTF-8 byte-order mark (EF BB BF), which Postgres (and `supabase db push`) \
                      reject as a syntax error; save it as UTF-8 without BOM"
                    .to_string(),
            notices: Vec::new(),
            stayed: Vec::new(),
        });
    }
    let started = Instant::now();
    let statements = file.statements();
    let mode = FileMode::of(&statements);
    let atomic = mode == FileMode::Atomic;
    let (result, notices) = notices::capture(apply_as_role(conn, file, &statements, mode, history, run)).await;
    match result {
        Ok(backfill) => Ok(Applied {
            version: file.version.clone(),
            name: file.name.clone(),
            statements: statements.len(),
            duration: started.elapsed(),
            notices,
            atomic,
            commits_on_its_own: mode == FileMode::OwnTransactions,
            backfill,
        }),
        Err(mut e) => {
            e.notices.splice(0..0, notices);
            Err(e)
        }
    }
}

async fn apply_inner(
    conn: &mut PgConnection,
    file: &MigrationFile,
    statements: &[Statement],
    mode: FileMode,
    history: History,
    run: Run<'_>,
) -> Result<Option<backfill::BackfillStats>, ApplyError> {
    let as_role = run.as_role;
    let file_error = |message: String| ApplyError::of_file(file.file_name(), message);
    sqlx::raw_sql("RESET ALL").execute(&mut *conn).await.map_err(|e| file_error(e.to_string()))?;
    // A file marked as a backfill (a migration, or a rollback undoing one) runs in batches, each
    // its own transaction; its history row is written (or deleted) once they are through.
    if let Some(found) = backfill::Backfill::of(&file.text) {
        let plan = found.map_err(|e| ApplyError { line: 1, ..file_error(e) })?;
        let stats = modes::batched(conn, file, &plan, run).await?;
        write_history(&mut *conn, file, statements, history).await.map_err(|e| file_error(e.to_string()))?;
        return Ok(Some(stats));
    }
    match mode {
        FileMode::Atomic => {
            let mut tx = conn.begin().await.map_err(|e| file_error(e.to_string()))?;
            for stmt in statements {
                run_statement(&mut tx, file, stmt, as_role).await?;
            }
            write_history(&mut tx, file, statements, history).await.map_err(|e| file_error(e.to_string()))?;
            tx.commit().await.map_err(|e| file_error(format!("commit failed: {e}")))?;
        }
        FileMode::StatementByStatement => modes::statement_by_statement(conn, file, statements, as_role).await?,
        FileMode::OwnTransactions => modes::own_transactions(conn, file, statements, as_role).await?,
    }
    // Files that are not one transaction record their history row once they are through.
    if mode != FileMode::Atomic {
        write_history(&mut *conn, file, statements, history).await.map_err(|e| file_error(e.to_string()))?;
    }
    Ok(None)
}

/// Sends one statement; errors name the file line. As the platform role, a permission error says
/// that production would raise it too.
async fn send(
    conn: &mut PgConnection,
    file: &MigrationFile,
    stmt: &Statement,
    as_role: Option<&str>,
) -> Result<u64, ApplyError> {
    // Parameters go in an unnamed statement: nothing stays prepared on the server, which a
    // transaction-mode pooler (Supavisor on 6543) could hand to another client's session.
    let sent = if stmt.params.is_empty() {
        sqlx::raw_sql(&stmt.sql).execute(&mut *conn).await
    } else {
        stmt.params.iter().fold(sqlx::query(&stmt.sql), |q, p| q.bind(p)).persistent(false).execute(&mut *conn).await
    };
    sent.map(|done| done.rows_affected()).map_err(|e| {
        let (line, message) = match &e {
            sqlx::Error::Database(db) => {
                let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
                let line = match pg.map(|p| p.position()) {
                    Some(Some(sqlx::postgres::PgErrorPosition::Original(pos))) => stmt.line_of_position(pos),
                    _ => stmt.code_line(),
                };
                let mut message = server_error(db.as_ref());
                if let Some(detail) = pg.and_then(|p| p.detail()) {
                    message.push_str(&format!(" ({detail})"));
                }
                if let (Some(role), Some("42501")) = (as_role, db.code().as_deref()) {
                    message.push_str(&format!(
                        " — hosted Supabase runs migrations as {role}, which is not a superuser: production raises \
                         this too"
                    ));
                }
                (line, message)
            }
            other => (stmt.code_line(), other.to_string()),
        };
        statement_error(file, stmt, line, message)
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

/// Records the rollback of `file`'s version (its history row deleted), in the caller's transaction.
pub async fn record_reverted(conn: &mut PgConnection, file: &MigrationFile) -> sqlx::Result<()> {
    write_history(conn, file, &file.statements(), History::Revert).await
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
