//! The native backend: a cluster in a temp dir from the local binaries (initdb once into a
//! template, a copy per cluster), run as `postgres` when we are root; stopped and deleted on drop.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context};

use super::{
    discovery::{exe, find_pg_bin_for},
    Inner, OWNER_FILE, SUPERUSER,
};

/// A cluster in a temp dir, started with pg_ctl; stopped and deleted on drop.
pub(super) struct NativeCluster {
    bin: PathBuf,
    pub(super) dir: tempfile::TempDir,
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
        // The superuser's name is part of the key: a template from before it changed is not reused.
        let template = std::env::temp_dir().join(format!("xtask-template-{key}-{user}-{SUPERUSER}"));
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

    /// TCP asks for a password only this run knows (set in single-user mode, before the server
    /// listens); the socket, for the server's own tools, lives in this cluster's private 0700
    /// directory. Never `trust` over TCP: any local user could read what a restore put there.
    fn admit_only_us(&self, password: &str) -> anyhow::Result<()> {
        let hba = self.data().join("pg_hba.conf");
        std::fs::write(
            &hba,
            "# written by xtask for this ephemeral cluster\n\
             local all all trust\n\
             host all all 127.0.0.1/32 scram-sha-256\n\
             host all all ::1/128 scram-sha-256\n",
        )
        .with_context(|| format!("writing {}", hba.display()))?;
        give(&hba, self.run_as)?;
        let mut single = self.command("postgres");
        single
            .arg("--single")
            .arg("-D")
            .arg(self.data())
            .args(["-c", "password_encryption=scram-sha-256", "postgres"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = single.spawn().context("running postgres --single to set the password")?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            writeln!(stdin, "ALTER ROLE {SUPERUSER} PASSWORD '{password}';").context("setting the password")?;
        }
        let out = child.wait_with_output().context("running postgres --single")?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || stderr.contains("ERROR") {
            bail!("setting the ephemeral cluster's password failed ({}): {stderr}", out.status);
        }
        Ok(())
    }

    pub(super) fn stop(mut self) -> anyhow::Result<()> {
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

pub(super) async fn start_native(major: Option<u32>) -> anyhow::Result<(String, Inner)> {
    let bin = find_pg_bin_for(major)?;
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
    // The cluster may hold restored password hashes and data: no other local user reaches it.
    let password = uuid::Uuid::new_v4().simple().to_string();
    cluster.admit_only_us(&password)?;

    // Another process may take the port between probing and binding: retry a few times.
    let mut last_err = None;
    for _ in 0..5 {
        let port = free_port()?;
        let mut opts = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=50 -c wal_level=logical"
        );
        if let Some(preload) = preload_libraries(&cluster.bin) {
            opts.push_str(&preload);
        }
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
                let url = format!("postgres://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres");
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

/// Extensions that only work when the server preloads them (as Supabase's does), among those
/// this installation has: the `-c` options that load them.
fn preload_libraries(bin: &Path) -> Option<String> {
    let lib = bin.parent()?.join("lib");
    let present: Vec<&str> = ["pg_stat_statements", "pg_cron"]
        .into_iter()
        .filter(|name| lib.join(format!("{name}.so")).is_file() || lib.join(format!("{name}.dylib")).is_file())
        .collect();
    if present.is_empty() {
        return None;
    }
    let mut opts = format!(" -c shared_preload_libraries={}", present.join(","));
    if present.contains(&"pg_cron") {
        opts.push_str(" -c cron.database_name=postgres");
    }
    Some(opts)
}
