//! Files as hosted Supabase runs them: as `postgres`, not a superuser, taken for the length of a
//! file by a superuser session, with supautils' verdict on each statement (run as the
//! superuser, refused in supautils' words, or provided by a stand-in).

use crate::pg::quote_ident;
use sqlx::PgConnection;

use super::{apply_inner, excerpt, send, sql_split::Statement, ApplyError, FileMode, History, MigrationFile};
use crate::supabase::supautils::{self, Verdict};

/// Who a file runs as on an ephemeral database that plays hosted Supabase: the migration role
/// (`postgres`, not a superuser) of a superuser session, with supautils' exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformRole {
    /// The role files run as (`postgres`); `None`: the connected user, with only the stand-ins.
    pub role: Option<String>,
    /// Extensions the layer stands in for (`pg_net` where the real one is absent).
    pub stand_ins: Vec<&'static str>,
}

/// The file as `run.as_role`: the session takes that role for the file and gives it back after,
/// whatever happened.
pub(super) async fn apply_as_role(
    conn: &mut PgConnection,
    file: &MigrationFile,
    statements: &[Statement],
    mode: FileMode,
    history: History,
    run: super::Run<'_>,
) -> Result<Option<super::backfill::BackfillStats>, ApplyError> {
    let Some(role) = run.as_role.and_then(|p| p.role.as_deref()) else {
        return apply_inner(conn, file, statements, mode, history, run).await;
    };
    let take = format!("SET SESSION AUTHORIZATION {}", quote_ident(role));
    sqlx::raw_sql(&take)
        .execute(&mut *conn)
        .await
        .map_err(|e| ApplyError::of_file(file.file_name(), format!("taking the migration role {role}: {e}")))?;
    let result = apply_inner(conn, file, statements, mode, history, run).await;
    if let Err(e) = sqlx::raw_sql("RESET SESSION AUTHORIZATION").execute(&mut *conn).await {
        // A session stuck as the migration role would run later checks as it: say so loudly.
        return Err(result
            .err()
            .unwrap_or_else(|| ApplyError::of_file(file.file_name(), format!("giving the migration role back: {e}"))));
    }
    result
}

/// One statement; as the platform role, supautils' verdict decides how (or whether) it is sent.
/// The rows it changed (0 for a statement not sent).
pub(super) async fn run_statement(
    conn: &mut PgConnection,
    file: &MigrationFile,
    stmt: &Statement,
    as_role: Option<&PlatformRole>,
) -> Result<u64, ApplyError> {
    let Some(platform) = as_role else { return send(conn, file, stmt, None).await };
    let verdict = supautils::classify(&stmt.sql, &platform.stand_ins);
    let Some(role) = platform.role.as_deref() else {
        // As the connected user: Postgres decides, except what a stand-in provides.
        return match verdict {
            Verdict::StandIn(why) => say_notice(conn, file, stmt, &why).await,
            _ => send(conn, file, stmt, None).await,
        };
    };
    match verdict {
        Verdict::AsMigrationRole => send(conn, file, stmt, Some(role)).await,
        Verdict::AsSuperuser(_) => {
            let elevated = sqlx::raw_sql("RESET SESSION AUTHORIZATION").execute(&mut *conn).await;
            let result = match elevated {
                Ok(_) => send(conn, file, stmt, Some(role)).await,
                Err(e) => Err(statement_error(file, stmt, stmt.code_line(), e.to_string())),
            };
            // In an aborted transaction this fails; its ROLLBACK restores the role anyway.
            let back = format!("SET SESSION AUTHORIZATION {}", quote_ident(role));
            let _ = sqlx::raw_sql(&back).execute(&mut *conn).await;
            result
        }
        Verdict::Refused(words) => Err(statement_error(
            file,
            stmt,
            stmt.code_line(),
            format!(
                "ERROR 42501: {words} (supautils, as hosted Supabase runs it: migrations run as {role}, which is \
                 not a superuser)"
            ),
        )),
        Verdict::StandIn(why) => say_notice(conn, file, stmt, &why).await,
    }
}

/// A statement not sent: the server says why as a NOTICE, so it lands with the file's others.
async fn say_notice(
    conn: &mut PgConnection,
    file: &MigrationFile,
    stmt: &Statement,
    why: &str,
) -> Result<u64, ApplyError> {
    let say = format!("DO $xtask$BEGIN RAISE NOTICE '%', {}; END$xtask$", quote_literal(why));
    sqlx::raw_sql(&say)
        .execute(&mut *conn)
        .await
        .map(|_| 0)
        .map_err(|e| statement_error(file, stmt, stmt.code_line(), e.to_string()))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(super) fn statement_error(file: &MigrationFile, stmt: &Statement, line: usize, message: String) -> ApplyError {
    ApplyError {
        file: file.file_name(),
        line,
        statement: excerpt(&stmt.sql),
        message,
        notices: Vec::new(),
        stayed: Vec::new(),
    }
}
