//! Adoption by another repository: `supabase-xtask`, installed with `cargo install` from this
//! workspace, run in a project folder outside it — the lint as JUnit for the CI, and the main job.

use std::{path::Path, process::Command};

use crate::support::any_backend;

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Installs `supabase-xtask` into `root` as `cargo install` does, reusing this workspace's target
/// directory (a fresh one would rebuild every dependency); its path.
fn install(root: &Path) -> std::path::PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let meta = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&workspace)
        .output()
        .expect("metadata");
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).expect("metadata json");
    let target = meta["target_directory"].as_str().expect("target dir").to_string();
    let out = cargo()
        .args(["install", "--debug", "--locked", "--offline", "--quiet", "--path"])
        .arg(workspace.join("supabase-xtask"))
        .arg("--root")
        .arg(root)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo install");
    assert!(out.status.success(), "cargo install: {}", String::from_utf8_lossy(&out.stderr));
    root.join("bin").join(format!("supabase-xtask{}", std::env::consts::EXE_SUFFIX))
}

#[test]
fn the_installed_binary_lints_and_tests_a_project_outside_this_repository() {
    let root = tempfile::tempdir().expect("tmp");
    let bin = install(root.path());
    let project = tempfile::tempdir().expect("tmp");
    let write = |rel: &str, text: &str| {
        let path = project.path().join("supabase").join(rel);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "migrations/20250101000000_notes.sql",
        "create table public.notes (id bigint primary key, owner uuid references auth.users (id), body text);\n\
         alter table public.notes enable row level security;\n",
    );
    write("migrations/20250102000000_index.sql", "create index notes_owner on public.notes (owner);\n");
    write("rollbacks/20250102000000_index.sql", "drop index concurrently if exists public.notes_owner;\n");

    // The lint, as a CI job reads it: JUnit on stdout, exit 1 for the plain CREATE INDEX.
    let out =
        Command::new(&bin).args(["db-lint", "--format", "junit"]).current_dir(project.path()).output().expect("run");
    let xml = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{xml}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        xml.starts_with("<?xml") && xml.contains("<failure message=\"static rule require-concurrent-index-creation\">"),
        "{xml}"
    );

    // Fixed as squawk says, the main job passes on that project.
    write("migrations/20250102000000_index.sql", "create index concurrently notes_owner on public.notes (owner);\n");
    let backend = any_backend().to_string();
    let out = Command::new(&bin)
        .args(["db-local-test", "--backend", &backend, "--json", "report.json"])
        .current_dir(project.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("PASS pending.apply.20250102000000"), "{stdout}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.path().join("report.json")).expect("json"))
            .expect("parses");
    assert_eq!(report["command"], "db-local-test");
}
