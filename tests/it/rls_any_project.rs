//! The access matrix on a project without our app's contract: generated users and rows make it
//! exercise every RLS table (the project's schemas and storage's), and each kind of hole fails
//! with the table's check. The project is the platform fixture plus one pending migration.

use std::path::Path;

use xtask::report::{Report, Status};

use crate::support::{any_backend, assert_fails_on, assert_passes, copy_dir, detail, run_local_test};

/// The platform fixture with `sql` as a pending migration (and a rollback that is never run).
async fn with_pending(sql: &str) -> Report {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/platform/supabase");
    let project = tempfile::tempdir().expect("tmp");
    let dir = project.path().join("supabase");
    copy_dir(&from, &dir);
    std::fs::write(dir.join("migrations/20250301000000_under_test.sql"), sql).expect("write");
    std::fs::write(dir.join("rollbacks/20250301000000_under_test.sql"), "select 1;\n").expect("write");
    run_local_test(&dir, any_backend()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_users_and_rows_exercise_every_rls_table() {
    let report = with_pending("comment on table public.profiles is 'unchanged access';\n").await;
    assert_passes(&report);
    let generated = report.check("data.generate").expect("generator ran");
    assert_eq!(generated.status, Status::Pass, "{generated:?}");
    for table in ["public.profiles", "storage.objects", "storage.buckets"] {
        let check = report.check(&format!("rls.matrix.{table}")).expect("compared");
        assert_eq!(check.status, Status::Pass, "{check:?}");
        assert!(check.value.as_deref().is_some_and(|v| !v.contains(" 0 row(s)")), "{table} has rows: {check:?}");
    }
    let state = report.check("rls.state.before").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(state.contains("3 RLS tables, 3 with rows"), "{state}");
}

/// The studyu pattern: a migration that lets anon read an existing table passed as "unchanged".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_letting_anon_read_an_existing_table_fails() {
    let report =
        with_pending("create policy \"public profiles\" on public.profiles for select to anon using (true);\n").await;
    assert_fails_on(&report, "rls.matrix.public.profiles");
    assert!(detail(&report, "rls.matrix.public.profiles").contains("anon can now see"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_policy_letting_a_user_read_another_users_folder_fails() {
    let report = with_pending(
        "create policy \"avatars are shared\" on storage.objects for select to authenticated \
         using (bucket_id = 'avatars');\n",
    )
    .await;
    assert_fails_on(&report, "rls.matrix.storage.objects");
    let d = detail(&report, "rls.matrix.storage.objects");
    assert!(d.contains("that are not its own"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_is_judged_against_did_not_exist() {
    // Owner-only: each user reaches its own generated rows, nothing else.
    let owned = "create table public.notes (id uuid primary key default gen_random_uuid(), \
                 user_id uuid not null references auth.users (id), body text not null);\n\
                 alter table public.notes enable row level security;\n\
                 create policy \"own notes\" on public.notes for all to authenticated \
                 using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);\n";
    let report = with_pending(owned).await;
    assert_passes(&report);
    let notes = report.check("rls.matrix.public.notes").expect("new table compared");
    assert!(notes.value.as_deref().is_some_and(|v| v.contains("each user reaching only its own")), "{notes:?}");
    let after = report.check("data.generate.after_pending").expect("rows for the new table");
    assert_eq!(after.status, Status::Pass, "{after:?}");

    // Readable by anon: undeclared, so it fails.
    let report = with_pending(
        &owned
            .replace("to authenticated", "to anon, authenticated")
            .replace("using ((select auth.uid()) = user_id) with", "using (true) with"),
    )
    .await;
    assert_fails_on(&report, "rls.matrix.public.notes");
    assert!(detail(&report, "rls.matrix.public.notes").contains("anon can see"), "{report:?}");

    // RLS off in an exposed schema: the lint fails.
    let report = with_pending("create table public.open_notes (id int primary key, body text);\n").await;
    assert_fails_on(&report, "lint.rls_disabled_in_exposed_schema");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erroring_trigger_shows_its_sqlstate_in_the_matrix() {
    let report = with_pending(
        "create function public.no_deletes() returns trigger language plpgsql as $$ \
         begin raise exception 'profiles are never deleted' using errcode = 'XT001'; end $$;\n\
         create trigger no_deletes before delete on public.profiles for each row execute function public.no_deletes();\n",
    )
    .await;
    let state = report.check("rls.state.after").expect("matrix after");
    assert_eq!(state.status, Status::Warn, "{state:?}");
    let d = state.detail.clone().unwrap_or_default();
    assert!(d.contains("delete public.profiles: ERROR XT001: profiles are never deleted"), "{d}");
}
