//! `db-clean`: what killed runs left behind (labelled containers, `xtask-pg-*` clusters) whose
//! owner process is gone, and nothing else.

use std::{path::PathBuf, process::Command};

use anyhow::{bail, Context};

use super::{
    discovery::{exe, find_pg_bin},
    CONTAINER_LABEL, OWNER_FILE, OWNER_LABEL,
};

/// Stops and deletes native clusters a killed run left in the temp dir (`xtask-pg-*` only).
/// Returns the folders removed.
pub fn remove_leftover_clusters(all: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return Ok(removed) };
    for entry in entries.flatten() {
        let dir = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("xtask-pg-") || !dir.is_dir() {
            continue;
        }
        let owner: Option<u32> = std::fs::read_to_string(dir.join(OWNER_FILE)).ok().and_then(|p| p.trim().parse().ok());
        // No owner file (yet: a run writes it right after creating the folder) is not a leftover
        // we can be sure of: only --all takes it.
        if !all && owner.is_none_or(process_alive) {
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
