//! The production target: direct (`--db-url` / `SUPABASE_DB_URL`, everything done by us) or
//! linked (`--linked`, backup and push through the supabase CLI, SQL through a connection built
//! from `--db-url` or the link metadata plus `SUPABASE_DB_PASSWORD`). Also the read-only session
//! the checks run in, and drift between local migrations and the target's history.

pub mod backup;
pub mod interrupt;
mod lock;
pub mod record;

use std::{path::Path, str::FromStr};

use anyhow::{bail, Context};
use sqlx::{postgres::PgConnectOptions, Connection, PgConnection};
use url::Url;

pub use lock::{TargetLock, KEY as MIGRATION_LOCK_KEY};

/// Whether `conn`'s session is encrypted, as a check: TLS (with its version), or a warning for a
/// clear-text session to a remote host (a local socket or loopback is information).
pub async fn encryption_check(conn: &mut PgConnection, url: &str) -> anyhow::Result<Check> {
    let tls: Option<(bool, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_optional(&mut *conn)
            .await
            .context("reading pg_stat_ssl")?;
    let check = Check::new("session.encryption", "the session to the target is encrypted", Status::Pass);
    Ok(match tls {
        Some((true, version, cipher)) => {
            check.value(format!("{} ({})", version.unwrap_or_default(), cipher.unwrap_or_default()))
        }
        _ => {
            let host = Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_string)).unwrap_or_default();
            let local = host.is_empty() || host == "localhost" || host.starts_with("127.") || host == "[::1]";
            let status = if local { Status::Info } else { Status::Warn };
            Check { status, ..check }.value("not encrypted").detail(if local {
                "a local server: data stays on this machine".to_string()
            } else {
                format!("data to {host} travels in clear text; add sslmode=require (or verify-full with sslrootcert) to the URL")
            })
        }
    })
}

use crate::{
    flags::TargetArgs,
    pg::redact,
    report::{Check, Report, Status},
    runner::MigrationDir,
};

/// Whether a change to the target still needs a person to confirm it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// Ask on the terminal (refuse without one).
    Ask,
    /// Already given: `--yes`, or the push the person confirmed is rolling itself back.
    Given,
}

impl Confirmation {
    /// From a `--yes` flag.
    pub fn from_yes(yes: bool) -> Confirmation {
        if yes {
            Confirmation::Given
        } else {
            Confirmation::Ask
        }
    }
}

#[derive(Debug, Clone)]
pub enum Mode {
    Direct,
    Linked { project_ref: String },
}

#[derive(Debug, Clone)]
pub struct Target {
    pub mode: Mode,
    /// Connection URL for SQL (may hold a password: print only through `redact`).
    pub url: String,
}

impl Target {
    /// Resolves the flags into a target; every missing piece is an error saying what to do.
    pub fn resolve(args: &TargetArgs, supabase_dir: &Path) -> anyhow::Result<Target> {
        let env_url = std::env::var("SUPABASE_DB_URL").ok().filter(|s| !s.is_empty());
        if !args.linked {
            let url = args.db_url.clone().or(env_url).context(
                "no target database: pass --db-url URL (or set SUPABASE_DB_URL), or --linked for the project \
                 linked with the supabase CLI",
            )?;
            let parsed = Url::parse(&url).context("the target URL is not a postgres:// URL")?;
            if !matches!(parsed.scheme(), "postgres" | "postgresql") {
                bail!(
                    "the target URL has scheme `{}:`; this tool speaks to PostgreSQL only (postgres://user@host:5432/db)",
                    parsed.scheme()
                );
            }
            return Ok(Target { mode: Mode::Direct, url });
        }
        crate::supabase::cli::ensure_installed()?;
        let temp = supabase_dir.join(".temp");
        let project_ref = std::fs::read_to_string(temp.join("project-ref"))
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .with_context(|| {
                format!(
                    "this project is not linked ({} is missing): run `supabase link --project-ref <ref>` \
                     in {}",
                    temp.join("project-ref").display(),
                    supabase_dir.parent().map(|p| p.display().to_string()).unwrap_or_default()
                )
            })?;
        let url = match args.db_url.clone().or(env_url) {
            Some(url) => url,
            None => {
                let password = std::env::var("SUPABASE_DB_PASSWORD").ok().filter(|s| !s.is_empty()).context(
                    "linked mode needs a database connection for its checks: set SUPABASE_DB_PASSWORD \
                     (the project's database password) or pass --db-url",
                )?;
                let base = std::fs::read_to_string(temp.join("pooler-url"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| format!("postgresql://postgres@db.{project_ref}.supabase.co:5432/postgres"));
                let mut url = Url::parse(&base).context("parsing supabase/.temp/pooler-url")?;
                url.set_password(Some(&password)).map_err(|()| anyhow::anyhow!("cannot set the password"))?;
                url.to_string()
            }
        };
        Ok(Target { mode: Mode::Linked { project_ref }, url })
    }

    /// What the user types to confirm: the project ref, or the database name.
    pub fn name(&self) -> String {
        match &self.mode {
            Mode::Linked { project_ref } => project_ref.clone(),
            Mode::Direct => Url::parse(&self.url)
                .ok()
                .map(|u| u.path().trim_start_matches('/').to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "postgres".into()),
        }
    }

    /// host:port/database, without user or password: identifies the target in backups.
    pub fn fingerprint(&self) -> String {
        match Url::parse(&self.url) {
            Ok(u) => format!("{}:{}{}", u.host_str().unwrap_or(""), u.port().unwrap_or(5432), u.path()),
            Err(_) => "unknown".into(),
        }
    }

    pub fn describe(&self) -> String {
        match &self.mode {
            Mode::Direct => format!("direct: {}", redact(&self.url)),
            Mode::Linked { project_ref } => format!("linked project {project_ref} (SQL via {})", redact(&self.url)),
        }
    }

    /// A session that cannot write: read-only by default, short statement and lock timeouts.
    pub async fn connect_read_only(&self) -> anyhow::Result<PgConnection> {
        let opts = self.options()?.options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", "30s"),
            ("lock_timeout", "2s"),
            ("application_name", "cargo-xtask-readonly"),
        ]);
        PgConnection::connect_with(&opts).await.with_context(|| format!("connecting to {}", redact(&self.url)))
    }

    /// A session that may write, waiting at most `lock_timeout` for any lock (never forever: a
    /// statement queued behind the app's transactions blocks every read that comes after it).
    pub async fn connect_for_changes(&self, lock_timeout: std::time::Duration) -> anyhow::Result<PgConnection> {
        if lock_timeout.is_zero() {
            bail!("--lock-timeout 0s would wait forever for a lock on production, queueing the app's reads behind it; give a bound such as 2s");
        }
        let lock_timeout = format!("{}ms", lock_timeout.as_millis());
        let opts =
            self.options()?.options([("lock_timeout", lock_timeout.as_str()), ("application_name", "cargo-xtask")]);
        let mut conn =
            PgConnection::connect_with(&opts).await.with_context(|| format!("connecting to {}", redact(&self.url)))?;
        interrupt::register(&self.url, &mut conn).await?;
        Ok(conn)
    }

    fn options(&self) -> anyhow::Result<PgConnectOptions> {
        PgConnectOptions::from_str(&self.url).map_err(|_| anyhow::anyhow!("cannot parse {}", redact(&self.url)))
    }
}

/// Versions applied on the target versus local files: drift checks, and the pending list.
pub async fn drift(conn: &mut PgConnection, dir: &MigrationDir, report: &mut Report) -> anyhow::Result<Vec<String>> {
    let applied = crate::runner::applied_versions(conn).await?;
    let newest = applied.iter().map(|(v, _, _)| v.clone()).max_by_key(|v| v.parse::<u128>().unwrap_or(0));
    let local: Vec<&crate::runner::MigrationFile> = dir.files.iter().collect();

    let missing: Vec<String> = applied
        .iter()
        .filter(|(v, _, _)| !local.iter().any(|f| &f.version == v))
        .map(|(v, n, _)| format!("{v}_{n}"))
        .collect();
    report.push(check(
        "drift.missing_locally",
        "every version applied on the target exists locally",
        &missing,
        "applied on the target but not in migrations/ (pull them with `supabase db pull` or restore the files)",
    ));

    let newest_n = newest.as_deref().map(|n| n.parse::<u128>().unwrap_or(0));
    let not_applied: Vec<&crate::runner::MigrationFile> =
        local.iter().copied().filter(|f| !applied.iter().any(|(v, _, _)| v == &f.version)).collect();
    let older = |f: &crate::runner::MigrationFile| newest_n.is_some_and(|n| f.version.parse::<u128>().unwrap_or(0) < n);
    let out_of_order: Vec<String> = not_applied.iter().filter(|f| older(f)).map(|f| f.file_name()).collect();
    report.push(check(
        "drift.out_of_order",
        "no unapplied local version is older than the target's newest",
        &out_of_order,
        "older than the newest applied version; `supabase db push` refuses them without --include-all",
    ));

    let edited: Vec<String> = applied
        .iter()
        .filter_map(|(v, _, stored)| {
            let file = local.iter().find(|f| &f.version == v)?;
            (!stored.is_empty() && normalized(std::slice::from_ref(&file.text)) != normalized(stored))
                .then(|| file.file_name())
        })
        .collect();
    let unrecorded: Vec<String> = applied
        .iter()
        .filter(|(v, _, stored)| stored.is_empty() && local.iter().any(|f| &f.version == v))
        .map(|(v, n, _)| format!("{v}_{n}"))
        .collect();
    if !unrecorded.is_empty() {
        report.push(
            Check::new(
                "drift.unrecorded_text",
                "applied migrations whose text the target did not record",
                Status::Info,
            )
            .value(unrecorded.len())
            .detail(format!(
                "the history holds no statements for these (written by `migration repair` or an older CLI): \
                     whether they changed since cannot be told\n{}",
                unrecorded.join("\n")
            )),
        );
    }
    report.push(check(
        "drift.edited_after_apply",
        "applied migrations are unchanged since they were applied",
        &edited,
        "the file differs from the statements the target recorded when it applied it",
    ));

    let pending: Vec<String> = not_applied.iter().filter(|f| !older(f)).map(|f| f.version.clone()).collect();
    report.push(
        Check::new("drift.pending", "local migrations not yet applied on the target", Status::Info)
            .value(pending.len())
            .detail(pending.join(", ")),
    );
    Ok(pending)
}

/// Statements as the server sees them: split again (a history row may hold the whole file as one
/// element), comments dropped, whitespace collapsed, without the trailing semicolon.
pub fn normalized(texts: &[String]) -> Vec<String> {
    let joined = texts.iter().map(|t| format!("{};\n", t.trim_end().trim_end_matches(';'))).collect::<String>();
    crate::runner::sql_split::split(&joined)
        .into_iter()
        .map(|s| {
            let text = collapse_whitespace(&crate::runner::sql_split::strip_comments(&s.sql));
            text.trim_end_matches(';').trim().to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// Runs of whitespace as one space, except inside '…' and "…" (there they are data).
fn collapse_whitespace(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut space = false;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None; // a doubled quote reopens on its next char
                }
            }
            None if c.is_whitespace() => space = true,
            None => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

fn check(id: &str, title: &str, found: &[String], why: &str) -> Check {
    if found.is_empty() {
        Check::new(id, title, Status::Pass)
    } else {
        Check::new(id, title, Status::Fail).value(found.len()).detail(format!("{why}:\n{}", found.join("\n")))
    }
}

/// Asks the user to type `expected` unless `yes`; refuses without a terminal.
pub fn confirm(action: &str, expected: &str, confirmation: Confirmation) -> anyhow::Result<()> {
    if confirmation == Confirmation::Given {
        return Ok(());
    }
    let term = console::Term::stderr();
    if !term.is_term() {
        bail!("{action} needs confirmation and there is no terminal to ask on: pass --yes (for CI) to proceed");
    }
    term.write_line(&format!("{action}. Type the database name `{expected}` to proceed:"))?;
    let answer = term.read_line()?;
    if answer.trim() != expected {
        bail!("confirmation did not match `{expected}`; nothing was done");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(url: &str) -> anyhow::Result<Target> {
        Target::resolve(&TargetArgs { db_url: Some(url.into()), linked: false }, Path::new("supabase"))
    }

    #[test]
    fn drift_compares_statements_not_formatting() {
        let file =
            "-- add a column\nalter table t add column c int;\n\ncreate  index i\n  on t (c); -- why\n".to_string();
        let as_cli_records =
            vec!["alter table t add column c int".to_string(), "create  index i\n  on t (c)".to_string()];
        let as_one_element = vec![file.clone()];
        assert_eq!(normalized(std::slice::from_ref(&file)), normalized(&as_cli_records));
        assert_eq!(normalized(&as_one_element), normalized(&as_cli_records));
        assert_ne!(normalized(&["alter table t add column c bigint".to_string()]), normalized(&as_cli_records[..1]));
        // Text inside quotes is not formatting.
        assert_ne!(normalized(&["select 'a  b'".to_string()]), normalized(&["select 'a b'".to_string()]));
    }

    #[test]
    fn only_postgres_urls_are_targets() {
        assert!(direct("postgres://u:p@db.example.com:5432/postgres?sslmode=require").is_ok());
        assert!(direct("postgresql://u@h/db").is_ok());
        let err = direct("mysql://u:p@h/db").err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(err.contains("scheme `mysql:`") && !err.contains(":p@"), "{err}");
        assert!(direct("not a url").is_err());
    }

    #[tokio::test]
    async fn a_lock_timeout_of_zero_is_refused_before_connecting() {
        let target = direct("postgres://u@127.0.0.1:1/db").expect("target");
        let err = target.connect_for_changes(std::time::Duration::ZERO).await.err().map(|e| e.to_string());
        assert!(err.as_deref().is_some_and(|e| e.contains("wait forever")), "{err:?}");
    }
}
