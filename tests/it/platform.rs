//! Projects that use the Supabase platform as real ones do run unmodified: a trigger on
//! auth.users, storage buckets and policies, vault, the realtime publication, seeds (named by
//! `[db.seed] sql_paths`) that write auth.users and auth.identities with GoTrue's full columns.

use std::path::Path;

use xtask::report::Status;

use crate::support::{assert_passes, backends, copy_dir, run_local_test, run_rollback_test};

/// A copy of the fixture project under `tests/fixtures/<name>/supabase`.
fn fixture(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name).join("supabase");
    let dir = tempfile::tempdir().expect("tmp");
    copy_dir(&from, &dir.path().join("supabase"));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_on_the_whole_platform_runs_to_the_end_on_every_backend() {
    for backend in backends() {
        let project = fixture("platform");
        let dir = project.path().join("supabase");
        let report = run_local_test(&dir, backend).await;
        assert_passes(&report);
        let seeds = report.check("data.seed_sql").expect("seed check");
        assert_eq!((seeds.status, seeds.value.as_deref()), (Status::Pass, Some("seed.sql")), "{backend}: {seeds:?}");
        assert!(seeds.detail.as_deref().is_some_and(|d| d.contains("[db.seed] sql_paths")), "{seeds:?}");
        let layer = report.check("env.supabase_layer").and_then(|c| c.value.clone()).unwrap_or_default();
        assert!(layer.starts_with("supabase-layer v2"), "{layer}");

        let report = run_rollback_test(&dir, backend, None).await;
        assert_passes(&report);
    }
}
