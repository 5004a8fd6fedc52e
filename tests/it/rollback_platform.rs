//! The rollback proof sees what migrations change on the platform: a rollback that forgets a
//! bucket row, a trigger on auth.users, a publication entry, a default privilege or a role fails
//! with a sentence naming what stayed. The project is the platform fixture plus one pending file.

use std::path::Path;

use crate::support::{any_backend, assert_fails_on, copy_dir, detail, run_rollback_test};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_that_forgets_a_platform_change_fails_naming_it() {
    let cases = [
        (
            "insert into storage.buckets (id, name) values ('invoices', 'invoices');",
            "select 1;",
            "rollback.data.new_rows",
            "storage.buckets",
        ),
        (
            "create trigger on_auth_user_updated after update on auth.users \
             for each row execute function public.handle_new_user();",
            "select 1;",
            "rollback.catalog",
            "on_auth_user_updated",
        ),
        (
            "create publication profile_changes for table public.profiles;",
            "select 1;",
            "rollback.catalog",
            "publication profile_changes still exists",
        ),
        (
            // The opt-in a project makes on today's platform, where new tables get no grants.
            "alter default privileges in schema public grant select on tables to authenticated;",
            "select 1;",
            "rollback.catalog",
            "default privileges for postgres in public on tables",
        ),
        ("create role reporting nologin;", "select 1;", "rollback.catalog", "role reporting still exists"),
    ];
    for (migration, rollback, id, says) in cases {
        let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/platform/supabase");
        let project = tempfile::tempdir().expect("tmp");
        let dir = project.path().join("supabase");
        copy_dir(&from, &dir);
        std::fs::write(dir.join("migrations/20250301000000_platform.sql"), format!("{migration}\n")).expect("write");
        std::fs::write(dir.join("rollbacks/20250301000000_platform.sql"), format!("{rollback}\n")).expect("write");
        let report = run_rollback_test(&dir, any_backend(), None).await;
        eprintln!("case: {migration}");
        assert_fails_on(&report, id);
        assert!(detail(&report, id).contains(says), "{migration}: {}", detail(&report, id));
    }
}
