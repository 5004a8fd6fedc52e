//! Ephemeral PostgreSQL: one type, three backends (a Docker container through testcontainers,
//! the local server binaries in a temp dir, or a throwaway database on an existing server).
//! Whatever is started is torn down on `close`, on drop (errors, panics) and on Ctrl-C.

mod discovery;
mod docker;
mod leftovers;
mod native;
mod redact;
mod url_db;

use std::{
    fmt,
    path::PathBuf,
    str::FromStr,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use sqlx::{postgres::PgConnectOptions, Connection, PgConnection};
use testcontainers::{ContainerAsync, GenericImage};

pub use discovery::{find_pg_bin, find_pg_bin_for, find_pg_tool};
pub use leftovers::{process_alive, remove_labelled_containers, remove_leftover_clusters};
pub use redact::{has_password, redact, redact_text};

pub use docker::is_supabase_image;
use docker::{docker_status, start_docker, DockerStatus};
use native::{start_native, NativeCluster};
use url_db::{start_url, ThrowawayDatabase};

/// Supabase's own database image for a Postgres major, at the tag the Supabase CLI pins (so the
/// one `supabase start` already pulled): supabase/cli `apps/cli-go/pkg/config/constants.go` and
/// `templates/Dockerfile` at 1d1e719 (2026-06-01); 13 and 14 as the CLI's `pg13Image`/`pg14Image`.
/// A major the CLI has no image for (16) gets 15's, which the major check then refuses. The official `postgres` image only when asked.
pub fn default_image(major: Option<u32>) -> &'static str {
    match major {
        Some(13) => "supabase/postgres:13.3.0",
        Some(14) => "supabase/postgres:14.1.0.89",
        Some(17) => "supabase/postgres:17.6.1.132",
        _ => "supabase/postgres:15.8.1.085",
    }
}
/// Every container we start carries this label; `db-clean` removes only containers that have it.
pub const CONTAINER_LABEL: &str = "dev.supabase-xtask.ephemeral";
/// The process that started a container or cluster: while it lives, it is not a leftover.
pub const OWNER_LABEL: &str = "dev.supabase-xtask.owner-pid";
const OWNER_FILE: &str = "owner.pid";
const READY_LINE: &str = "database system is ready to accept connections";
/// The bootstrap superuser, named as on the platform: `postgres` is created by the Supabase
/// layer as the non-superuser migration role hosted Supabase has.
pub const SUPERUSER: &str = "supabase_admin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Docker if an engine answers and the image is present or can be pulled, else native.
    Auto,
    /// A container from `--image` (testcontainers).
    Docker,
    /// PostgreSQL server binaries on this machine (initdb + pg_ctl in a temp dir).
    Native,
    /// A throwaway database on the server at `--db-url` / `DATABASE_URL`.
    Url,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Auto => "auto",
            Backend::Docker => "docker",
            Backend::Native => "native",
            Backend::Url => "url",
        })
    }
}

/// How to get a Postgres: the flags every database command shares.
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    pub backend: Option<Backend>,
    pub image: Option<String>,
    pub db_url: Option<String>,
    /// The url backend may make its throwaway database on the server of the target it restores
    /// or tests for (`--restore-on-target-server`): refused unless asked.
    pub on_target_server: bool,
    /// A local run may use another major than the project's `[db] major_version`.
    pub other_major: bool,
    /// The project's `[db] major_version`: which image and which native binaries to prefer.
    pub major: Option<u32>,
}

impl PgOptions {
    /// The server a url backend would make its throwaway database on (`--db-url`, else
    /// `DATABASE_URL` with `--backend url`); `None` for the other backends.
    pub fn url_server(&self) -> Option<String> {
        match self.backend {
            Some(Backend::Url) => {
                self.db_url.clone().or_else(|| std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()))
            }
            Some(Backend::Auto) | None => self.db_url.clone(),
            _ => None,
        }
    }

    pub fn image(&self) -> String {
        self.image
            .clone()
            .or_else(|| std::env::var("XTASK_PG_IMAGE").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| default_image(self.major).to_string())
    }
}

/// How many ephemeral servers this process started (an interrupt says whether it removed any).
static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// `name` as an SQL identifier, quoted when it has to be.
pub fn quote_ident(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Whether this process started an ephemeral Postgres (each is removed on drop).
pub fn started_any() -> bool {
    STARTED.load(std::sync::atomic::Ordering::Relaxed) > 0
}

pub struct EphemeralPostgres {
    url: String,
    backend: Backend,
    reason: String,
    inner: Option<Inner>,
}

/// What a backend leaves on the machine while it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Footprint {
    Container(String),
    Dir(PathBuf),
    Database(String),
    None,
}

enum Inner {
    Docker(Box<ContainerAsync<GenericImage>>),
    Native(NativeCluster),
    Url(ThrowawayDatabase),
}

impl EphemeralPostgres {
    /// Starts (or creates) a Postgres that accepts queries, choosing the backend as asked.
    pub async fn start(opts: &PgOptions) -> anyhow::Result<EphemeralPostgres> {
        let (backend, reason) = choose_backend(opts)?;
        let started = Instant::now();
        let (url, inner) = match backend {
            Backend::Docker => start_docker(&opts.image()).await?,
            Backend::Native => start_native(opts.major).await?,
            Backend::Url => start_url(opts).await?,
            Backend::Auto => unreachable!("choose_backend resolves auto"),
        };
        STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pg = EphemeralPostgres { url, backend, reason, inner: Some(inner) };
        wait_until_queryable(&pg.url, Duration::from_secs(60))
            .await
            .with_context(|| format!("{backend} Postgres did not accept queries after {:?}", started.elapsed()))?;
        Ok(pg)
    }

    /// Connection URL of the superuser (the database owner for the url backend).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What to look for to prove teardown: the container id or the cluster's temp dir.
    pub fn footprint(&self) -> Footprint {
        match &self.inner {
            Some(Inner::Docker(c)) => Footprint::Container(c.id().to_string()),
            Some(Inner::Native(n)) => Footprint::Dir(n.dir.path().to_path_buf()),
            Some(Inner::Url(t)) => Footprint::Database(t.name.clone()),
            None => Footprint::None,
        }
    }

    /// One line: which backend and why it was chosen.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        connect(&self.url).await
    }

    /// Orderly teardown; drop does the same on error paths.
    pub async fn close(mut self) -> anyhow::Result<()> {
        match self.inner.take() {
            Some(Inner::Docker(c)) => c.rm().await.context("removing the Postgres container")?,
            Some(Inner::Native(n)) => n.stop()?,
            Some(Inner::Url(t)) => t.drop_database().await?,
            None => {}
        }
        Ok(())
    }
}

impl Drop for EphemeralPostgres {
    fn drop(&mut self) {
        match self.inner.take() {
            // The container removes itself on drop; native clusters stop in their own Drop.
            Some(Inner::Docker(c)) => drop(c),
            Some(Inner::Native(n)) => drop(n),
            Some(Inner::Url(t)) => {
                // Drop cannot await: finish on a thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        let _ = rt.block_on(t.drop_database());
                    }
                })
                .join();
            }
            None => {}
        }
    }
}

pub async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let (opts, timeout) = libpq_options(url)?;
    connect_within(url, &opts, timeout).await
}

/// How long a connect may take when the URL gives no `connect_timeout` (libpq waits forever: a
/// silent listener would hang the tool).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The URL read as libpq reads it, where sqlx differs: `sslmode=require` with a root certificate
/// (`sslrootcert`, or PGSSLROOTCERT) verifies the server's CA, as libpq does for compatibility;
/// `connect_timeout` (seconds) bounds the connect, [`DEFAULT_CONNECT_TIMEOUT`] without one.
pub fn libpq_options(url: &str) -> anyhow::Result<(PgConnectOptions, Duration)> {
    let opts = PgConnectOptions::from_str(url).map_err(|_| anyhow::anyhow!("cannot parse {}", redact(url)))?;
    let parsed = url::Url::parse(url).ok();
    let param =
        |key: &str| parsed.as_ref().and_then(|u| u.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.to_string()));
    let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
    let mode = param("sslmode").or_else(|| env("PGSSLMODE"));
    let root = param("sslrootcert").or_else(|| env("PGSSLROOTCERT"));
    let opts = if mode.as_deref() == Some("require") && root.is_some() {
        opts.ssl_mode(sqlx::postgres::PgSslMode::VerifyCa)
    } else {
        opts
    };
    let timeout = match param("connect_timeout").or_else(|| env("PGCONNECT_TIMEOUT")) {
        // libpq: zero or negative waits forever, and anything under 2 s counts as 2 s.
        Some(t) => match t.trim().parse::<i64>() {
            Ok(n) if n <= 0 => Duration::MAX,
            Ok(n) => Duration::from_secs(n.max(2) as u64),
            Err(_) => bail!("connect_timeout={t} in {} is not a whole number of seconds", redact(url)),
        },
        None => DEFAULT_CONNECT_TIMEOUT,
    };
    Ok((opts, timeout))
}

/// Connects, giving up after `timeout` with an error that says what to check.
pub async fn connect_within(url: &str, opts: &PgConnectOptions, timeout: Duration) -> anyhow::Result<PgConnection> {
    let connect = PgConnection::connect_with(opts);
    let conn = if timeout == Duration::MAX {
        connect.await
    } else {
        match tokio::time::timeout(timeout, connect).await {
            Ok(result) => result,
            Err(_) => bail!(
                "connecting to {}: no answer within {} s (connect_timeout); check the host and port, or give \
                 ?connect_timeout=<seconds> in the URL",
                redact(url),
                timeout.as_secs()
            ),
        }
    };
    conn.with_context(|| format!("connecting to {}", redact(url)))
}

async fn wait_until_queryable(url: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let attempt = async {
            let mut conn = connect(url).await?;
            sqlx::query_scalar::<_, i32>("select 1").fetch_one(&mut conn).await?;
            conn.close().await?;
            anyhow::Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn choose_backend(opts: &PgOptions) -> anyhow::Result<(Backend, String)> {
    let (backend, reason) = choose(opts)?;
    // A flag the chosen backend would ignore is a mistake to say, not to skip.
    if opts.image.is_some() && backend != Backend::Docker {
        bail!("--image applies to the docker backend, and this run uses {backend} ({reason}); drop --image or make Docker available");
    }
    if opts.db_url.is_some() && backend != Backend::Url {
        bail!("--db-url applies to the url backend, and this run asked for --backend {backend}; drop one of them");
    }
    Ok((backend, reason))
}

fn choose(opts: &PgOptions) -> anyhow::Result<(Backend, String)> {
    match opts.backend.unwrap_or(Backend::Auto) {
        Backend::Docker => {
            let image = opts.image();
            Ok((Backend::Docker, format!("--backend docker, image {image} ({})", docker::image_kind(&image))))
        }
        Backend::Native => {
            let bin = find_pg_bin_for(opts.major)?;
            Ok((Backend::Native, format!("--backend native, binaries in {}", bin.display())))
        }
        Backend::Url => Ok((Backend::Url, "--backend url: a throwaway database on that server".into())),
        Backend::Auto => {
            if opts.db_url.is_some() {
                return Ok((Backend::Url, "--db-url given: a throwaway database on that server".into()));
            }
            let image = opts.image();
            let docker = docker_status(&image);
            match (&docker, find_pg_bin_for(opts.major)) {
                (DockerStatus::Ready, _) => Ok((
                    Backend::Docker,
                    format!("Docker engine answers and image {image} is present ({})", docker::image_kind(&image)),
                )),
                (why, Ok(bin)) => {
                    Ok((Backend::Native, format!("{why}; using PostgreSQL binaries in {}", bin.display())))
                }
                (why, Err(_)) => bail!(
                    "{why}, and no PostgreSQL server binaries (initdb, pg_ctl) were found on PATH, \
                     in PG_BIN or in /usr/lib/postgresql/*/bin; install Docker or PostgreSQL 15, \
                     or pass --db-url to use an existing server"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_as_libpq_reads_them() {
        let timeout = |url: &str| libpq_options(url).map(|(_, t)| t).map_err(|e| e.to_string());
        assert_eq!(timeout("postgres://u@h/db"), Ok(DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(timeout("postgres://u@h/db?connect_timeout=30"), Ok(Duration::from_secs(30)));
        assert_eq!(timeout("postgres://u@h/db?connect_timeout=1"), Ok(Duration::from_secs(2)), "libpq's minimum");
        assert_eq!(timeout("postgres://u@h/db?connect_timeout=0"), Ok(Duration::MAX), "libpq: wait forever");
        assert!(timeout("postgres://u:pw@h/db?connect_timeout=soon").is_err_and(|e| !e.contains("pw@")));
    }

    #[test]
    fn a_flag_the_chosen_backend_would_ignore_is_an_error() {
        let url_with_image = PgOptions {
            on_target_server: false,
            other_major: false,
            major: None,
            backend: Some(Backend::Url),
            image: Some("postgres:15.8".into()),
            db_url: Some("postgres://h/db".into()),
        };
        let err = choose_backend(&url_with_image).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--image applies to the docker backend"), "{err}");
        let docker_with_url = PgOptions {
            backend: Some(Backend::Docker),
            image: None,
            db_url: Some("postgres://h/db".into()),
            on_target_server: false,
            other_major: false,
            major: None,
        };
        let err = choose_backend(&docker_with_url).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--db-url applies to the url backend"), "{err}");
        let fine = PgOptions {
            backend: Some(Backend::Docker),
            image: Some("postgres:15.8".into()),
            db_url: None,
            on_target_server: false,
            other_major: false,
            major: None,
        };
        assert!(choose_backend(&fine).is_ok());
    }
}
