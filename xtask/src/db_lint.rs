//! `cargo xtask db-lint`: the pending migration files, without a database, in milliseconds —
//! squawk's rules (the squawk-linter crate, not rewritten), configured for Supabase's Postgres 15
//! and for how the supabase CLI runs a file (one transaction). Each finding carries
//! file:line:column, the rule, the statement and squawk's advice.

pub mod confirm;
mod own;

use std::time::Instant;

use squawk_linter::{Linter, Rule};

use crate::{
    flags::DbLint,
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
    runner::{self, MigrationFile},
};

/// Rules that do not fit how migrations reach a Supabase database: the runner sets a short
/// `lock_timeout` itself (db-push `--lock-timeout`), and a file runs in one transaction, so a
/// failed file leaves nothing that `IF NOT EXISTS` would have to step over.
const NOT_HERE: &[Rule] = &[Rule::RequireTimeoutSettings, Rule::PreferRobustStmts];

/// One finding: where, which rule, what squawk says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
    pub statement: String,
    /// Why this guess is not a hazard after all (information, not a failure), when it is not.
    pub dismissed: Option<String>,
}

/// Functions that are not volatile: a column added with one as its default rewrites nothing
/// since Postgres 11 (Supabase's `auth.*` helpers are STABLE), whatever squawk assumes of an
/// unknown function.
const NOT_VOLATILE: [&str; 8] = [
    "auth.uid()",
    "auth.jwt()",
    "auth.role()",
    "auth.email()",
    "now()",
    "current_timestamp",
    "current_date",
    "transaction_timestamp()",
];

/// Why squawk's guess about `statement` is not a hazard, when the text says so.
fn dismissal(rule: &str, statement: &str) -> Option<String> {
    let lower = statement.to_lowercase();
    let default = lower.split(" default ").nth(1)?;
    let default = default.trim_start_matches(['(', ' ']);
    let call = NOT_VOLATILE.iter().find(|f| default.starts_with(*f))?;
    (rule == "adding-field-with-default").then(|| {
        format!("dismissed: the default `{call}` is not volatile, so adding the column rewrites nothing (Postgres 11+)")
    })
}

/// squawk's advice to build an index `CONCURRENTLY`, completed: the supabase CLI runs a file in
/// one transaction, where Postgres refuses it, unless the statement is alone in its file.
fn alone_in_its_file(rule: &str, help: Option<String>) -> Option<String> {
    if rule != "require-concurrent-index-creation" {
        return help;
    }
    let help = help.unwrap_or_else(|| "Use `CONCURRENTLY`".into());
    Some(format!(
        "{help}, in a migration file of its own: the supabase CLI runs a file with other statements in one \
         transaction, where CREATE INDEX CONCURRENTLY fails"
    ))
}

/// squawk's findings for one file's text.
pub fn lint_text(text: &str) -> Vec<Finding> {
    let parsed = squawk_syntax::SourceFile::parse(text);
    let mut linter = Linter::with_rules(&[], NOT_HERE);
    linter.settings.pg_version = "15".parse().unwrap_or_default();
    // The CLI runs a file in one transaction, except a file made only of statements Postgres
    // refuses in one (a lone CREATE INDEX CONCURRENTLY): mixing the two is what squawk flags.
    let statements = runner::sql_split::split(text);
    linter.settings.assume_in_transaction = !statements.iter().all(|s| s.is_non_transactional());
    // A file wrapped whole in its own BEGIN … COMMIT: the runner (as the CLI) runs it as written,
    // one transaction that commits where the file says; squawk's nesting rule guesses otherwise.
    let keyword = |s: Option<&runner::sql_split::Statement>, words: &[&str]| {
        s.is_some_and(|s| words.contains(&s.sql.trim().trim_end_matches(';').trim().to_lowercase().as_str()))
    };
    let wrapped = keyword(statements.first(), &["begin", "begin transaction", "start transaction"])
        && keyword(statements.last(), &["commit", "commit transaction", "end"]);
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let mut findings: Vec<Finding> = linter
        .lint(&parsed, text)
        .into_iter()
        .map(|v| {
            let at = usize::from(v.text_range.start()).min(text.len());
            // Line and column by binary search over line starts: linear in the file, not in
            // findings × file size.
            let line = line_starts.partition_point(|&start| start <= at);
            let column = at - line_starts[line - 1] + 1;
            let end = usize::from(v.text_range.end()).min(text.len());
            let containing = statements.partition_point(|s| s.offset <= at).checked_sub(1).map(|i| &statements[i]);
            let statement =
                containing.filter(|s| at < s.offset + s.sql.len().max(1)).map_or(&text[at..end], |s| s.sql.as_str());
            Finding {
                dismissed: dismissal(&v.code.to_string(), statement).or_else(|| {
                    (wrapped && v.code.to_string() == "transaction-nesting").then(|| {
                        "dismissed: the file is wrapped whole in its own BEGIN … COMMIT, which the runner applies as \
                         written, as one transaction"
                            .to_string()
                    })
                }),
                rule: v.code.to_string(),
                line,
                column,
                message: v.message,
                help: alone_in_its_file(&v.code.to_string(), v.help),
                statement: runner::excerpt(&text[at..end]),
            }
        })
        .collect();
    findings.extend(own_findings(&statements));
    findings.sort_by_key(|f| (f.line, f.column));
    findings
}

/// Our rules (`own`), each silenced only with a reason; a silence without one is a finding.
fn own_findings(statements: &[runner::sql_split::Statement]) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut found: Vec<Vec<(&str, String, &str)>> = statements.iter().map(own::check).collect();
    for (i, table) in own::tables_without_rls(statements) {
        found[i].push((
            "xtask-table-without-rls",
            format!(
                "{table} is created in public, which the Data API exposes, and this file does not enable RLS on it: \
                 the first grant to anon or authenticated opens every row"
            ),
            "add `alter table … enable row level security;` (and its policies) in the same file",
        ));
    }
    for (i, function) in own::definers_callable_by_anon(statements) {
        found[i].push((
            "xtask-security-definer-callable-by-anon",
            format!("{function} is SECURITY DEFINER, and anon may execute it: Postgres grants EXECUTE on every new function to PUBLIC, anon included"),
            "add `revoke execute on function … from public, anon;` in the same file (grant it to authenticated if signed-in users call it)",
        ));
    }
    for (stmt, rules) in statements.iter().zip(found) {
        for (rule, message, help) in rules {
            let finding = |rule: &str, message: String, help: &str| Finding {
                dismissed: None,
                rule: rule.to_string(),
                line: stmt.code_line(),
                column: 1,
                message,
                help: Some(help.to_string()),
                statement: runner::excerpt(&stmt.sql),
            };
            match own::ignored(stmt, rule) {
                Some(why) if !why.is_empty() => {}
                Some(_) => out.push(finding(
                    "xtask-ignore-without-reason",
                    format!("`-- xtask:ignore {rule}` gives no reason"),
                    "say why after the rule's name, for the reviewer",
                )),
                None => out.push(finding(rule, message, help)),
            }
        }
    }
    out
}

impl DbLint {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        // Linting is CPU work with no await point: on a blocking thread, so Ctrl-C or SIGTERM
        // (a cancelled CI job) ends the run at once instead of after the last file.
        run_command("db-lint", json.as_deref(), format, async |report| {
            let taken = std::mem::replace(report, Report::quiet("db-lint"));
            let (back, result) = tokio::task::spawn_blocking(move || {
                let mut report = taken;
                let result = self.run_into(&mut report);
                (report, result)
            })
            .await?;
            *report = back;
            result
        })
        .await
    }

    pub fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let dir = &self.project.supabase_dir;
        let ignored = self.ignored.given();
        if !ignored.is_empty() {
            report.note(format!("ignored: {} (db-lint reads files only, it starts no database)", ignored.join(" ")));
        }
        let scanned = runner::scan(dir)?;
        report.extend(scanned.checks());
        let plan = runner::pending::plan(dir, &scanned, &self.pending.choice(), report)?;
        for f in &plan.pending {
            report.silences_from(&f.file_name(), &f.path, &f.text);
        }
        lint_into(&plan.pending, &plan.rollbacks, report);
        Ok(())
    }
}

/// Rules a rollback script is not held to: it restores the state before its migration, so what
/// it drops, renames back, revokes or restores (the old policies, the old function bodies) was
/// production's state; what matters is how it takes its locks and how long it holds rows.
fn holds_for_rollbacks(rule: &str) -> bool {
    const RESTORES: &[&str] = &[
        "ban-replace-view-function",
        "ban-revoke",
        "xtask-auth-call-per-row",
        "xtask-security-definer-search-path",
        "xtask-security-definer-callable-by-anon",
        "xtask-grant-to-anon",
        "xtask-table-without-rls",
        "xtask-policy-using-true",
    ];
    !(rule.starts_with("ban-drop-") || rule.starts_with("renaming-") || RESTORES.contains(&rule))
}

/// The lint of `files` and of their rollback scripts (`rollbacks`, by version: they run against
/// production too) into `report`: a check per finding, then `lint.static` (db-lint, and first in
/// db-local-test and db-rehearse); the number of findings.
pub fn lint_into(
    files: &[MigrationFile],
    rollbacks: &std::collections::BTreeMap<String, std::path::PathBuf>,
    report: &mut Report,
) -> usize {
    let started = Instant::now();
    let mut count = 0;
    let mut warned = 0;
    let mut scripts = 0;
    for file in files {
        for f in lint_text(&file.text) {
            count += usize::from(severity(&f) == Status::Fail);
            warned += usize::from(severity(&f) == Status::Warn);
            report.push(finding_check(file, &f, ""));
        }
        let Some(script) = rollbacks.get(&file.version) else { continue };
        let Ok(text) = std::fs::read_to_string(script) else { continue };
        scripts += 1;
        let rollback = MigrationFile { path: script.clone(), text, ..file.clone() };
        for f in lint_text(&rollback.text).into_iter().filter(|f| holds_for_rollbacks(&f.rule)) {
            count += usize::from(severity(&f) == Status::Fail);
            warned += usize::from(severity(&f) == Status::Warn);
            report.push(finding_check(&rollback, &f, "rollback."));
        }
    }
    let took = started.elapsed();
    let check = Check::new("lint.static", "squawk's rules and ours on the pending files", Status::Pass);
    report.push(if files.is_empty() {
        Check { status: Status::Warn, ..check }.detail(
            "no pending file: nothing was linted (pending = the trailing files with a rollback script, or --since)",
        )
    } else {
        let status = match (count, warned) {
            (0, 0) => Status::Pass,
            (0, _) => Status::Warn,
            _ => Status::Fail,
        };
        Check { status, ..check }.value(format!(
            "{count} finding(s) and {warned} warning(s) in {} file(s) and {scripts} rollback script(s), {:.1} ms",
            files.len(),
            took.as_secs_f64() * 1000.0
        ))
    });
    count
}

/// Rules about speed, not safety: a new finding warns, as Supabase's own advisor ranks them.
const PERFORMANCE: [&str; 1] = ["xtask-auth-call-per-row"];

/// How a finding counts: dismissed ones inform, performance ones warn, the rest fail.
fn severity(f: &Finding) -> Status {
    if f.dismissed.is_some() {
        Status::Info
    } else if PERFORMANCE.contains(&f.rule.as_str()) {
        Status::Warn
    } else {
        Status::Fail
    }
}

/// A finding as a check; `kind` is `""` for a migration, `"rollback."` for its rollback script.
fn finding_check(file: &MigrationFile, f: &Finding, kind: &str) -> Check {
    let shown = if kind.is_empty() { file.file_name() } else { format!("rollbacks/{}", file.file_name()) };
    let mut detail = format!("{shown}:{}:{} `{}`: {}", f.line, f.column, f.statement, f.message);
    if let Some(help) = &f.help {
        detail.push_str(&format!("\nfix: {help}"));
    }
    if let Some(why) = &f.dismissed {
        detail = format!("{why}\n{detail}");
    }
    Check::new(
        format!("lint.static.{}.{kind}{}.{}", f.rule, file.version, f.line),
        format!("static rule {}", f.rule),
        severity(f),
    )
    .value(format!("{shown}:{}:{}", f.line, f.column))
    .detail(detail)
    .at(&file.path, f.line, f.column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_wrapped_in_its_own_transaction_is_not_nesting() {
        let nesting = |sql: &str| {
            lint_text(sql)
                .into_iter()
                .filter(|f| f.rule == "transaction-nesting")
                .map(|f| f.dismissed.is_some())
                .collect::<Vec<_>>()
        };
        let wrapped = nesting("begin;\nalter table public.t add column c int;\ncommit;\n");
        assert!(!wrapped.is_empty() && wrapped.iter().all(|d| *d), "{wrapped:?}");
        let midway =
            nesting("alter table public.t add column c int;\ncommit;\nalter table public.t add column d int;\n");
        assert!(midway.iter().all(|d| !d), "{midway:?}");
    }

    #[test]
    fn concurrent_index_advice_says_alone_in_its_file() {
        let f = lint_text("create index i on public.existing (id);\n");
        let help = f.iter().find(|f| f.rule == "require-concurrent-index-creation").and_then(|f| f.help.clone());
        assert!(help.is_some_and(|h| h.contains("CONCURRENTLY") && h.contains("file of its own")));
    }

    #[test]
    fn a_not_volatile_default_is_dismissed_with_the_reason() {
        let rule = |sql: &str| {
            lint_text(sql).into_iter().find(|f| f.rule == "adding-field-with-default").map(|f| f.dismissed.is_some())
        };
        // squawk flags an unknown function; auth.uid() is STABLE: no rewrite.
        assert_eq!(rule("alter table public.notes add column owner uuid default auth.uid();"), Some(true));
        assert_eq!(rule("alter table public.notes add column owner uuid default (auth.uid());"), Some(true));
        // A volatile one stays a finding.
        assert_eq!(rule("alter table public.notes add column n uuid default gen_random_uuid();"), Some(false));
    }

    #[test]
    fn each_hazard_gets_its_rule_at_its_line() {
        let cases = [
            ("select 1;\nalter table t add column c int not null;", "adding-required-field", 2),
            ("create index i on t (a);", "require-concurrent-index-creation", 1),
            ("alter table t add constraint f foreign key (a) references p (id);", "adding-foreign-key-constraint", 1),
            ("alter table t alter column a set not null;", "adding-not-nullable-field", 1),
            ("alter table t alter column a type bigint;", "changing-column-type", 1),
            ("alter table t rename column a to b;", "renaming-column", 1),
            (
                "alter table t add column c bigint;\ncreate index concurrently i on t (c);",
                "ban-concurrent-index-creation-in-transaction",
                2,
            ),
        ];
        for (sql, rule, line) in cases {
            let found = lint_text(sql);
            assert!(found.iter().any(|f| f.rule == rule && f.line == line), "{sql}: {found:#?}");
        }
        for safe in ["alter table t add column c bigint;", "create index concurrently i on t (c);"] {
            let found = lint_text(safe);
            assert_eq!(found, [], "{safe}: {found:#?}");
        }
    }
}
