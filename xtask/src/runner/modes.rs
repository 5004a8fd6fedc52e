//! How a file that is not one transaction runs, as the supabase CLI runs it, and what stays when
//! it fails: statement by statement (CONCURRENTLY and the like), or managing its own transactions
//! (`BEGIN; … COMMIT;` in the file), or as a batched backfill (`-- xtask:backfill`).

use std::{collections::BTreeSet, time::Instant};

use sqlx::PgConnection;

use super::{
    backfill::{self, Backfill, BackfillStats, Batches},
    excerpt, run_statement,
    sql_split::{Statement, TransactionControl},
    statement_error, ApplyError, MigrationFile, PlatformRole,
};

/// Attempts per backfill batch that waits too long for a lock (each a fresh transaction).
const BATCH_ATTEMPTS: u32 = 5;

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

/// A backfill file: its UPDATE over one primary-key range at a time, each batch its own
/// transaction (a batch that waits too long for a lock is tried again). A failure leaves the
/// committed batches, which the file's own WHERE skips when it runs again.
pub(super) async fn batched(
    conn: &mut PgConnection,
    file: &MigrationFile,
    plan: &Backfill,
    as_role: Option<&PlatformRole>,
) -> Result<BackfillStats, ApplyError> {
    let statements = file.statements();
    let original = &statements[0];
    let batching = plan.effective_batching();
    let mut batches = Batches::start(conn, &plan.table, batching.rows)
        .await
        .map_err(|e| statement_error(file, original, plan.line, e))?;
    let bar = backfill::progress_bar(&plan.table, batches.estimated_rows);
    let mut stats = BackfillStats { table: plan.table.clone(), batch_rows: batching.rows, ..BackfillStats::default() };
    let started = Instant::now();
    loop {
        let range = match batches.next(conn, &plan.table).await {
            Ok(Some(range)) => range,
            Ok(None) => break,
            Err(e) => return Err(left_behind(statement_error(file, original, plan.line, e.to_string()), &stats)),
        };
        let stmt = Statement { sql: plan.batch_sql(&batches.key, &range), ..original.clone() };
        let mut attempt = 1;
        let rows = loop {
            let took = Instant::now();
            match one_batch(conn, file, &stmt, as_role).await {
                Ok(rows) => {
                    stats.longest = stats.longest.max(took.elapsed());
                    break rows;
                }
                Err(e) if super::retry::retryable(&e) && attempt < BATCH_ATTEMPTS => {
                    stats.retried += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(200) * 2u32.pow(attempt)).await;
                    attempt += 1;
                }
                Err(e) => return Err(left_behind(e, &stats)),
            }
        };
        stats.rows += rows;
        stats.batches += 1;
        bar.inc(batching.rows);
        if !batching.pause.is_zero() {
            tokio::time::sleep(batching.pause).await;
        }
    }
    bar.finish_and_clear();
    stats.duration = started.elapsed();
    Ok(stats)
}

async fn one_batch(
    conn: &mut PgConnection,
    file: &MigrationFile,
    stmt: &Statement,
    as_role: Option<&PlatformRole>,
) -> Result<u64, ApplyError> {
    let fail = |e: sqlx::Error| statement_error(file, stmt, stmt.code_line(), e.to_string());
    sqlx::raw_sql("BEGIN").execute(&mut *conn).await.map_err(fail)?;
    match run_statement(&mut *conn, file, stmt, as_role).await {
        Ok(rows) => {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await.map_err(fail)?;
            Ok(rows)
        }
        Err(e) => {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

/// The batches committed before a failure stay; running the file again resumes.
fn left_behind(mut e: ApplyError, stats: &BackfillStats) -> ApplyError {
    if stats.batches > 0 {
        e.stayed.push(format!(
            "{} batch(es) of the backfill committed, {} row(s) of {} updated: running the file again resumes, since \
             the rows already done no longer match its WHERE",
            stats.batches, stats.rows, stats.table
        ));
    }
    e
}

/// Indexes Postgres marks invalid (a failed or cancelled CREATE INDEX CONCURRENTLY leaves one).
async fn invalid_indexes(conn: &mut PgConnection) -> sqlx::Result<BTreeSet<String>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows.into_iter().collect())
}
