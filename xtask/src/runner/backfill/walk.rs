//! Walking a table's primary key in batches, on a live database: the key, the next batch's
//! range, and a full second run (rolled back) that says whether the backfill resumes safely.

use std::time::Instant;

/// A table's primary key: its columns (quoted) and their types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub columns: Vec<(String, String)>,
}

impl Key {
    pub(super) fn qualified(&self, qualifier: &str) -> String {
        self.columns.iter().map(|(c, _)| format!("{qualifier}.{c}")).collect::<Vec<_>>().join(", ")
    }

    /// `$n::type, …` for the key's columns, numbered from `first`: key values are bound as
    /// parameters, never spliced into the SQL (a text key holding a quote, or a server with
    /// `standard_conforming_strings = off`, could otherwise change the statement).
    pub(super) fn placeholders(&self, first: usize) -> String {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| format!("${}::{ty}", first + i))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn plain(&self) -> String {
        self.columns.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// The keys one batch covers: after `after` (exclusive) through `through` (inclusive); `None`
/// is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    pub after: Option<Vec<String>>,
    pub through: Option<Vec<String>>,
}

/// Walks a table's primary key in batches of `rows` keys. The batch boundaries are read once, up
/// front, in one index-only scan of the key while the table is still all-visible: read between
/// batches (`OFFSET rows` past the last boundary), every boundary would fetch heap pages the
/// batches before it had just dirtied, which doubled a 5 M-row backfill's time.
pub struct Batches {
    pub key: Key,
    pub rows: u64,
    /// Boundaries not yet walked, last first.
    bounds: Vec<Vec<String>>,
    after: Option<Vec<String>>,
    done: bool,
    /// Keys the walk expects: a batch's worth per boundary, and one for the open-ended last.
    pub estimated_rows: u64,
    pub started: Instant,
}

impl Batches {
    /// The table's key and batch boundaries; an error in words for the file's author when it has
    /// no primary key or is partitioned.
    pub async fn start(conn: &mut sqlx::PgConnection, table: &str, rows: u64) -> Result<Batches, String> {
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod) \
             FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             JOIN unnest(i.indkey) WITH ORDINALITY k(attnum, n) ON true \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum \
             WHERE c.oid = $1::regclass AND c.relkind = 'r' ORDER BY k.n",
        )
        .bind(table)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| format!("reading the primary key of {table}: {e}"))?;
        if found.is_empty() {
            return Err(format!(
                "a batched backfill walks the table's primary key, and {table} has none (or is partitioned): add a \
                 primary key, or backfill each partition in a file of its own"
            ));
        }
        let key = Key { columns: found };
        let bounds = boundaries(conn, table, &key, rows)
            .await
            .map_err(|e| format!("reading the batch boundaries of {table}: {e}"))?;
        let estimated_rows = (bounds.len() as u64 + 1) * rows;
        Ok(Batches { key, rows, bounds, after: None, done: false, estimated_rows, started: Instant::now() })
    }

    /// The next batch's range, or `None` when the walk is through.
    pub async fn next(&mut self, conn: &mut sqlx::PgConnection, table: &str) -> sqlx::Result<Option<KeyRange>> {
        if self.done {
            return Ok(None);
        }
        let through = self.bounds.pop();
        if through.is_none() {
            self.done = true;
            // The last batch is open-ended, for keys past the last boundary (some may have been
            // inserted since); none is needed when no key is left.
            let after = match &self.after {
                Some(_) => format!("WHERE ({}) > ({})", self.key.plain(), self.key.placeholders(1)),
                None => String::new(),
            };
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} {after})");
            let query = self.after.iter().flatten().fold(sqlx::query_scalar(&sql), |q, v| q.bind(v)).persistent(false);
            let left: bool = query.fetch_one(&mut *conn).await?;
            if !left {
                return Ok(None);
            }
        }
        let range = KeyRange { after: self.after.clone(), through: through.clone() };
        self.after = through;
        Ok(Some(range))
    }
}

/// Every `rows`-th key of `table`, last first.
async fn boundaries(
    conn: &mut sqlx::PgConnection,
    table: &str,
    key: &Key,
    rows: u64,
) -> sqlx::Result<Vec<Vec<String>>> {
    let cols = key.plain();
    let texts = key.columns.iter().map(|(c, _)| format!("{c}::text")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT ARRAY[{texts}] FROM (SELECT {cols}, row_number() OVER (ORDER BY {cols}) AS xtask_n FROM {table}) s \
         WHERE xtask_n % $1 = 0 ORDER BY {cols} DESC"
    );
    sqlx::query_scalar(&sql).bind(i64::try_from(rows).unwrap_or(i64::MAX)).fetch_all(&mut *conn).await
}

/// Rows the file's UPDATE changes when it runs once more in full, in a transaction rolled back:
/// 0 for a backfill that a re-run after an interruption resumes safely.
pub async fn rerun_rows(conn: &mut sqlx::PgConnection, text: &str) -> sqlx::Result<u64> {
    let Some(stmt) = crate::runner::sql_split::split(text).into_iter().next() else { return Ok(0) };
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let done = sqlx::raw_sql(&stmt.sql).execute(&mut *tx).await?;
    tx.rollback().await?;
    Ok(done.rows_affected())
}

/// A progress bar for a backfill: keys walked per second and the ETA from the table's estimated
/// size; hidden unless the command draws progress on a terminal.
pub fn progress_bar(table: &str, estimated_keys: u64, progress: bool) -> indicatif::ProgressBar {
    if !progress || !console::Term::stderr().is_term() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(estimated_keys.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} keys, {per_sec}, ETA {eta} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("backfill {table}"));
    bar
}
