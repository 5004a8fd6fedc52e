//! Where the PostgreSQL binaries are: `PG_BIN`, `PATH`, then the usual install places.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

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

pub(super) fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}
