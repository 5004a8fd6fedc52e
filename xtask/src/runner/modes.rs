//! How a file that is not one transaction runs, as the supabase CLI runs it, and what stays when
//! it fails: statement by statement (CONCURRENTLY and the like), or managing its own transactions
//! (`BEGIN; … COMMIT;` in the file).

use std::collections::BTreeSet;

use sqlx::PgConnection;

use super::{
    excerpt, run_statement,
    sql_split::{Statement, TransactionControl},
    ApplyError, MigrationFile, PlatformRole,
};

/// How what a file's own COMMIT kept is named (outcome.rs words the failure from it).
pub const OWN_COMMIT: &str = "committed by the file's own COMMIT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileMode {
    /// The statements and the history row in one transaction.
    Atomic,
    /// A statement Postgres refuses inside a transaction: each statement commits on its own.
    StatementByStatement,
    /// The file's own BEGIN/COMMIT/ROLLBACK end the transaction it runs in.
    OwnTransactions,
}

impl FileMode {
    pub fn of(statements: &[Statement]) -> FileMode {
        if statements.iter().any(Statement::is_non_transactional) {
            FileMode::StatementByStatement
        } else if statements.iter().any(|s| s.transaction_control().is_some()) {
            FileMode::OwnTransactions
        } else {
            FileMode::Atomic
        }
    }
}

pub(super) async fn statement_by_statement(
    conn: &mut PgConnection,
    file: &MigrationFile,
    statements: &[Statement],
    as_role: Option<&PlatformRole>,
) -> Result<(), ApplyError> {
    // A failure leaves what ran before it, and what a failed CONCURRENTLY build leaves behind.
    let invalid_before = invalid_indexes(conn).await.unwrap_or_default();
    for (i, stmt) in statements.iter().enumerate() {
        if let Err(mut e) = run_statement(&mut *conn, file, stmt, as_role).await {
            e.stayed = statements[..i].iter().map(|s| format!("committed: {}", excerpt(&s.sql))).collect();
            let invalid_after = invalid_indexes(conn).await.unwrap_or_default();
            e.stayed.extend(invalid_after.difference(&invalid_before).map(|index| {
                format!(
                    "invalid index {index}, left by the failed build: it slows every write and serves no \
                     query; remove it with DROP INDEX CONCURRENTLY {index}"
                )
            }));
            return Err(e);
        }
    }
    Ok(())
}

/// As the CLI: the file runs inside a transaction it may end itself. Whatever its COMMITs
/// committed stays if a later statement fails; the rest rolls back.
pub(super) async fn own_transactions(
    conn: &mut PgConnection,
    file: &MigrationFile,
    statements: &[Statement],
    as_role: Option<&PlatformRole>,
) -> Result<(), ApplyError> {
    let mut in_transaction = false;
    let mut committed = 0;
    for (i, stmt) in statements.iter().enumerate() {
        let control = stmt.transaction_control();
        if !in_transaction && control != Some(TransactionControl::Begin) {
            // Statements outside the file's own BEGIN run in a transaction of ours, as the CLI's.
            let _ = sqlx::raw_sql("BEGIN").execute(&mut *conn).await;
            in_transaction = true;
        }
        if control == Some(TransactionControl::Begin) && in_transaction {
            continue; // already in one: Postgres would only warn
        }
        if let Err(mut e) = run_statement(&mut *conn, file, stmt, as_role).await {
            if in_transaction {
                let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            }
            e.stayed = statements[..committed]
                .iter()
                .filter(|s| s.transaction_control().is_none())
                .map(|s| format!("{OWN_COMMIT}: {}", excerpt(&s.sql)))
                .collect();
            return Err(e);
        }
        match control {
            Some(TransactionControl::Begin) => in_transaction = true,
            Some(TransactionControl::Commit) => {
                in_transaction = false;
                committed = i + 1;
            }
            Some(TransactionControl::Rollback) => in_transaction = false,
            None => {}
        }
    }
    if in_transaction {
        sqlx::raw_sql("COMMIT")
            .execute(&mut *conn)
            .await
            .map_err(|e| ApplyError::of_file(file.file_name(), format!("commit failed: {e}")))?;
    }
    Ok(())
}

/// Indexes Postgres marks invalid (a failed or cancelled CREATE INDEX CONCURRENTLY leaves one).
async fn invalid_indexes(conn: &mut PgConnection) -> sqlx::Result<BTreeSet<String>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().collect())
}
