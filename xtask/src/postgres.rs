//! Ephemeral PostgreSQL: one type, three backends (a Docker container through testcontainers,
//! the local server binaries in a temp dir, or a throwaway database on an existing server).
//! Whatever is started is torn down on `close`, on drop (errors, panics) and on Ctrl-C.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use sqlx::{postgres::PgConnectOptions, Connection, PgConnection};
use testcontainers::{
    core::{IntoContainerPort, WaitFor},
    runners::AsyncRunner,
    ContainerAsync, GenericImage, ImageExt,
};
use url::Url;

/// The official image, pinned (never `latest`).
pub const DEFAULT_IMAGE: &str = "postgres:15.8";
/// Every container we start carries this label; `db-clean` removes only containers that have it.
pub const CONTAINER_LABEL: &str = "dev.supabase-xtask.ephemeral";
/// The process that started a container or cluster: while it lives, it is not a leftover.
pub const OWNER_LABEL: &str = "dev.supabase-xtask.owner-pid";
const OWNER_FILE: &str = "owner.pid";
const READY_LINE: &str = "database system is ready to accept connections";
const SUPERUSER: &str = "postgres";

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
}

impl PgOptions {
    pub fn image(&self) -> String {
        self.image
            .clone()
            .or_else(|| std::env::var("XTASK_PG_IMAGE").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| DEFAULT_IMAGE.to_string())
    }
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
            Backend::Native => start_native().await?,
            Backend::Url => start_url(opts).await?,
            Backend::Auto => unreachable!("choose_backend resolves auto"),
        };
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
    let opts = PgConnectOptions::from_str(url).context("parsing the connection URL")?;
    PgConnection::connect_with(&opts).await.with_context(|| format!("connecting to {}", redact(url)))
}

/// The URL with any password replaced by `***`, safe to print.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparsable database URL>".to_string(),
    }
}

/// `text` with the password of every `scheme://user:password@host` in it replaced by `***`.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '\'').unwrap_or(rest.len());
        let authority = &rest[..end];
        match (authority.find('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon + 1]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
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
    match opts.backend.unwrap_or(Backend::Auto) {
        Backend::Docker => Ok((Backend::Docker, format!("--backend docker, image {}", opts.image()))),
        Backend::Native => {
            let bin = find_pg_bin()?;
            Ok((Backend::Native, format!("--backend native, binaries in {}", bin.display())))
        }
        Backend::Url => Ok((Backend::Url, "--backend url: a throwaway database on that server".into())),
        Backend::Auto => {
            if opts.db_url.is_some() {
                return Ok((Backend::Url, "--db-url given: a throwaway database on that server".into()));
            }
            let image = opts.image();
            let docker = docker_status(&image);
            match (&docker, find_pg_bin()) {
                (DockerStatus::Ready, _) => {
                    Ok((Backend::Docker, format!("Docker engine answers and image {image} is present")))
                }
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

enum DockerStatus {
    Ready,
    NoEngine,
    NoImage(String),
}

impl fmt::Display for DockerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerStatus::Ready => f.write_str("Docker is ready"),
            DockerStatus::NoEngine => f.write_str("no Docker engine answered"),
            DockerStatus::NoImage(image) => {
                write!(f, "Docker answers but image {image} is not present and could not be pulled")
            }
        }
    }
}

fn docker_status(image: &str) -> DockerStatus {
    let ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(&["info", "--format", "{{.ServerVersion}}"]) {
        return DockerStatus::NoEngine;
    }
    if ok(&["image", "inspect", image]) {
        return DockerStatus::Ready;
    }
    // A first run on a machine pulls the image: say so, it can take a while.
    eprintln!(":: pulling {image} (only the first run on this machine does this)…");
    if ok(&["pull", "--quiet", image]) {
        DockerStatus::Ready
    } else {
        DockerStatus::NoImage(image.to_string())
    }
}

async fn start_docker(image: &str) -> anyhow::Result<(String, Inner)> {
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    };
    let password = format!("xtask-{}", uuid::Uuid::new_v4().simple());
    // The official image prints the ready line twice: from its init server (stdout), then from
    // the real server (stderr). Waiting for both avoids connecting to the init server.
    let container = GenericImage::new(name, tag)
        .with_exposed_port(5432.tcp())
        .with_wait_for(WaitFor::message_on_stdout(READY_LINE))
        .with_wait_for(WaitFor::message_on_stderr(READY_LINE))
        .with_env_var("POSTGRES_PASSWORD", &password)
        // Throwaway data: initdb need not fsync (the official image passes these to initdb).
        .with_env_var("POSTGRES_INITDB_ARGS", "--no-sync")
        .with_label(CONTAINER_LABEL, "true")
        .with_label(OWNER_LABEL, std::process::id().to_string())
        .with_cmd(["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
        .with_startup_timeout(Duration::from_secs(120))
        .start()
        .await
        .with_context(|| format!("starting a container from image {image}"))?;
    let host = container.get_host().await?.to_string();
    let host = if host == "localhost" { "127.0.0.1".to_string() } else { host };
    let port = container.get_host_port_ipv4(5432).await?;
    let url = format!("postgres://{SUPERUSER}:{password}@{host}:{port}/postgres");
    Ok((url, Inner::Docker(Box::new(container))))
}

/// The newest PostgreSQL server binaries: `PG_BIN`, then `PATH`, then the usual install places.
pub fn find_pg_bin() -> anyhow::Result<PathBuf> {
    let has_server = |dir: &Path| dir.join(exe("initdb")).is_file() && dir.join(exe("pg_ctl")).is_file();
    if let Some(dir) = std::env::var_os("PG_BIN").map(PathBuf::from) {
        if has_server(&dir) {
            return Ok(dir);
        }
        bail!("PG_BIN={} holds no initdb and pg_ctl", dir.display());
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| has_server(d)) {
            // Follow symlinks (/usr/local/bin/initdb -> …/15/bin/initdb) to the full tool set.
            let real = std::fs::canonicalize(dir.join(exe("initdb"))).ok();
            return Ok(real.and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or(dir));
        }
    }
    let patterns = [
        "/usr/lib/postgresql",
        "/usr/local/opt",
        "/opt/homebrew/opt",
        "/Applications/Postgres.app/Contents/Versions",
        "C:\\Program Files\\PostgreSQL",
    ];
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for root in patterns {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let bin = entry.path().join("bin");
            let name = entry.file_name().to_string_lossy().to_string();
            let version: u32 =
                name.trim_start_matches("postgresql@").split('.').next().and_then(|v| v.parse().ok()).unwrap_or(0);
            if has_server(&bin) {
                found.push((version, bin));
            }
        }
    }
    found.sort();
    found.pop().map(|(_, bin)| bin).context(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH, in PG_BIN or in \
         /usr/lib/postgresql/*/bin; install PostgreSQL 15 or set PG_BIN",
    )
}

/// A PostgreSQL client tool (`pg_dump`, `psql`…) from the same installation as the server
/// binaries, else from `PATH`.
pub fn find_pg_tool(name: &str) -> anyhow::Result<PathBuf> {
    if let Ok(bin) = find_pg_bin() {
        if bin.join(exe(name)).is_file() {
            return Ok(bin.join(exe(name)));
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(dir) = std::env::split_paths(&path).find(|d| d.join(exe(name)).is_file()) {
            return Ok(dir.join(exe(name)));
        }
    }
    bail!("{name} was not found; install the PostgreSQL 15 client tools or set PG_BIN")
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// A cluster in a temp dir, started with pg_ctl; stopped and deleted on drop.
struct NativeCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    run_as: Option<RunAs>,
    running: bool,
}

#[derive(Clone, Copy)]
struct RunAs {
    #[cfg_attr(not(unix), allow(dead_code))]
    uid: u32,
    #[cfg_attr(not(unix), allow(dead_code))]
    gid: u32,
}

impl NativeCluster {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(exe(program)));
        cmd.env_remove("PGDATA").env("LC_ALL", "C");
        #[cfg(unix)]
        if let Some(run_as) = self.run_as {
            use std::os::unix::process::CommandExt;
            cmd.uid(run_as.uid).gid(run_as.gid);
        }
        cmd
    }

    fn run(&self, what: &str, mut cmd: Command) -> anyhow::Result<()> {
        let out = cmd.output().with_context(|| format!("running {what}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "{what} failed ({}):\n{}{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    }

    /// An initialised data directory for these binaries, made once per machine (not `xtask-pg-*`,
    /// so db-clean never takes it for a leftover).
    fn template(&self) -> anyhow::Result<PathBuf> {
        let key: String =
            self.bin.display().to_string().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let user = self.run_as.map(|r| r.uid).unwrap_or(0);
        let template = std::env::temp_dir().join(format!("xtask-template-{key}-{user}"));
        if template.join("PG_VERSION").is_file() {
            return Ok(template);
        }
        let building = self.dir.path().join("template");
        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(&building).args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
        self.run("initdb", initdb)?;
        // Another run may have won the race: its template is as good as ours.
        if std::fs::rename(&building, &template).is_err() && !template.join("PG_VERSION").is_file() {
            return Ok(building);
        }
        Ok(template)
    }

    fn stop(mut self) -> anyhow::Result<()> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> anyhow::Result<()> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(self.data()).args(["-m", "immediate", "-w", "stop"]);
        self.run("pg_ctl stop", cmd)
    }
}

impl Drop for NativeCluster {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

async fn start_native() -> anyhow::Result<(String, Inner)> {
    let bin = find_pg_bin()?;
    tokio::task::spawn_blocking(move || start_native_blocking(bin))
        .await
        .context("native backend start was interrupted")?
}

fn start_native_blocking(bin: PathBuf) -> anyhow::Result<(String, Inner)> {
    let dir = tempfile::Builder::new().prefix("xtask-pg-").tempdir().context("creating a temp dir")?;
    std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())
        .context("writing the cluster's owner file")?;
    let run_as = unprivileged_user(dir.path())?;
    let mut cluster = NativeCluster { bin, dir, run_as, running: false };
    let data = cluster.data();

    // initdb once per installation, then a copy per cluster (a few times faster than initdb).
    let template = cluster.template()?;
    copy_tree(&template, &data, run_as).context("copying the initialised data directory")?;

    // Another process may take the port between probing and binding: retry a few times.
    let mut last_err = None;
    for _ in 0..5 {
        let port = free_port()?;
        let mut opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=50"
        );
        if cfg!(unix) {
            opts.push_str(&format!(" -k {}", cluster.dir.path().display()));
        }
        let mut pg_ctl = cluster.command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]);
        match cluster.run("pg_ctl start", pg_ctl) {
            Ok(()) => {
                cluster.running = true;
                let url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
                return Ok((url, Inner::Native(cluster)));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("pg_ctl start failed")))
}

/// Copies a directory tree, giving it to `owner` when we run as root; the top stays 0700 as
/// PostgreSQL requires.
fn copy_tree(from: &Path, to: &Path, owner: Option<RunAs>) -> anyhow::Result<()> {
    std::fs::create_dir(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target, owner)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            give(&target, owner)?;
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))?;
    }
    give(to, owner)
}

fn give(path: &Path, owner: Option<RunAs>) -> anyhow::Result<()> {
    #[cfg(unix)]
    if let Some(o) = owner {
        use nix::unistd::{chown, Gid, Uid};
        chown(path, Some(Uid::from_raw(o.uid)), Some(Gid::from_raw(o.gid)))?;
    }
    #[cfg(not(unix))]
    let _ = (path, owner);
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// PostgreSQL refuses to run as root: when we are root (as in CI containers), run the server as
/// `postgres` (or `nobody`) and give that user the temp dir.
#[cfg(unix)]
fn unprivileged_user(dir: &Path) -> anyhow::Result<Option<RunAs>> {
    use nix::unistd::{chown, Uid, User};
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let user = ["postgres", "nobody"]
        .iter()
        .find_map(|name| User::from_name(name).ok().flatten())
        .context("running as root and no 'postgres' or 'nobody' user exists to run the server as")?;
    chown(dir, Some(user.uid), Some(user.gid))
        .with_context(|| format!("giving {} to user {}", dir.display(), user.name))?;
    Ok(Some(RunAs { uid: user.uid.as_raw(), gid: user.gid.as_raw() }))
}

#[cfg(not(unix))]
fn unprivileged_user(_dir: &Path) -> anyhow::Result<Option<RunAs>> {
    Ok(None)
}

/// A uniquely named database on an existing server, dropped afterwards.
struct ThrowawayDatabase {
    admin_url: String,
    name: String,
}

impl ThrowawayDatabase {
    async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = connect(&self.admin_url).await?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
            .execute(&mut conn)
            .await
            .with_context(|| format!("dropping throwaway database {}", self.name))?;
        Ok(())
    }
}

async fn start_url(opts: &PgOptions) -> anyhow::Result<(String, Inner)> {
    let admin_url = opts
        .db_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()))
        .context("--backend url needs --db-url URL or DATABASE_URL")?;
    let mut url = Url::parse(&admin_url).context("parsing --db-url (expected postgres://…)")?;
    let name = format!("xtask_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut conn = connect(&admin_url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating throwaway database {name} on {}", redact(&admin_url)))?;
    url.set_path(&format!("/{name}"));
    Ok((url.to_string(), Inner::Url(ThrowawayDatabase { admin_url, name })))
}

/// Stops and deletes native clusters a killed run left in the temp dir (`xtask-pg-*` only).
/// Returns the folders removed.
pub fn remove_leftover_clusters(all: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return Ok(removed) };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("xtask-pg-") {
            continue;
        }
        let owner = std::fs::read_to_string(dir.join(OWNER_FILE)).ok().and_then(|p| p.trim().parse().ok());
        if !all && owner.is_some_and(process_alive) {
            continue;
        }
        let data = dir.join("data");
        if data.join("postmaster.pid").is_file() {
            if let Ok(bin) = find_pg_bin() {
                // Best effort: the server may already be gone; the folder goes either way.
                let mut cmd = Command::new(bin.join(exe("pg_ctl")));
                cmd.arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]);
                #[cfg(unix)]
                if let Ok(meta) = std::fs::metadata(&data) {
                    use std::os::unix::{fs::MetadataExt, process::CommandExt};
                    cmd.uid(meta.uid()).gid(meta.gid());
                }
                let _ = cmd.output();
            }
        }
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        removed.push(dir);
    }
    Ok(removed)
}

/// Whether process `pid` still runs on this machine (where we cannot tell: yes).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        use nix::{errno::Errno, sys::signal::kill, unistd::Pid};
        let Ok(pid) = i32::try_from(pid) else { return false };
        !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// Removes containers carrying our label whose owner process is gone (with `all`, every one
/// carrying it), and nothing else. Returns the ids removed.
pub fn remove_labelled_containers(all: bool) -> anyhow::Result<Vec<String>> {
    let out = Command::new("docker")
        .args(["ps", "-a", "--filter", &format!("label={CONTAINER_LABEL}")])
        .args(["--format", &format!("{{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}")])
        .output()
        .context("running `docker ps`; is Docker installed?")?;
    if !out.status.success() {
        bail!("`docker ps` failed: {}; is the Docker engine running?", String::from_utf8_lossy(&out.stderr).trim());
    }
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let id = parts.next()?.to_string();
            let owner = parts.next().and_then(|p| p.parse::<u32>().ok());
            (all || !owner.is_some_and(process_alive)).then_some(id)
        })
        .collect();
    if !ids.is_empty() {
        let rm = Command::new("docker").args(["rm", "-f", "-v"]).args(&ids).output().context("running `docker rm`")?;
        if !rm.status.success() {
            bail!("`docker rm` failed: {}", String::from_utf8_lossy(&rm.stderr).trim());
        }
    }
    Ok(ids)
}
