//! Backups hold `auth.users` (password hashes) and every row: their folders are 0700 and their
//! files 0600 from the moment they exist, and no two backups share a folder.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// A new folder under `root` only its owner can read (backups hold `auth.users` and every row),
/// named `name`, or `name-2`, `name-3`… when another backup took that name first.
pub(super) fn private_dir(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if !root.exists() {
        private_builder().recursive(true).create(root).with_context(|| format!("creating {}", root.display()))?;
    }
    for n in 1..1000 {
        let dir = if n == 1 { root.join(name) } else { root.join(format!("{name}-{n}")) };
        match private_builder().create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("could not find a free backup folder name under {}", root.display())
}

fn private_builder() -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
}

/// Writes `path` readable by its owner only (0600).
pub(super) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    // A file that existed before keeps its old mode through open(): set it.
    make_private(path)
}

pub(super) fn make_private(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("making {} private", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Whether `root` (a backups folder) would be committed: inside a git work tree and not ignored.
/// `Some((repository top, root relative to it))` when it would.
pub(super) fn tracked_by_git(root: &Path) -> Option<(PathBuf, String)> {
    let git = |args: &[&str]| std::process::Command::new("git").args(args).current_dir(root).output().ok();
    let top = git(&["rev-parse", "--show-toplevel"]).filter(|o| o.status.success())?;
    let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
    // check-ignore exits 0 when ignored, 1 when not.
    let ignored = git(&["check-ignore", "-q", "."]).is_some_and(|o| o.status.success());
    if ignored {
        return None;
    }
    let root = std::fs::canonicalize(root).ok()?;
    let top = std::fs::canonicalize(&top).ok()?;
    let rel = root.strip_prefix(&top).ok()?.to_string_lossy().replace('\\', "/");
    Some((top, format!("/{rel}/")))
}

/// Appends `pattern` to `<top>/.gitignore`.
pub(super) fn ignore_in_git(top: &Path, pattern: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let path = top.join(".gitignore");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    writeln!(file, "\n# database backups (password hashes and every row): never committed\n{pattern}")
        .with_context(|| format!("writing {}", path.display()))
}
