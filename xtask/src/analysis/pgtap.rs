//! The project's own database tests: `supabase/tests/**/*.sql` and `.pg`, pgTAP, as `supabase
//! test db` takes them, run at any phase (after the baseline, after the migrations, after the
//! rollback, after re-applying). Each file runs in its own transaction that is rolled back; what
//! its statements return is its TAP. Suites that install the community test helpers from a
//! package registry get ours (`xtask/sql/test_helpers.sql`), so they run offline.

mod tap;

use std::path::{Path, PathBuf};

use anyhow::Context;
use sqlx::{Connection, PgConnection, Row};

pub use tap::{Assertion, TapRun};

use crate::runner::sql_split;

const HELPERS: &str = include_str!("../../sql/test_helpers.sql");

/// The directive that names the phases a file belongs to: `-- xtask:phases migrated, reapplied`.
pub const PHASES_DIRECTIVE: &str = "-- xtask:phases ";

/// One test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    pub path: PathBuf,
    /// Relative to `supabase/tests/`, as the report names it.
    pub name: String,
    pub text: String,
}

impl TestFile {
    /// Whether the file runs at `phase` (every phase unless its directive names some).
    pub fn runs_at(&self, phase: &str) -> bool {
        let named: Vec<String> = self
            .text
            .lines()
            .filter_map(|l| l.trim().strip_prefix(PHASES_DIRECTIVE.trim_end()))
            .flat_map(|rest| rest.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).map(str::to_string))
            .collect();
        named.is_empty() || named.iter().any(|p| p == phase)
    }

    fn needs_helpers(&self) -> bool {
        self.text.contains("supabase_test_helpers") || self.text.contains("dbdev")
    }
}

/// The test files under `supabase/tests/`, in name order; `None` when the folder does not exist.
pub fn discover(supabase_dir: &Path) -> anyhow::Result<Option<Vec<TestFile>>> {
    let root = supabase_dir.join("tests");
    if !root.is_dir() {
        return Ok(None);
    }
    let mut paths = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sql" || e == "pg") {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let name = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        if let Some((line, command)) = meta_command(&text) {
            anyhow::bail!(
                "{}:{line}: psql meta-command `{command}`, which the test runner cannot run (it sends SQL, \
                 not psql scripts); write it as SQL, or move it out of supabase/tests/",
                path.display()
            );
        }
        files.push(TestFile { path, name, text });
    }
    Ok(Some(files))
}

/// The first psql meta-command (`\set`, `\i` …) at the start of a line, outside block comments.
fn meta_command(text: &str) -> Option<(usize, String)> {
    let mut in_block = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if in_block {
            in_block = !t.contains("*/");
            continue;
        }
        if t.starts_with("/*") {
            in_block = !t.contains("*/");
            continue;
        }
        if t.starts_with('\\') {
            return Some((i + 1, t.split_whitespace().next().unwrap_or(t).to_string()));
        }
    }
    None
}

/// Makes sure pgTAP is installed; an environment error (exit 2) with the remedy when this Postgres
/// does not have it.
pub async fn ensure_pgtap(conn: &mut PgConnection) -> anyhow::Result<()> {
    let available: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgtap')")
            .fetch_one(&mut *conn)
            .await?;
    if !available {
        anyhow::bail!(
            "supabase/tests/ holds pgTAP tests, but this Postgres has no pgTAP: install it (Debian/Ubuntu: `apt \
             install postgresql-15-pgtap`), or use an image that has it (--backend docker --image \
             supabase/postgres:15.8.1.085)"
        );
    }
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pgtap WITH SCHEMA extensions")
        .execute(&mut *conn)
        .await
        .context("installing pgTAP")?;
    Ok(())
}

/// Data the tool added (generated users and rows): hidden from the project's tests.
#[derive(Debug, Clone, Default)]
pub struct Hidden {
    pub users: Vec<uuid::Uuid>,
    /// (table, primary key as JSON), in the order they were written.
    pub rows: Vec<(String, serde_json::Value)>,
}

/// Runs one file in a transaction that is rolled back, and reads its TAP. What `hidden` names
/// is deleted first inside that transaction (children before parents, objects, then the users),
/// so the file sees the project's own data as `supabase test db` would; false in the second value
/// when that was not possible.
pub async fn run_file(conn: &mut PgConnection, file: &TestFile, hidden: &Hidden) -> anyhow::Result<(TapRun, bool)> {
    let mut lines: Vec<String> = Vec::new();
    let mut error = None;
    let mut tx = conn.begin().await?;
    let mut was_hidden = true;
    if !hidden.users.is_empty() {
        sqlx::raw_sql("SAVEPOINT hide_generated").execute(&mut *tx).await?;
        if hide(&mut tx, hidden).await.is_err() {
            was_hidden = false;
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT hide_generated").execute(&mut *tx).await?;
        }
    }
    if file.needs_helpers() {
        sqlx::raw_sql(HELPERS).execute(&mut *tx).await.context("installing the test helpers")?;
    }
    for stmt in sql_split::split(&file.text) {
        // Our transaction stands for the file's own BEGIN/ROLLBACK; the helpers are ours.
        let lower = stmt.sql.to_ascii_lowercase();
        if stmt.transaction_control().is_some() || lower.contains("supabase_test_helpers") || lower.contains("dbdev") {
            continue;
        }
        match sqlx::raw_sql(&stmt.sql).fetch_all(&mut *tx).await {
            Ok(rows) => lines.extend(rows.iter().filter_map(|r| r.try_get::<Option<String>, _>(0).ok().flatten())),
            Err(e) => {
                let what = match &e {
                    sqlx::Error::Database(db) => format!("ERROR {}: {}", db.code().unwrap_or_default(), db.message()),
                    other => other.to_string(),
                };
                error = Some(format!("line {}: {what}", stmt.code_line()));
                break;
            }
        }
    }
    tx.rollback().await?;
    let mut run = TapRun::parse(lines.iter().map(String::as_str));
    run.error = error;
    Ok((run, was_hidden))
}

async fn hide(conn: &mut PgConnection, hidden: &Hidden) -> sqlx::Result<()> {
    for (table, key) in hidden.rows.iter().rev() {
        // One row each: a table without a primary key may hold an identical row of the project's.
        let sql =
            format!("DELETE FROM {table} WHERE ctid = (SELECT ctid FROM {table} x WHERE to_jsonb(x) @> $1 LIMIT 1)");
        sqlx::query(&sql).bind(key).execute(&mut *conn).await?;
    }
    sqlx::query("DELETE FROM storage.objects WHERE owner = ANY($1)").bind(&hidden.users).execute(&mut *conn).await?;
    // Rows the project's triggers made for the users (a personal account on sign-up), through
    // every foreign key into auth.users.
    let references: Vec<(String, String)> = sqlx::query_as(
        "SELECT con.conrelid::regclass::text, quote_ident(a.attname) FROM pg_constraint con \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1] \
         WHERE con.contype = 'f' AND con.confrelid = 'auth.users'::regclass AND cardinality(con.conkey) = 1 \
           AND con.conrelid::regclass::text NOT LIKE 'auth.%'",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (table, column) in references {
        sqlx::query(&format!("DELETE FROM {table} WHERE {column} = ANY($1)"))
            .bind(&hidden.users)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query("DELETE FROM auth.users WHERE id = ANY($1)").bind(&hidden.users).execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_runs_at_every_phase_unless_its_directive_names_some() {
        let file = |text: &str| TestFile { path: PathBuf::new(), name: "t.sql".into(), text: text.into() };
        assert!(file("select plan(1);").runs_at("baseline"));
        let after = file("-- xtask:phases migrated, reapplied\nselect plan(1);");
        assert!(after.runs_at("migrated") && after.runs_at("reapplied") && !after.runs_at("baseline"));
    }

    #[test]
    fn psql_meta_commands_are_found_with_their_line() {
        assert_eq!(meta_command("begin;\n\\set ON_ERROR_STOP 1\nselect 1;"), Some((2, "\\set".into())));
        assert_eq!(meta_command("select '\\x';\n-- \\i file\n"), None);
    }
}
