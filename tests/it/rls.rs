//! Row-level security: our migration's access matrix (snapshot), and the runbook's own SQL,
//! kept as regression fixtures, caught hole by hole with the right check id.

use xtask::{flags::DbRls, report::Report, report::Status};

use crate::support::{any_backend, assert_fails_on, assert_passes, detail, local_test, ProjectCopy};

const PART1: &str = "migrations/20251116173500_add_auth_user_id_to_messages_part1.sql";
const PART2: &str = "migrations/20251116173501_update_add_message_function.sql";

fn runbook(file: &str) -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/runbook/").to_string() + file)
        .expect("fixture")
}

/// Our pending migrations replaced by the runbook's two files (and their rollbacks by `rollbacks`).
fn use_runbook(project: &ProjectCopy) {
    for dir in ["migrations", "rollbacks"] {
        for entry in std::fs::read_dir(project.path().join(dir)).expect("dir").flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with("2025111617350") {
                std::fs::remove_file(entry.path()).expect("remove");
            }
        }
    }
    project
        .write(PART1, &runbook("20251116173500_add_auth_user_id_to_messages_part1.sql"))
        .write(PART2, &runbook("20251116173501_update_add_message_function.sql"))
        .write("rollbacks/20251116173500_add_auth_user_id_to_messages_part1.sql", "SELECT 1;\n")
        .write("rollbacks/20251116173501_update_add_message_function.sql", "SELECT 1;\n");
}

async fn run_rls(project: &std::path::Path) -> Report {
    let mut report = Report::quiet("db-rls");
    let mut local = local_test(project, any_backend());
    local.data = xtask::flags::Data { users: 4, conversations_per_user: 3, messages_per_conversation: 2, seed: 1 };
    DbRls { local, matrix: None }.run_into(&mut report).await.unwrap_or_else(|e| panic!("db-rls errored: {e:#}"));
    report
}

fn status(report: &Report, id: &str) -> Option<Status> {
    report.check(id).map(|c| c.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_migration_keeps_access_except_the_declared_owner_widening() {
    let report = run_rls(&crate::support::our_supabase_dir()).await;
    assert_passes(&report);
    // Only owners of conversations without user_id gain their own messages; declared, so a warning.
    let messages = report.check("rls.matrix.public.messages").expect("messages compared");
    assert_eq!(messages.status, Status::Warn, "{messages:?}");
    let d = messages.detail.clone().unwrap_or_default();
    assert!(d.lines().all(|l| l.contains("of its own row(s)") && l.contains("declared:")), "{d}");
    for id in ["rls.matrix.public.conversations", "rls.matrix.public.users"] {
        assert_eq!(status(&report, id), Some(Status::Pass), "{id}");
    }
    for id in ["rpc.add_message_as_anon", "rpc.add_message_into_other_conversation", "rpc.add_message_without_uid"] {
        assert_eq!(status(&report, id), Some(Status::Pass), "{id}: {}", detail(&report, id));
    }
    for id in [
        "lint.auth_rls_initplan",
        "lint.security_definer_search_path",
        "lint.security_definer_executable_by_anon",
        "lint.unindexed_foreign_keys",
        "lint.multiple_permissive_policies",
        "lint.unenforced_denormalized_owner",
        "lint.rls_disabled_in_exposed_schema",
    ] {
        let s = status(&report, id);
        assert!(matches!(s, Some(Status::Pass | Status::Info)), "{id}: {s:?} {}", detail(&report, id));
    }
    let matrix = report.rendered_matrix.clone().expect("matrix rendered");
    insta::assert_snapshot!("access_matrix_our_migration", matrix);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_migration_holes_are_each_caught() {
    let project = ProjectCopy::new();
    use_runbook(&project);
    let report = run_rls(&project.path()).await;

    // Policies that let one user write into another's conversation.
    assert_fails_on(&report, "rls.matrix.public.messages");
    let d = detail(&report, "rls.matrix.public.messages");
    assert!(d.contains("probe insert_into_other_parent: now allowed on public.messages for conversation_id"), "{d}");
    assert!(d.contains("probe move_to_other_parent: now allowed on public.messages"), "{d}");
    // The NULL-unsafe ownership check (`!=` with a NULL auth.uid()) and anon's EXECUTE: the
    // baseline's add_message has both holes already, so they warn as production's, not the
    // migration's.
    for id in ["rpc.add_message_without_uid", "rpc.add_message_as_anon"] {
        assert_eq!(status(&report, id), Some(Status::Warn), "{id}");
        assert!(detail(&report, id).contains("already in production"), "{id}: {}", detail(&report, id));
    }
    assert_fails_on(&report, "lint.security_definer_executable_by_anon");
    // auth.uid() evaluated per row.
    assert_eq!(
        status(&report, "lint.auth_rls_initplan"),
        Some(Status::Warn),
        "{}",
        detail(&report, "lint.auth_rls_initplan")
    );
    let initplan = detail(&report, "lint.auth_rls_initplan");
    assert!(initplan.contains("new: policy \"Users can view own messages\" on public.messages"), "{initplan}");
    // Nothing keeps messages.auth_user_id equal to the conversation's.
    assert_fails_on(&report, "lint.unenforced_denormalized_owner");
    assert!(detail(&report, "lint.unenforced_denormalized_owner").contains("new: column public.messages.auth_user_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_rollback_breaks_inserts_and_is_caught() {
    // The runbook's rollback (its required steps) restores the old add_message but leaves the
    // column NOT NULL: every insert through the app fails.
    let project = ProjectCopy::new();
    use_runbook(&project);
    project
        .write("rollbacks/20251116173501_update_add_message_function.sql", &runbook("rollback_steps_1_2.sql"))
        .write(
            "rollbacks/20251116173500_add_auth_user_id_to_messages_part1.sql",
            "-- The runbook has one rollback script for both files (in the next one).\n-- xtask:keeps column public.messages.auth_user_id\nSELECT 1;\n",
        );
    let report = crate::support::run_rollback_test(&project.path(), any_backend(), None).await;
    assert_fails_on(&report, "smoke.rolled_back.send_message");
    assert!(detail(&report, "smoke.rolled_back.send_message").contains("23502"));
}

/// Regression: a measurement that errored (here a policy that raises for anon) was read as
/// "0 rows" and compared as if it had been measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measurement_that_errors_is_said_never_counted_as_zero_rows() {
    let project = crate::support::ProjectCopy::empty();
    project
        .write(
            "migrations/20250101000000_notes.sql",
            "create function public.deny_anon() returns boolean language plpgsql stable as $$
             begin
               if auth.role() = 'anon' then raise exception 'anon is not welcome'; end if;
               return true;
             end $$;
             create table public.notes (id bigint primary key, body text);
             alter table public.notes enable row level security;
             create policy notes_read on public.notes for select using (public.deny_anon());
             insert into public.notes values (1, 'x');",
        )
        .write("migrations/20250102000000_more.sql", "alter table public.notes add column extra int;\n")
        .write("rollbacks/20250102000000_more.sql", "alter table public.notes drop column extra;\n");
    let report = crate::support::run_local_test(&project.path(), crate::support::any_backend()).await;
    let matrix = report.check("rls.state.before").expect("matrix");
    assert_eq!(matrix.status, Status::Warn, "{matrix:?}");
    let detail = matrix.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("measurements failed")
            && detail.contains("anon see public.notes")
            && detail.contains("anon is not welcome"),
        "{detail}"
    );
}

/// Regression: any error counted as "refused", so a migration that broke add_message for everyone
/// passed every RPC probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_function_is_not_a_refusal() {
    let project = ProjectCopy::new();
    project
        .write(
            "migrations/20251116173508_break_add_message.sql",
            "CREATE OR REPLACE FUNCTION public.add_message(p_conversation_id uuid, p_role text, p_content text, \
             p_image_url text DEFAULT NULL, p_metadata jsonb DEFAULT '{}') RETURNS uuid \
             LANGUAGE plpgsql SECURITY DEFINER SET search_path = '' AS $$ \
             BEGIN PERFORM 1 FROM public.no_such_table; RETURN NULL; END $$;\n",
        )
        .write("rollbacks/20251116173508_break_add_message.sql", "SELECT 1;\n");
    let report = run_rls(&project.path()).await;
    assert_fails_on(&report, "rpc.add_message_into_other_conversation");
    let d = detail(&report, "rpc.add_message_into_other_conversation");
    assert!(d.contains("failed for another reason than a refusal") && d.contains("42P01"), "{d}");
}

/// Regression (#24, first part): a pending view over messages that runs as its owner, and a
/// materialized view of them, let anon and every signed-in user read all 20,000 messages of a
/// production stand-in while db-rls and db-local-test passed. The catalog now says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_or_materialized_view_that_bypasses_rls_fails_the_run() {
    let project = ProjectCopy::new();
    project
        .write(
            "migrations/20251116173508_recent_messages.sql",
            "create view public.recent_messages as select id, content from public.messages;\n\
             grant select on public.recent_messages to authenticated;\n\
             create materialized view public.message_counts as select conversation_id, count(*) from public.messages group by 1;\n\
             grant select on public.message_counts to anon, authenticated;\n",
        )
        .write(
            "rollbacks/20251116173508_recent_messages.sql",
            "drop materialized view public.message_counts;\ndrop view public.recent_messages;\n",
        );
    let report = run_rls(&project.path()).await;
    assert_fails_on(&report, "lint.view_bypasses_rls");
    let d = detail(&report, "lint.view_bypasses_rls");
    assert!(d.contains("public.recent_messages") && d.contains("security_invoker = true"), "{d}");
    assert_fails_on(&report, "lint.materialized_view_in_api");
    assert!(detail(&report, "lint.materialized_view_in_api").contains("public.message_counts"));

    // With security_invoker and the copy kept from the API roles, nothing is flagged.
    project.write(
        "migrations/20251116173508_recent_messages.sql",
        "create view public.recent_messages with (security_invoker = true) as select id, content from public.messages;\n\
         grant select on public.recent_messages to authenticated;\n\
         create materialized view public.message_counts as select conversation_id, count(*) from public.messages group by 1;\n\
         revoke select on public.message_counts from public, anon, authenticated;\n",
    );
    let report = run_rls(&project.path()).await;
    for id in ["lint.view_bypasses_rls", "lint.materialized_view_in_api"] {
        assert!(report.check(id).is_none_or(|c| c.status != Status::Fail), "{id}: {:#?}", report.check(id));
    }
}

/// Every door beside tables, probed as the personas (issue: every door the Data API opens): a
/// view that runs as its owner and a `SECURITY DEFINER` function returning every message fail;
/// a `security_invoker` view, a materialized view declared public, and a definer RPC that keeps
/// to `auth.uid()` are judged right — each on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_and_functions_are_probed_as_each_persona() {
    const DOORS: &str = "migrations/20251116173509_doors.sql";
    let holes = "create view public.recent_messages as select id, content from public.messages;\n\
         grant select on public.recent_messages to anon, authenticated;\n\
         create function public.all_messages() returns setof public.messages language sql security definer \
         set search_path = '' as $$ select * from public.messages $$;\n\
         grant execute on function public.all_messages() to authenticated;\n\
         create function public.forget_message(message_content text) returns boolean language plpgsql \
         security definer set search_path = '' as $$ begin delete from public.messages where content = message_content; \
         return found; end $$;\n\
         grant execute on function public.forget_message(text) to service_role;\n";
    let right = "create view public.my_messages with (security_invoker = true) as select id, content from public.messages;\n\
         grant select on public.my_messages to authenticated;\n\
         -- xtask:rls-widens public.message_counts the per-conversation counts are public on purpose\n\
         create materialized view public.message_counts as select conversation_id, count(*) from public.messages group by 1;\n\
         grant select on public.message_counts to authenticated;\n\
         create function public.my_message_count() returns bigint language sql security definer \
         set search_path = '' as $$ select count(*) from public.messages m \
         join public.conversations c on c.id = m.conversation_id where c.auth_user_id = auth.uid() $$;\n\
         revoke execute on function public.my_message_count() from public, anon;\n\
         grant execute on function public.my_message_count() to authenticated;\n";
    for backend in crate::support::backends() {
        let project = ProjectCopy::new();
        project.write(DOORS, &format!("{holes}{right}")).write(
            "rollbacks/20251116173509_doors.sql",
            "drop function public.forget_message(text);\ndrop function public.my_message_count();\ndrop materialized view public.message_counts;\n\
             drop view public.my_messages;\ndrop function public.all_messages();\ndrop view public.recent_messages;\n",
        );
        let mut report = Report::quiet("db-rls");
        let mut local = local_test(&project.path(), backend);
        local.data = xtask::flags::Data { users: 4, conversations_per_user: 3, messages_per_conversation: 2, seed: 1 };
        DbRls { local, matrix: None }.run_into(&mut report).await.unwrap_or_else(|e| panic!("{backend}: {e:#}"));

        assert_fails_on(&report, "rls.matrix.door.public.recent_messages");
        let d = detail(&report, "rls.matrix.door.public.recent_messages");
        assert!(d.contains("anon reads 24 of 24 row(s)") && d.contains("security_invoker = true"), "{backend}: {d}");
        assert_fails_on(&report, "rls.matrix.rpc.public.all_messages");
        let d = detail(&report, "rls.matrix.rpc.public.all_messages");
        assert!(d.contains("RLS does not show it") && d.contains("SECURITY DEFINER"), "{backend}: {d}");

        // Granted to service_role only, but PUBLIC keeps EXECUTE: anyone deletes any message by its text
        // (a pattern seen on a public project, reproduced here).
        assert_fails_on(&report, "rls.matrix.rpc.public.forget_message");
        let d = detail(&report, "rls.matrix.rpc.public.forget_message");
        assert!(
            d.contains("anon calling public.forget_message(")
                && d.contains("row(s) of public.messages it may not delete"),
            "{backend}: {d}"
        );

        let judged = |id: &str| report.check(id).map(|c| c.status).unwrap_or_else(|| panic!("{backend}: no {id}"));
        assert_eq!(judged("rls.matrix.door.public.my_messages"), Status::Pass, "{backend}");
        let counts = report.check("rls.matrix.door.public.message_counts").expect("the materialized view");
        assert_eq!(counts.status, Status::Warn, "{backend}: declared public: {counts:?}");
        assert!(counts.detail.as_deref().unwrap_or_default().contains("declared: the per-conversation counts"));
        let rpc = report.check("rls.matrix.rpc.public.my_message_count").expect("the right RPC");
        assert_eq!(rpc.status, Status::Pass, "{backend}: {rpc:?}");
    }
}

/// A write through a view that errors (here a trigger refuses every change) measured nothing:
/// the door says it could not be measured, never "0 rows written beyond RLS".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_probe_that_errors_is_said_not_counted_as_zero() {
    let project = ProjectCopy::new();
    project
        .write(
            "migrations/20251116173508_own_messages.sql",
            "create view public.own_messages as select id, content from public.messages \
             where conversation_id in (select id from public.conversations where auth_user_id = auth.uid());\n\
             grant select, update, delete on public.own_messages to authenticated;\n\
             create function public.frozen() returns trigger language plpgsql as $$ \
             begin raise exception 'messages are frozen'; end $$;\n\
             create trigger frozen before update or delete on public.messages \
             for each row execute function public.frozen();\n",
        )
        .write(
            "rollbacks/20251116173508_own_messages.sql",
            "drop trigger frozen on public.messages;\ndrop function public.frozen();\ndrop view public.own_messages;\n",
        );
    let report = run_rls(&project.path()).await;
    let door = report.check("rls.matrix.door.public.own_messages").expect("the view is a door");
    assert_eq!(door.status, Status::Warn, "{door:?}");
    let d = door.detail.clone().unwrap_or_default();
    assert!(d.contains("writing through the view") && d.contains("messages are frozen"), "{d}");
}
