//! How a file that is not one transaction runs, as the supabase CLI runs it, and what stays when
//! it fails: statement by statement (CONCURRENTLY and the like), or managing its own transactions
//! (`BEGIN; … COMMIT;` in the file), or as a batched backfill (`-- xtask:backfill`).

use std::{collections::BTreeSet, time::Instant};

use sqlx::PgConnection;

use super::{
    backfill::{self, Backfill, BackfillStats, Batches},
    excerpt, run_statement,
    sql_split::{Statement, TransactionControl},
    statement_error, ApplyError, MigrationFile, Notice, PlatformRole,
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
        let committed = || statements[..i].iter().map(|s| format!("committed: {}", excerpt(&s.sql))).collect();
        if let Err(mut e) = run_statement(&mut *conn, file, stmt, as_role).await {
            e.stayed = committed();
            let invalid_after = invalid_indexes(conn).await.unwrap_or_default();
            for index in invalid_after.difference(&invalid_before) {
                // Ours, from this very build: an invalid index slows every write and serves (or
                // enforces) nothing, so it goes; when it cannot, the person is told how.
                let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {index}");
                match sqlx::raw_sql(&drop).execute(&mut *conn).await {
                    Ok(_) => e.notices.push(Notice {
                        severity: "NOTICE",
                        message: format!("dropped the invalid index {index} the failed build left"),
                    }),
                    Err(drop_error) => e.stayed.push(format!(
                        "invalid index {index}, left by the failed build (dropping it failed: {drop_error}): it \
                         slows every write and serves no query; remove it with DROP INDEX CONCURRENTLY {index}"
                    )),
                }
            }
            return Err(e);
        }
        // `IF NOT EXISTS` skips an index that exists but is invalid (an earlier failed build, or
        // one another session is building now): not a success, and not ours to drop.
        if let Some(name) = created_index_name(&stmt.sql) {
            let invalid: Vec<String> = invalid_named(conn, &name).await.unwrap_or_default();
            if let Some(index) = invalid.first() {
                let mut e = super::statement_error(
                    file,
                    stmt,
                    stmt.code_line(),
                    format!(
                        "index {index} exists but is invalid (indisvalid = false): an earlier CONCURRENTLY build \
                         failed or is still running, and IF NOT EXISTS skipped this one, so the index serves and \
                         enforces nothing; once no session is building it, run DROP INDEX CONCURRENTLY {index} \
                         and apply the file again"
                    ),
                );
                e.stayed = committed();
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The index a `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON …` statement names,
/// unquoted and without its schema; `None` for any other statement or an unnamed index.
pub fn created_index_name(sql: &str) -> Option<String> {
    let text = super::sql_split::strip_comments(sql);
    let mut words = text.split_whitespace().map(|w| w.to_ascii_lowercase());
    if words.next()? != "create" {
        return None;
    }
    let mut word = words.next()?;
    if word == "unique" {
        word = words.next()?;
    }
    if word != "index" {
        return None;
    }
    let mut name = words.next()?;
    if name == "concurrently" {
        name = words.next()?;
    }
    if name == "if" {
        (words.next()? == "not" && words.next()? == "exists").then_some(())?;
        name = words.next()?;
    }
    if name == "on" {
        return None;
    }
    // The original spelling: a quoted name keeps its case.
    let start = text.to_ascii_lowercase().find(&name)?;
    let original = &text[start..start + name.len()];
    let last = original.rsplit('.').next()?;
    Some(match last.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => last.to_ascii_lowercase(),
    })
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
    run: super::Run<'_>,
) -> Result<BackfillStats, ApplyError> {
    let statements = file.statements();
    let original = &statements[0];
    let batching = plan.effective_batching(run.batch);
    let mut batches = Batches::start(conn, &plan.table, batching.rows)
        .await
        .map_err(|e| statement_error(file, original, plan.line, e))?;
    let bar = backfill::progress_bar(&plan.table, batches.estimated_rows, run.batch.progress);
    let mut stats = BackfillStats { table: plan.table.clone(), batch_rows: batching.rows, ..BackfillStats::default() };
    let started = Instant::now();
    loop {
        let range = match batches.next(conn, &plan.table).await {
            Ok(Some(range)) => range,
            Ok(None) => break,
            Err(e) => return Err(left_behind(statement_error(file, original, plan.line, e.to_string()), &stats)),
        };
        let (sql, params) = plan.batch_sql(&batches.key, &range);
        let stmt = Statement { sql, params, ..original.clone() };
        let mut attempt = 1;
        let rows = loop {
            let took = Instant::now();
            match one_batch(conn, file, &stmt, run.as_role).await {
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
        backfill::committed(&file.file_name(), &plan.table, stats.batches, stats.rows);
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

/// Invalid indexes of that name, in any schema.
async fn invalid_named(conn: &mut PgConnection, name: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid AND c.relname = $1",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
}

/// Indexes Postgres marks invalid (a failed or cancelled CREATE INDEX CONCURRENTLY leaves one).
async fn invalid_indexes(conn: &mut PgConnection) -> sqlx::Result<BTreeSet<String>> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT i.indisvalid",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::created_index_name;

    #[test]
    fn the_index_a_create_index_statement_names() {
        let check =
            |sql: &str, expected: Option<&str>| assert_eq!(created_index_name(sql).as_deref(), expected, "{sql}");
        check("CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_m ON public.m (a)", Some("idx_m"));
        check("-- why\ncreate unique index concurrently public.k_key on t (id)", Some("k_key"));
        check("CREATE INDEX \"Mixed\"\"Name\" ON t (a)", Some("Mixed\"Name"));
        check("CREATE INDEX Upper ON t (a)", Some("upper"));
        check("CREATE INDEX CONCURRENTLY ON t (a)", None);
        check("CREATE TABLE t (a int)", None);
        check("ALTER INDEX i RENAME TO j", None);
    }
}
