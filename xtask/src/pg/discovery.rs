//! Where the PostgreSQL binaries are: `PG_BIN`, `PATH`, then the usual install places.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// The newest PostgreSQL server binaries: `PG_BIN`, then `PATH`, then the usual install places.
pub fn find_pg_bin() -> anyhow::Result<PathBuf> {
    find_pg_bin_for(None)
}

/// As [`find_pg_bin`], but among the usual install places those of `major` first (the project's
/// `[db] major_version`); `PG_BIN` and `PATH` are the user's choice and win.
pub fn find_pg_bin_for(major: Option<u32>) -> anyhow::Result<PathBuf> {
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
    pick(found, major).context(
        "no PostgreSQL server binaries (initdb, pg_ctl) on PATH, in PG_BIN or in \
         /usr/lib/postgresql/*/bin; install PostgreSQL 15 or set PG_BIN",
    )
}

/// The install of `major` if there is one, else the newest.
fn pick(mut found: Vec<(u32, PathBuf)>, major: Option<u32>) -> Option<PathBuf> {
    found.sort_by_key(|(version, _)| (Some(*version) == major, *version));
    found.pop().map(|(_, bin)| bin)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_major_is_preferred_else_the_newest() {
        let found = || vec![(15, PathBuf::from("15")), (17, PathBuf::from("17")), (16, PathBuf::from("16"))];
        let cases = [(None, Some("17")), (Some(15), Some("15")), (Some(17), Some("17")), (Some(14), Some("17"))];
        for (major, want) in cases {
            assert_eq!(pick(found(), major), want.map(PathBuf::from), "{major:?}");
        }
        assert_eq!(pick(Vec::new(), Some(15)), None);
    }
}
