//! Batched backfills. A file whose directive says `-- xtask:backfill` holds one UPDATE; the
//! supabase CLI runs it as written (one statement, one transaction: a correct database, with
//! every touched row locked until the end), and our runner runs it in batches by primary-key
//! range, each batch its own short transaction, so no row stays locked longer than one batch.
//! Every batch is the file's own UPDATE with a key range added to its WHERE, so a batch run twice
//! changes nothing the UPDATE's own WHERE excludes: after a failure or Ctrl-C, running the file
//! again resumes (the rows already done no longer match).
//!
//! The statement is read by squawk's lossless Postgres syntax tree: the range is spliced into the
//! text, never re-printed.

use std::time::Duration;

use squawk_syntax::ast::{self, AstNode};

mod walk;

pub use walk::{progress_bar, rerun_rows, Batches, Key, KeyRange};

/// The directive line, followed by optional `batch-size=N` and `pause=DURATION`.
pub const DIRECTIVE: &str = "-- xtask:backfill";
/// Rows per batch when neither the directive nor `--batch-size` says.
pub const DEFAULT_BATCH_ROWS: u64 = 10_000;

/// How a backfill file's batches run: from its directive, overridden by the command's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub rows: u64,
    pub pause: Duration,
}

/// What a command's `--batch-size` / `--batch-pause` say, for every backfill file it runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    pub rows: Option<u64>,
    pub pause: Option<Duration>,
    /// Draw a progress bar (a terminal, and a command that prints).
    pub progress: bool,
}

/// A backfill file, understood: the table, how its rows are named in the statement, and the
/// statement split where a key range goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    /// The updated table as written (`public.messages`).
    pub table: String,
    /// What qualifies the table's columns in the statement: its alias, else its name.
    qualifier: String,
    /// The statement up to where the range goes, and the rest (the original WHERE's expression
    /// wrapped in parentheses, or nothing).
    head: String,
    tail: String,
    pub batching: Batching,
    /// 1-based line of the UPDATE in the file.
    pub line: usize,
}

impl Backfill {
    /// `None` when the file has no directive; an error, worded for the file's author, when it has
    /// one but the file is not one UPDATE the runner can batch.
    pub fn of(text: &str) -> Option<Result<Backfill, String>> {
        let directive = text.lines().map(str::trim).find(|l| l.starts_with(DIRECTIVE))?;
        Some(Self::parse(text, directive))
    }

    fn parse(text: &str, directive: &str) -> Result<Backfill, String> {
        let batching = parse_directive(directive)?;
        let statements = super::sql_split::split(text);
        let [stmt] = statements.as_slice() else {
            return Err(format!(
                "a backfill file holds exactly one UPDATE, and this one has {} statements: move the others into \
                 files of their own, before or after it",
                statements.len()
            ));
        };
        let parsed = squawk_syntax::SourceFile::parse(&stmt.sql);
        if let Some(e) = parsed.errors().first() {
            return Err(format!("the backfill's UPDATE does not parse: {e}"));
        }
        let Some(ast::Stmt::Update(update)) = parsed.tree().stmts().next() else {
            return Err("a backfill file holds one UPDATE; this statement is not an UPDATE".to_string());
        };
        let table = update
            .relation_name()
            .and_then(|r| r.relation_name_ref())
            .map(|r| r.syntax().text().to_string())
            .ok_or("the backfill's UPDATE names no table")?;
        let qualifier = update
            .alias()
            .and_then(|a| a.name())
            .and_then(|n| n.ident_token())
            .map_or_else(|| table.clone(), |t| t.text().to_string());
        let sql = &stmt.sql;
        let (head, tail) = match update.where_clause_or_current_of() {
            Some(ast::WhereClauseOrCurrentOf::WhereClause(w)) => {
                let expr = w.expr().ok_or("the backfill's WHERE has no condition")?;
                let range = expr.syntax().text_range();
                let (start, end) = (usize::from(range.start()), usize::from(range.end()));
                (sql[..start].to_string(), format!(" AND ({}){}", &sql[start..end], &sql[end..]))
            }
            Some(ast::WhereClauseOrCurrentOf::WhereCurrentOf(_)) => {
                return Err("a backfill cannot be `WHERE CURRENT OF` a cursor".to_string());
            }
            None => {
                let at = update.returning_clause().map_or(sql.len(), |r| usize::from(r.syntax().text_range().start()));
                (format!("{} WHERE ", sql[..at].trim_end()), format!(" {}", &sql[at..]).trim_end().to_string())
            }
        };
        Ok(Backfill { table, qualifier, head, tail, batching, line: stmt.code_line() })
    }

    /// The batching in force: the command's overrides `o`, else the directive's.
    pub fn effective_batching(&self, o: Overrides) -> Batching {
        Batching { rows: o.rows.unwrap_or(self.batching.rows), pause: o.pause.unwrap_or(self.batching.pause) }
    }

    /// The file's UPDATE restricted to the keys in `range`, the keys as its parameters (text,
    /// cast to the key's types in the statement).
    pub fn batch_sql(&self, key: &Key, range: &KeyRange) -> (String, Vec<String>) {
        let cols = key.qualified(&self.qualifier);
        let mut conds = Vec::new();
        let mut params = Vec::new();
        if let Some(lo) = &range.after {
            conds.push(format!("({cols}) > ({})", key.placeholders(params.len() + 1)));
            params.extend(lo.iter().cloned());
        }
        if let Some(hi) = &range.through {
            conds.push(format!("({cols}) <= ({})", key.placeholders(params.len() + 1)));
            params.extend(hi.iter().cloned());
        }
        if conds.is_empty() {
            conds.push("true".to_string());
        }
        (format!("{}{}{}", self.head, conds.join(" AND "), self.tail), params)
    }
}

fn parse_directive(line: &str) -> Result<Batching, String> {
    let mut batching = Batching { rows: DEFAULT_BATCH_ROWS, pause: Duration::ZERO };
    for word in line[DIRECTIVE.len()..].split_whitespace() {
        match word.split_once('=') {
            Some(("batch-size", n)) => {
                batching.rows = n
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("`{word}` in `{DIRECTIVE}`: batch-size is a number of rows above 0"))?;
            }
            Some(("pause", d)) => {
                batching.pause = d.parse::<crate::span::Span>().map_err(|e| format!("`{word}`: {e}"))?.0;
            }
            _ => {
                return Err(format!(
                    "`{word}` in `{DIRECTIVE}` is not understood; it takes `batch-size=ROWS` and `pause=DURATION`"
                ))
            }
        }
    }
    Ok(batching)
}

/// What a batched backfill did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackfillStats {
    pub table: String,
    pub rows: u64,
    pub batches: u64,
    /// The longest batch: how long any row stayed locked.
    pub longest: Duration,
    pub duration: Duration,
    pub batch_rows: u64,
    /// Batches retried after waiting too long for a lock.
    pub retried: u64,
}

impl BackfillStats {
    pub fn rows_per_s(&self) -> f64 {
        self.rows as f64 / self.duration.as_secs_f64().max(1e-6)
    }

    /// One line for a report.
    pub fn describe(&self) -> String {
        let retried = if self.retried > 0 {
            format!(", {} batch(es) retried after a lock timeout", self.retried)
        } else {
            String::new()
        };
        format!(
            "batched backfill of {}: {} row(s) in {} batch(es) of up to {} keys, {:.2} s ({:.0} rows/s); no row locked \
             longer than the longest batch, {} ms{retried}",
            self.table,
            self.rows,
            self.batches,
            self.batch_rows,
            self.duration.as_secs_f64(),
            self.rows_per_s(),
            self.longest.as_millis()
        )
    }
}

/// What the batched backfill running now has committed: (file, table, batches, rows).
pub type Progress = (String, String, u64, u64);

static PROGRESS: std::sync::Mutex<Option<Progress>> = std::sync::Mutex::new(None);

/// A batch committed (the running totals of its file): what an interrupt's record says.
pub(super) fn committed(file: &str, table: &str, batches: u64, rows: u64) {
    if let Ok(mut p) = PROGRESS.lock() {
        *p = Some((file.into(), table.into(), batches, rows));
    }
}

/// Takes what the last batched backfill committed (none once taken).
pub fn take_progress() -> Option<Progress> {
    PROGRESS.lock().ok().and_then(|mut p| p.take())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key { columns: vec![("id".into(), "bigint".into())] }
    }

    #[test]
    fn the_range_goes_into_the_statements_own_where() {
        let range = KeyRange { after: Some(vec!["10".into()]), through: Some(vec!["20".into()]) };
        let cases = [
            (
                "-- xtask:backfill\nUPDATE public.posts m SET a = c.a FROM public.threads c WHERE c.id = m.cid AND m.a IS NULL",
                "UPDATE public.posts m SET a = c.a FROM public.threads c WHERE (m.id) > ($1::bigint) AND (m.id) <= ($2::bigint) AND (c.id = m.cid AND m.a IS NULL)",
            ),
            (
                "-- xtask:backfill\nupdate notes set body = '' where body is null or x = 1",
                "update notes set body = '' where (notes.id) > ($1::bigint) AND (notes.id) <= ($2::bigint) AND (body is null or x = 1)",
            ),
            (
                "-- xtask:backfill\nUPDATE public.t AS t SET n = 1 RETURNING id",
                "UPDATE public.t AS t SET n = 1 WHERE (t.id) > ($1::bigint) AND (t.id) <= ($2::bigint) RETURNING id",
            ),
            ("-- xtask:backfill\nUPDATE t SET n = 1;", "UPDATE t SET n = 1 WHERE (t.id) > ($1::bigint) AND (t.id) <= ($2::bigint)"),
        ];
        for (text, expected) in cases {
            let b = Backfill::of(text).and_then(Result::ok).unwrap_or_else(|| panic!("{text}"));
            let (sql, params) = b.batch_sql(&key(), &range);
            assert_eq!(sql.strip_prefix("-- xtask:backfill\n"), Some(expected), "{text}");
            assert_eq!(params, ["10", "20"]);
        }
    }

    #[test]
    fn open_ranges_and_composite_keys() {
        let b = Backfill::of("-- xtask:backfill\nUPDATE t SET n = 1 WHERE n IS NULL").and_then(Result::ok);
        let Some(b) = b else { panic!("parses") };
        let composite = Key { columns: vec![("a".into(), "uuid".into()), ("\"B\"".into(), "integer".into())] };
        let first = KeyRange { after: None, through: Some(vec!["x'".into(), "2".into()]) };
        let (sql, params) = b.batch_sql(&composite, &first);
        assert_eq!(
            sql,
            "-- xtask:backfill\nUPDATE t SET n = 1 WHERE (t.a, t.\"B\") <= ($1::uuid, $2::integer) AND (n IS NULL)"
        );
        assert_eq!(params, ["x'", "2"], "a quote in a key is a value, not SQL");
        let (sql, params) = b.batch_sql(&key(), &KeyRange::default());
        assert_eq!(sql, "-- xtask:backfill\nUPDATE t SET n = 1 WHERE true AND (n IS NULL)");
        assert!(params.is_empty());
    }

    #[test]
    fn directive_settings_and_what_is_refused() {
        let b = Backfill::of("-- xtask:backfill batch-size=500 pause=20ms\nUPDATE t SET n = 1").and_then(Result::ok);
        assert_eq!(b.map(|b| b.batching), Some(Batching { rows: 500, pause: Duration::from_millis(20) }));
        assert_eq!(Backfill::of("UPDATE t SET n = 1"), None);
        let refused = [
            ("-- xtask:backfill\nUPDATE t SET n = 1; UPDATE u SET n = 2;", "exactly one UPDATE"),
            ("-- xtask:backfill\nDELETE FROM t", "not an UPDATE"),
            ("-- xtask:backfill batch-size=0\nUPDATE t SET n = 1", "above 0"),
            ("-- xtask:backfill batch=10\nUPDATE t SET n = 1", "not understood"),
            ("-- xtask:backfill pause=soon\nUPDATE t SET n = 1", "duration"),
            ("-- xtask:backfill\nUPDATE t SET n = WHERE", "does not parse"),
        ];
        for (text, words) in refused {
            match Backfill::of(text) {
                Some(Err(e)) => assert!(e.contains(words), "{text}: {e}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
