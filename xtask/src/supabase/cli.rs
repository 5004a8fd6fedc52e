//! The supabase CLI, wrapped with xshell for linked mode: backup (`db dump`), push (`db push`),
//! history (`migration list`, `migration repair`). Every invocation is printed before it runs;
//! the CLI reads the database password from `SUPABASE_DB_PASSWORD`, never from its arguments.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use xshell::Shell;

pub fn ensure_installed() -> anyhow::Result<()> {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p).any(|d| d.join(format!("supabase{}", std::env::consts::EXE_SUFFIX)).is_file())
        })
        .unwrap_or(false);
    if !found {
        bail!(
            "--linked needs the supabase CLI, which was not found on PATH; install it \
             (https://supabase.com/docs/guides/cli) or use direct mode with --db-url"
        );
    }
    Ok(())
}

pub struct SupabaseCli {
    sh: Shell,
    /// The folder that holds `supabase/` (the CLI's `--workdir`).
    workdir: PathBuf,
    /// A workdir of our own, when the project folder is not named `supabase` (removed on drop).
    _staged: Option<tempfile::TempDir>,
}

impl SupabaseCli {
    /// The CLI for the project in `supabase_dir`. The CLI reads `<workdir>/supabase`, whatever
    /// folder it was meant for: a project folder named otherwise runs from a copy under that name,
    /// never from its parent (whose own `supabase/`, if any, is another project).
    pub fn new(supabase_dir: &Path) -> anyhow::Result<SupabaseCli> {
        ensure_installed()?;
        let dir =
            std::fs::canonicalize(supabase_dir).with_context(|| format!("resolving {}", supabase_dir.display()))?;
        let own_parent = dir.parent().filter(|_| dir.file_name().is_some_and(|n| n == "supabase"));
        if let Some(parent) = own_parent {
            return Ok(SupabaseCli { sh: Shell::new()?, workdir: parent.to_path_buf(), _staged: None });
        }
        let staged = tempfile::Builder::new().prefix("xtask-cli-workdir-").tempdir().context("creating a workdir")?;
        copy_tree(&dir, &staged.path().join("supabase"), &|_| true)
            .with_context(|| format!("copying {} into a workdir for the supabase CLI", dir.display()))?;
        Ok(SupabaseCli { sh: Shell::new()?, workdir: staged.path().to_path_buf(), _staged: Some(staged) })
    }

    /// Runs `supabase <args> --workdir <dir>`; a non-zero exit is an error carrying its stderr.
    fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let shown = format!("supabase {}", args.join(" "));
        eprintln!("$ {shown}");
        let workdir = self.workdir.display().to_string();
        let out = self
            .sh
            .cmd("supabase")
            .args(args)
            .args(["--workdir", workdir.as_str()])
            .ignore_status()
            .output()
            .with_context(|| format!("running `{shown}`"))?;
        if !out.status.success() {
            bail!("`{shown}` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }

    /// The three files of a full backup, as Supabase's backup guide takes them.
    pub fn dump(&self, roles: &Path, schema: &Path, data: &Path) -> anyhow::Result<()> {
        let p = |p: &Path| p.display().to_string();
        self.run(&["db", "dump", "--linked", "-f", &p(roles), "--role-only"])?;
        self.run(&["db", "dump", "--linked", "-f", &p(schema)])?;
        self.run(&["db", "dump", "--linked", "-f", &p(data), "--use-copy", "--data-only"])?;
        Ok(())
    }

    pub fn push(&self) -> anyhow::Result<String> {
        self.run(&["db", "push", "--linked", "--yes"])
    }

    pub fn migration_list(&self) -> anyhow::Result<String> {
        self.run(&["migration", "list", "--linked"])
    }

    pub fn repair_reverted(&self, version: &str) -> anyhow::Result<String> {
        self.run(&["migration", "repair", "--status", "reverted", version, "--linked", "--yes"])
    }
}

/// Copies the tree at `from` into `to`, keeping the paths (relative to `from`) `keep` accepts.
pub fn copy_tree(from: &Path, to: &Path, keep: &dyn Fn(&Path) -> bool) -> std::io::Result<()> {
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        std::fs::create_dir_all(to.join(&rel))?;
        for entry in std::fs::read_dir(from.join(&rel))? {
            let entry = entry?;
            let child = rel.join(entry.file_name());
            if !keep(&child) {
                continue;
            }
            if entry.file_type()?.is_dir() {
                stack.push(child);
            } else {
                std::fs::copy(entry.path(), to.join(&child))?;
            }
        }
    }
    Ok(())
}
