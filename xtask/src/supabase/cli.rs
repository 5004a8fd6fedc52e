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
}

impl SupabaseCli {
    pub fn new(supabase_dir: &Path) -> anyhow::Result<SupabaseCli> {
        ensure_installed()?;
        let dir =
            std::fs::canonicalize(supabase_dir).with_context(|| format!("resolving {}", supabase_dir.display()))?;
        let workdir = dir.parent().map(Path::to_path_buf).unwrap_or(dir);
        Ok(SupabaseCli { sh: Shell::new()?, workdir })
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
