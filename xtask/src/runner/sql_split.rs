//! Splits a migration file into statements the way the supabase CLI's parser does: on `;` outside
//! quotes, dollar quotes and comments, keeping each statement's first line for error messages.

/// One statement of a file, as it will be sent to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The statement text, trimmed, without its terminating `;`.
    pub sql: String,
    /// 1-based line in the file where the statement's first non-blank character is.
    pub line: usize,
    /// Byte offset of `sql` within the file, to map a server error position back to a line.
    pub offset: usize,
    /// Values for `$1`, `$2`… (text): only a batched backfill's key range has any; a file's own
    /// statements are sent as they are.
    pub params: Vec<String>,
}

impl Statement {
    /// The 1-based file line of a 1-based character position inside this statement (as reported
    /// in a server error's `position`).
    pub fn line_of_position(&self, position: usize) -> usize {
        let upto: String = self.sql.chars().take(position.saturating_sub(1)).collect();
        self.line + upto.matches('\n').count()
    }

    /// The 1-based file line where the statement's code starts, after any comments above it:
    /// where an error without a position points.
    pub fn code_line(&self) -> usize {
        let bytes = self.sql.as_bytes();
        let mut i = 0;
        let mut newlines = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => {
                    newlines += 1;
                    i += 1;
                }
                c if c.is_ascii_whitespace() => i += 1,
                b'-' if bytes.get(i + 1) == Some(&b'-') => {
                    i = self.sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
                }
                b'/' if bytes.get(i + 1) == Some(&b'*') => {
                    let end = skip_block_comment(bytes, i);
                    newlines += self.sql[i..end].matches('\n').count();
                    i = end;
                }
                _ => break,
            }
        }
        self.line + newlines
    }

    /// Whether this statement begins, commits or rolls back a transaction itself (at top level:
    /// `ROLLBACK TO SAVEPOINT` is not one).
    pub fn transaction_control(&self) -> Option<TransactionControl> {
        let words: Vec<String> =
            strip_comments(&self.sql).split_whitespace().take(2).map(|w| w.to_ascii_uppercase()).collect();
        let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
        match w(0) {
            "BEGIN" | "START" if w(0) == "BEGIN" || w(1) == "TRANSACTION" => Some(TransactionControl::Begin),
            "COMMIT" | "END" => Some(TransactionControl::Commit),
            "ROLLBACK" | "ABORT" if w(1) != "TO" && w(1) != "PREPARED" => Some(TransactionControl::Rollback),
            _ => None,
        }
    }

    /// Statements PostgreSQL refuses to run inside a transaction block.
    pub fn is_non_transactional(&self) -> bool {
        let words: Vec<String> =
            strip_comments(&self.sql).split_whitespace().take(4).map(|w| w.to_ascii_uppercase()).collect();
        let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
        match w(0) {
            "VACUUM" => true,
            "ALTER" => w(1) == "SYSTEM",
            "CREATE" => {
                (w(1) == "INDEX" && w(2) == "CONCURRENTLY")
                    || (w(1) == "UNIQUE" && w(2) == "INDEX" && w(3) == "CONCURRENTLY")
                    || w(1) == "DATABASE"
            }
            "DROP" => (w(1) == "INDEX" && w(2) == "CONCURRENTLY") || w(1) == "DATABASE",
            "REINDEX" => words.iter().any(|x| x == "CONCURRENTLY"),
            _ => false,
        }
    }
}

/// A statement that manages the transaction itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionControl {
    Begin,
    Commit,
    Rollback,
}

/// Splits `text` into statements. Empty statements (only whitespace and comments) are dropped.
pub fn split(text: &str) -> Vec<Statement> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = text[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'\'' => {
                // E'...' strings allow backslash escapes; standard strings only double quotes.
                let escapes = i > 0 && matches!(bytes[i - 1], b'e' | b'E');
                i = skip_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'$' => {
                if let Some(tag) = dollar_tag(text, i) {
                    let body_start = i + tag.len();
                    i = text[body_start..].find(tag).map_or(bytes.len(), |n| body_start + n + tag.len());
                } else {
                    i += 1;
                }
            }
            b';' => {
                push(text, start, i, &mut out);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push(text, start, bytes.len(), &mut out);
    out
}

fn push(text: &str, start: usize, end: usize, out: &mut Vec<Statement>) {
    let chunk = &text[start..end];
    if strip_comments(chunk).trim().is_empty() {
        return;
    }
    let lead = chunk.len() - chunk.trim_start().len();
    let offset = start + lead;
    // Counted on from the previous statement: linear in the file, however many statements.
    let (from, line) = out.last().map_or((0, 1), |s| (s.offset, s.line));
    let line = line + text[from..offset].matches('\n').count();
    out.push(Statement { sql: chunk.trim().to_string(), line, offset, params: Vec::new() });
}

fn skip_block_comment(bytes: &[u8], mut i: usize) -> usize {
    // PostgreSQL block comments nest.
    let mut depth = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    i
}

fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, escapes: bool) -> usize {
    i += 1;
    while i < bytes.len() {
        if escapes && bytes[i] == b'\\' {
            i += 2;
        } else if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    i
}

/// `$tag$` starting at `i`, if it is one (a `$1` parameter or `a$b` identifier is not).
fn dollar_tag(text: &str, i: usize) -> Option<&str> {
    let prev = text[..i].chars().next_back();
    if prev.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        return None;
    }
    let rest = &text[i + 1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let valid = tag.chars().enumerate().all(|(n, c)| c == '_' || c.is_alphabetic() || (n > 0 && c.is_ascii_digit()));
    valid.then(|| &text[i..i + end + 2])
}

/// The text with `--` and `/* */` comments removed (quotes are not considered: callers only use
/// it to look at leading keywords or decide emptiness).
pub fn strip_comments(sql: &str) -> String {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b'-') {
            out.push_str(&sql[copied..i]);
            i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
            copied = i;
        } else if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            out.push_str(&sql[copied..i]);
            i = skip_block_comment(bytes, i);
            out.push(' ');
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[(&str, usize)]) {
        let got: Vec<(String, usize)> = split(text).into_iter().map(|s| (s.sql, s.line)).collect();
        let expected: Vec<(String, usize)> = expected.iter().map(|(s, l)| (s.to_string(), *l)).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn splits_on_semicolons_with_lines() {
        check("select 1;\n\nselect 2;\n", &[("select 1", 1), ("select 2", 3)]);
    }

    #[test]
    fn keeps_dollar_quoted_bodies_whole() {
        let text = "create function f() returns int as $$ select 1; $$ language sql;\n\
                    do $body$ begin perform 1; end $body$;";
        check(
            text,
            &[
                ("create function f() returns int as $$ select 1; $$ language sql", 1),
                ("do $body$ begin perform 1; end $body$", 2),
            ],
        );
    }

    #[test]
    fn ignores_semicolons_in_strings_and_comments() {
        check(
            "-- a; b\nselect 'x;y', \"a;b\" /* c; /* nested; */ d; */ from t;\n-- trailing; only",
            &[("-- a; b\nselect 'x;y', \"a;b\" /* c; /* nested; */ d; */ from t", 1)],
        );
    }

    #[test]
    fn handles_escape_strings_and_doubled_quotes() {
        check("select E'a\\';b', 'it''s;';select 2", &[("select E'a\\';b', 'it''s;'", 1), ("select 2", 1)]);
    }

    #[test]
    fn parameters_are_not_dollar_quotes() {
        check("prepare p as select $1; select 2;", &[("prepare p as select $1", 1), ("select 2", 1)]);
    }

    #[test]
    fn errors_without_a_position_point_at_the_code_not_the_comment_above() {
        let text = "select 1;\n\n-- why this update\n/* and\n   more */\nupdate t set a = 1;\n";
        let statements = split(text);
        assert_eq!((statements[1].line, statements[1].code_line()), (3, 6));
        assert_eq!(statements[0].code_line(), 1);
    }

    #[test]
    fn reads_transaction_control_at_top_level_only() {
        let check = |sql: &str, expected: Option<TransactionControl>| {
            assert_eq!(split(sql)[0].transaction_control(), expected, "{sql}");
        };
        check("begin", Some(TransactionControl::Begin));
        check("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", Some(TransactionControl::Begin));
        check("-- done\ncommit", Some(TransactionControl::Commit));
        check("end", Some(TransactionControl::Commit));
        check("rollback", Some(TransactionControl::Rollback));
        check("rollback to savepoint a", None);
        check("start_date_column_is_not_sql", None);
        check("create function f() returns void language plpgsql as $$ begin commit; end $$", None);
    }

    #[test]
    fn detects_statements_that_cannot_run_in_a_transaction() {
        let cases = [
            ("create index concurrently i on t (a)", true),
            ("CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)", true),
            ("-- why\ndrop index concurrently if exists i", true),
            ("reindex index concurrently i", true),
            ("vacuum analyze t", true),
            ("alter system set work_mem = '1MB'", true),
            ("create index i on t (a)", false),
            ("alter table t add column c int", false),
        ];
        for (sql, expected) in cases {
            let s = Statement { sql: sql.into(), line: 1, offset: 0, params: Vec::new() };
            assert_eq!(s.is_non_transactional(), expected, "{sql}");
        }
    }

    #[test]
    fn maps_error_position_to_file_line() {
        let text = "select 1;\n\nselect\n  nope\nfrom t;";
        let stmts = split(text);
        assert_eq!(stmts[1].line, 3);
        let pos = stmts[1].sql.find("nope").unwrap_or(0) + 1;
        assert_eq!(stmts[1].line_of_position(pos), 4);
    }
}
