//! db-local-test end to end on our project, and failing with the right check for each defect.

use xtask::report::Status;

use crate::support::{any_backend, assert_fails_on, assert_passes, backends, run_local_test, ProjectCopy};

const PART1: &str = "migrations/20251116173500_add_auth_user_id_to_messages_part1.sql";
const PART2: &str = "migrations/20251116173501_update_add_message_function.sql";
const BACKFILL: &str = "migrations/20251116173502_backfill_messages_auth_user_id.sql";
const VALIDATE: &str = "migrations/20251116173506_validate_message_owner_constraints.sql";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_on_our_migration_on_every_backend() {
    for backend in backends() {
        let report = run_local_test(&crate::support::our_supabase_dir(), backend).await;
        assert_passes(&report);
        assert_eq!(report.backend.as_deref(), Some(backend.to_string().as_str()));
        let backfill = report.check("pending.apply.20251116173502").expect("backfill applied");
        assert!(
            backfill
                .detail
                .as_deref()
                .unwrap_or("")
                .contains("batched backfill of public.messages: 60 row(s) in 1 batch(es)"),
            "the batched backfill is shown: {backfill:?}"
        );
        for id in
            ["smoke.send_message", "smoke.isolation_user_b", "post.new_policies", "pre.conversation_owner_mismatch"]
        {
            assert_eq!(report.check(id).map(|c| c.status), Some(Status::Pass), "{id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_when_add_message_does_not_set_auth_user_id() {
    let project = ProjectCopy::new();
    project.edit(
        PART2,
        "INSERT INTO public.messages (conversation_id, role, content, image_url, metadata, auth_user_id)\n  VALUES (p_conversation_id, p_role, p_content, p_image_url, p_metadata, v_owner)",
        "INSERT INTO public.messages (conversation_id, role, content, image_url, metadata)\n  VALUES (p_conversation_id, p_role, p_content, p_image_url, p_metadata)",
    );
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_fails_on(&report, "post.add_message_sets_auth_user_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_smoke_names_the_call_and_error_when_inserts_break() {
    // The runbook's defect: NOT NULL column, add_message not writing it, nothing filling it.
    let project = ProjectCopy::new();
    project.edit(PART1, "CREATE TRIGGER messages_set_auth_user_id\n  BEFORE INSERT OR UPDATE OF conversation_id ON public.messages\n  FOR EACH ROW EXECUTE FUNCTION public.messages_set_auth_user_id();", "");
    project.edit(
        PART2,
        "INSERT INTO public.messages (conversation_id, role, content, image_url, metadata, auth_user_id)\n  VALUES (p_conversation_id, p_role, p_content, p_image_url, p_metadata, v_owner)",
        "INSERT INTO public.messages (conversation_id, role, content, image_url, metadata)\n  VALUES (p_conversation_id, p_role, p_content, p_image_url, p_metadata)",
    );
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_fails_on(&report, "smoke.send_message");
    let detail = report.check("smoke.send_message").and_then(|c| c.detail.clone()).unwrap_or_default();
    assert!(detail.contains("send_message (rpc add_message) as user smoke-a-"), "{detail}");
    assert!(detail.contains("23502"), "names the NOT NULL violation: {detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_when_the_backfill_leaves_nulls() {
    // The backfill skips some rows, and nothing enforces NOT NULL any more.
    let project = ProjectCopy::new();
    project
        .edit(BACKFILL, "  AND m.auth_user_id IS NULL;", "  AND m.auth_user_id IS NULL AND m.role = 'user';")
        .edit(VALIDATE, "ALTER TABLE public.messages VALIDATE CONSTRAINT messages_auth_user_id_not_null;\n", "")
        .edit(VALIDATE, "ALTER TABLE public.messages ALTER COLUMN auth_user_id SET NOT NULL;\n", "");
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_fails_on(&report, "post.messages_have_auth_user_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_on_data_that_violates_each_pre_check() {
    // seed.sql plays production's inconsistent data; session_replication_role = replica skips
    // the foreign keys the way old imports and manual fixes did.
    let cases = [
        ("null_conversation_id", "ALTER TABLE public.messages ALTER COLUMN conversation_id DROP NOT NULL;
          INSERT INTO public.messages (role, content) VALUES ('user', 'lost');"),
        ("orphaned_messages", "SET session_replication_role = replica;
          INSERT INTO public.messages (conversation_id, role, content) VALUES (gen_random_uuid(), 'user', 'orphan');
          SET session_replication_role = origin;"),
        ("null_conversation_auth_user_id", "INSERT INTO public.conversations (user_id, auth_user_id, title)
          SELECT id, NULL, 'no owner' FROM public.users LIMIT 1;"),
        ("invalid_auth_user_reference", "SET session_replication_role = replica;
          INSERT INTO public.conversations (auth_user_id, title) VALUES (gen_random_uuid(), 'ghost owner');
          SET session_replication_role = origin;"),
        ("conversation_owner_mismatch", "INSERT INTO public.conversations (user_id, auth_user_id, title)
          SELECT (SELECT id FROM public.users ORDER BY email LIMIT 1), (SELECT auth_user_id FROM public.users ORDER BY email DESC LIMIT 1), 'two owners';"),
    ];
    let backend = any_backend();
    let runs = cases.map(|(check, seed)| async move {
        let project = ProjectCopy::new();
        project.write("seed.sql", seed);
        (check, run_local_test(&project.path(), backend).await)
    });
    for (check, report) in futures::future::join_all(runs).await {
        assert_fails_on(&report, &format!("pre.{check}"));
        assert_eq!(report.check("data.seed_sql").map(|c| c.status), Some(Status::Pass), "{check}: seed loaded");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_migration_with_an_sql_error_applies_nothing() {
    let project = ProjectCopy::new();
    project.edit(
        PART1,
        "ALTER TABLE public.messages ADD COLUMN IF NOT EXISTS auth_user_id uuid;\n",
        "ALTER TABLE public.messages ADD COLUMN IF NOT EXISTS auth_user_id uuid;\nALTER TABLE public.messages ADD COLUMN auth_user_id uuid;\n",
    );
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_fails_on(&report, "pending.apply.20251116173500");
    let detail = report.check("pending.apply.20251116173500").and_then(|c| c.detail.clone()).unwrap_or_default();
    assert!(detail.contains("20251116173500_add_auth_user_id_to_messages_part1.sql:"), "{detail}");
    assert!(detail.contains("42701"), "duplicate column error: {detail}");
    assert!(detail.contains("nothing of this file was applied"), "{detail}");
    assert!(report.check("pending.apply.20251116173501").is_none(), "later files are not run");
    assert_eq!(report.check("steps.remaining").map(|c| c.status), Some(Status::Skip));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_project_runs_the_generic_steps_and_says_what_did_not_apply() {
    let project = ProjectCopy::empty();
    project
        .write("migrations/20250101000000_init.sql", "create table public.todos (id bigint generated always as identity primary key, title text);\nalter table public.todos enable row level security;")
        .write("migrations/20250102000000_add_done.sql", "alter table public.todos add column done boolean not null default false;")
        .write("rollbacks/20250102000000_add_done.sql", "alter table public.todos drop column done;")
        .write("seed.sql", "insert into public.todos (title) values ('a'), ('b');")
        .write("checks/post/01_done.sql", "select 'done_column' as id, count(*) = 1 as ok, count(*) as value, '' as detail from information_schema.columns where table_name = 'todos' and column_name = 'done'");
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_passes(&report);
    let skipped = report.check("app.contract").expect("app contract check");
    assert_eq!(skipped.status, Status::Skip);
    assert!(skipped.detail.as_deref().unwrap_or("").contains("table public.users"), "{skipped:?}");
    assert_eq!(report.check("smoke.app").map(|c| c.status), Some(Status::Skip));
    assert_eq!(report.check("post.done_column").map(|c| c.status), Some(Status::Pass));
    assert_eq!(report.check("data.seed_sql").map(|c| c.status), Some(Status::Pass));
    // Regression: with no signed-in users the matrix checked nothing and still read like a pass;
    // now the generator signs up two and gives every table rows.
    let generated = report.check("data.generate").expect("generator");
    assert_eq!((generated.status, generated.value.as_deref()), (Status::Pass, Some("4 rows in 1 of 1 tables")));
    let matrix = report.check("rls.state.before").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(matrix.starts_with("4 personas × 3 RLS tables, 1 with rows"), "{matrix}");
    let todos = report.check("rls.matrix.public.todos").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(todos.contains("6 row(s)"), "the seed's 2 and the generated 4: {todos}");
}

/// Regression: `CREATE EXTENSION` of something this Postgres lacks was a failed check (exit 1),
/// as if the migration were wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_extension_is_an_environment_error_naming_the_remedy() {
    let project = ProjectCopy::new();
    project.write("migrations/20251116173508_vector.sql", "create extension if not exists vector;\n");
    project.write("rollbacks/20251116173508_vector.sql", "drop extension if exists vector;\n");
    let mut report = xtask::report::Report::quiet("db-local-test");
    let err = crate::support::local_test(&project.path(), crate::support::any_backend())
        .run_into(&mut report)
        .await
        .expect_err("exit 2, not a failed check");
    let text = format!("{err:#}");
    assert!(
        text.contains("20251116173508_vector.sql") && text.contains("extension `vector` is not available"),
        "{text}"
    );
    // The package that exists (PGDG's), never the `postgresql-15-vector` no repository has.
    assert!(text.contains("`apt install postgresql-15-pgvector`") && text.contains("apt.postgresql.org"), "{text}");
    assert!(text.contains("supabase/postgres"), "{text}");
}
