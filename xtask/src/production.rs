//! The production target: direct (`--db-url` / `SUPABASE_DB_URL`, everything done by us) or
//! linked (`--linked`, backup and push through the supabase CLI, SQL through a connection built
//! from `--db-url` or the link metadata plus `SUPABASE_DB_PASSWORD`). Also the read-only session
//! the checks run in, and drift between local migrations and the target's history.

pub mod backup;
mod drift;
mod identity;
pub mod interrupt;
pub mod interrupted;
mod lock;
pub mod record;
mod session;

use std::{
    path::Path,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
};

use anyhow::{bail, Context};
use sqlx::{postgres::PgConnectOptions, PgConnection};
use url::Url;

pub use drift::{drift, invalid_indexes_check, normalized};
pub use identity::TargetIdentity;
pub use lock::KEY as MIGRATION_LOCK_KEY;
pub use session::Session;

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
    report::{Check, Status},
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
    /// What the first connection said the database is; every later connection must say the same.
    identity: Arc<OnceLock<TargetIdentity>>,
    /// Connections opened to it so far (shared by the clones of this target).
    opened: Arc<AtomicUsize>,
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
            return Ok(Target::direct(url));
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
        Ok(Target { mode: Mode::Linked { project_ref }, url, identity: Default::default(), opened: Default::default() })
    }

    /// A direct target at `url`, not yet connected.
    pub fn direct(url: String) -> Target {
        Target { mode: Mode::Direct, url, identity: Default::default(), opened: Default::default() }
    }

    /// How many connections this run has opened to the target (not counting pg_dump's).
    pub fn connections_opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    /// Which database this is, as it says itself (connecting once if nothing has yet).
    pub async fn identify(&self) -> anyhow::Result<TargetIdentity> {
        if let Some(known) = self.identity.get() {
            return Ok(known.clone());
        }
        drop(self.connect_read_only().await?);
        self.identity.get().cloned().context("the target did not say which database it is")
    }

    /// The identity learnt so far, if any connection was made.
    pub fn known_identity(&self) -> Option<&TargetIdentity> {
        self.identity.get()
    }

    /// Binds a new connection to this target: the first says which database the target is, and
    /// every later one must be that same database (a pooler or DNS that moves a run from one
    /// database to another mid-way stops it).
    async fn bind(&self, conn: &mut PgConnection) -> anyhow::Result<()> {
        self.opened.fetch_add(1, Ordering::Relaxed);
        let now = TargetIdentity::read(conn).await?;
        let first = self.identity.get_or_init(|| now.clone());
        if first != &now {
            bail!(
                "{} is no longer the database this run started on: it was {first}, and a new connection reached {now}; \
                 nothing more is done — check where the URL (or the pooler behind it) leads",
                redact(&self.url)
            );
        }
        Ok(())
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
        let (opts, timeout) = self.options()?;
        let opts = opts.options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", "30s"),
            ("lock_timeout", "2s"),
            ("application_name", "cargo-xtask-readonly"),
        ]);
        let mut conn = crate::pg::connect_within(&self.url, &opts, timeout).await?;
        self.bind(&mut conn).await?;
        Ok(conn)
    }

    /// A session that may write, waiting at most `lock_timeout` for any lock (never forever: a
    /// statement queued behind the app's transactions blocks every read that comes after it).
    pub async fn connect_for_changes(&self, lock_timeout: std::time::Duration) -> anyhow::Result<PgConnection> {
        if lock_timeout.is_zero() {
            bail!("--lock-timeout 0s would wait forever for a lock on production, queueing the app's reads behind it; give a bound such as 2s");
        }
        let lock_timeout = format!("{}ms", lock_timeout.as_millis());
        let (opts, timeout) = self.options()?;
        let opts = opts.options([("lock_timeout", lock_timeout.as_str()), ("application_name", "cargo-xtask")]);
        let mut conn = crate::pg::connect_within(&self.url, &opts, timeout).await?;
        self.bind(&mut conn).await?;
        interrupt::register(&self.url, &mut conn).await?;
        Ok(conn)
    }

    fn options(&self) -> anyhow::Result<(PgConnectOptions, std::time::Duration)> {
        crate::pg::libpq_options(&self.url)
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
