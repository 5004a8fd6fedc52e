//! Shared test helpers: which backends to exercise, a copy of our supabase/ folder to alter, and
//! running a command into a quiet report.

use std::path::{Path, PathBuf};

use xtask::{
    flags::{Data, DbLocalTest, Pg, Project},
    pg::{Backend, EphemeralPostgres, PgOptions},
    report::{Report, Status},
};

/// The backends this run exercises. With `XTASK_REQUIRE_BACKENDS` set (CI sets
/// `docker,native`), an unavailable backend is a failure, never a silent skip; otherwise the run
/// says which backend it skipped and why.
pub fn backends() -> Vec<Backend> {
    let required = std::env::var("XTASK_REQUIRE_BACKENDS").unwrap_or_default();
    let mut out = Vec::new();
    for (backend, available) in [(Backend::Native, native_available()), (Backend::Docker, docker_available())] {
        match available {
            Ok(()) => out.push(backend),
            Err(why) if required.contains(&backend.to_string()) => {
                panic!("backend {backend} is required by XTASK_REQUIRE_BACKENDS but unavailable: {why}")
            }
            Err(why) => eprintln!("note: skipping the {backend} backend in this test: {why}"),
        }
    }
    assert!(!out.is_empty(), "no backend available: install PostgreSQL 15 or Docker");
    out
}

fn native_available() -> Result<(), String> {
    xtask::pg::find_pg_bin().map(drop).map_err(|e| format!("{e:#}"))
}

fn docker_available() -> Result<(), String> {
    let image = PgOptions::default().image();
    let ok = |args: &[&str]| std::process::Command::new("docker").args(args).output().is_ok_and(|o| o.status.success());
    if !ok(&["info"]) {
        return Err("no Docker engine answers".into());
    }
    if !ok(&["image", "inspect", &image]) {
        return Err(format!("image {image} is not present (set XTASK_PG_IMAGE)"));
    }
    Ok(())
}

/// The first available backend, for tests about behaviour rather than backends.
pub fn any_backend() -> Backend {
    backends()[0]
}

pub async fn start(backend: Backend) -> EphemeralPostgres {
    EphemeralPostgres::start(&PgOptions { backend: Some(backend), ..PgOptions::default() })
        .await
        .unwrap_or_else(|e| panic!("starting {backend}: {e:#}"))
}

/// The repository's own supabase/ folder.
pub fn our_supabase_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("supabase")
}

/// A temp copy of our supabase/ folder that a test may change.
pub struct ProjectCopy {
    pub dir: tempfile::TempDir,
}

impl ProjectCopy {
    pub fn new() -> ProjectCopy {
        let dir = tempfile::tempdir().expect("temp dir");
        copy_dir(&our_supabase_dir(), &dir.path().join("supabase"));
        ProjectCopy { dir }
    }

    /// An empty project folder with only what the test writes.
    pub fn empty() -> ProjectCopy {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("supabase/migrations")).expect("mkdir");
        ProjectCopy { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("supabase")
    }

    pub fn write(&self, rel: &str, text: &str) -> &ProjectCopy {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).expect("read")
    }

    /// Rewrites a file with a text replacement that must match.
    pub fn edit(&self, rel: &str, from: &str, to: &str) -> &ProjectCopy {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replace(from, to))
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            if entry.file_name() == ".temp" || entry.file_name() == ".branches" {
                continue;
            }
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// db-local-test flags on `dir` with small data.
pub fn local_test(dir: &Path, backend: Backend) -> DbLocalTest {
    DbLocalTest {
        project: Project { supabase_dir: dir.to_path_buf(), json: None },
        pg: Pg { backend, image: None, db_url: None, other_major: false },
        data: Data { users: 6, conversations_per_user: 2, messages_per_conversation: 5, seed: 1 },
        pending: Default::default(),
        batch: Default::default(),
    }
}

pub async fn run_local_test(dir: &Path, backend: Backend) -> Report {
    let mut report = Report::quiet("db-local-test");
    local_test(dir, backend).run_into(&mut report).await.unwrap_or_else(|e| panic!("db-local-test errored: {e:#}"));
    registered(report)
}

/// Asserts every check id in the report is in the registry of check ids (so `--json` readers can
/// rely on them), and returns the report.
#[track_caller]
pub fn registered(report: Report) -> Report {
    assert_registered(&report);
    report
}

#[track_caller]
pub fn assert_registered(report: &Report) {
    let unknown: Vec<&str> = report
        .checks
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| xtask::report::check_ids::meaning(id).is_none())
        .collect();
    assert!(unknown.is_empty(), "check ids missing from xtask/src/report/check_ids.rs: {unknown:?}");
}

/// Ids of the checks with `status`.
pub fn ids(report: &Report, status: Status) -> Vec<String> {
    report.checks.iter().filter(|c| c.status == status).map(|c| c.id.clone()).collect()
}

/// Asserts the report failed, and failed on `id` (with everything that failed in the message).
#[track_caller]
pub fn assert_fails_on(report: &Report, id: &str) {
    assert_registered(report);
    let failed = ids(report, Status::Fail);
    assert!(report.failed(), "expected the run to fail on {id}, but it passed");
    assert!(failed.iter().any(|f| f == id), "expected {id} among failed checks, got {failed:?}\n{report:#?}");
}

#[track_caller]
pub fn assert_passes(report: &Report) {
    assert_registered(report);
    let failed: Vec<_> = report.checks.iter().filter(|c| c.status == Status::Fail).collect();
    assert!(failed.is_empty(), "expected a pass, failed checks: {failed:#?}");
}

pub async fn run_rollback_test(dir: &Path, backend: Backend, since: Option<&str>) -> Report {
    let mut report = Report::quiet("db-rollback-test");
    let mut local = local_test(dir, backend);
    local.pending.since = since.map(str::to_string);
    xtask::flags::DbRollbackTest { local }
        .run_into(&mut report)
        .await
        .unwrap_or_else(|e| panic!("db-rollback-test errored: {e:#}"));
    registered(report)
}

/// The detail of check `id`, or "".
pub fn detail(report: &Report, id: &str) -> String {
    assert_registered(report);
    report.check(id).and_then(|c| c.detail.clone()).unwrap_or_default()
}

/// The xtask binary, built if needed (wherever the target dir is).
pub fn xtask_bin() -> std::path::PathBuf {
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-p", "xtask", "--quiet", "--message-format=json"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("cargo build");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("executable").and_then(|e| e.as_str()).map(std::path::PathBuf::from))
        .find(|p| p.file_stem().is_some_and(|s| s == "xtask"))
        .expect("xtask executable")
}

/// A read-only production session on `target`, as db-validate and db-verify open one.
pub async fn session_of(target: &xtask::production::Target) -> xtask::production::Session {
    xtask::production::Session::read_only(target).await.expect("a session on the target")
}

/// A copy of the platform fixture project with `sql` as a pending migration (and `rollback` as its
/// script) and `config` appended to config.toml; `supabase/` is under the returned folder.
pub fn platform_with_pending(sql: &str, rollback: &str, config: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/platform/supabase");
    let project = tempfile::tempdir().expect("tmp");
    let dir = project.path().join("supabase");
    copy_dir(&from, &dir);
    let toml = std::fs::read_to_string(dir.join("config.toml")).expect("config") + config;
    std::fs::write(dir.join("config.toml"), toml).expect("write config");
    std::fs::write(dir.join("migrations/20250301000000_under_test.sql"), sql).expect("write");
    std::fs::write(dir.join("rollbacks/20250301000000_under_test.sql"), rollback).expect("write");
    project
}
