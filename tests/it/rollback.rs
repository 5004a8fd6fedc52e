//! db-rollback-test: passes on our rollback scripts, and names the check for each broken one.

use xtask::report::Status;

use crate::support::{any_backend, assert_fails_on, assert_passes, backends, detail, run_rollback_test, ProjectCopy};

const ROLLBACK1: &str = "rollbacks/20251116173500_add_auth_user_id_to_messages_part1.sql";
const ROLLBACK_INDEX: &str = "rollbacks/20251116173504_index_messages_auth_user_id.sql";
const ROLLBACK_NOT_NULL: &str = "rollbacks/20251116173506_validate_message_owner_constraints.sql";
const ROLLBACK_POLICIES: &str = "rollbacks/20251116173507_swap_message_policies.sql";
const DROP_COLUMN: &str = "ALTER TABLE public.messages DROP COLUMN IF EXISTS auth_user_id;";
/// Keeps the column on purpose (declared, nullable again), so what else the script forgets stays
/// visible: dropping the column would silently take its index along.
const KEEP_COLUMN: &str = "-- xtask:keeps column public.messages.auth_user_id\nALTER TABLE public.messages ALTER COLUMN auth_user_id DROP NOT NULL;";
const ROLLBACK_BACKFILL: &str = "rollbacks/20251116173502_backfill_messages_auth_user_id.sql";
/// The rollback's batched undo of the backfill (directive and UPDATE), which the tests replace.
const CLEAR_BACKFILL: &str =
    "-- xtask:backfill batch-size=10000\nUPDATE public.messages SET auth_user_id = NULL WHERE auth_user_id IS NOT NULL;\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_previous_catalog_and_data_on_every_backend() {
    for backend in backends() {
        let report = run_rollback_test(&crate::support::our_supabase_dir(), backend, None).await;
        assert_passes(&report);
        for id in [
            "rollback.catalog",
            "rollback.data",
            "rollback.data.new_rows",
            "rollback.history",
            "smoke.rolled_back.send_message",
            "reapply.apply.20251116173500",
            "reapply.post.new_policies",
            "smoke.reapplied.isolation_user_b",
        ] {
            assert_eq!(report.check(id).map(|c| c.status), Some(Status::Pass), "{backend}: {id}");
        }
        assert!(report.checks.iter().all(|c| !c.id.starts_with("rollback.kept.")), "our rollbacks keep nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_that_leaves_a_new_policy_fails_the_catalog_check() {
    let project = ProjectCopy::new();
    project.edit(ROLLBACK1, DROP_COLUMN, KEEP_COLUMN);
    project.edit(ROLLBACK_POLICIES, "DROP POLICY IF EXISTS \"Users can view own messages\" ON public.messages;\n", "");
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    assert_fails_on(&report, "rollback.catalog");
    assert!(
        detail(&report, "rollback.catalog")
            .contains("policy \"Users can view own messages\" on public.messages still exists"),
        "{}",
        detail(&report, "rollback.catalog")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_that_forgets_the_index_fails_the_catalog_check() {
    let project = ProjectCopy::new();
    project.edit(ROLLBACK1, DROP_COLUMN, KEEP_COLUMN);
    project.edit(
        ROLLBACK_INDEX,
        "DROP INDEX CONCURRENTLY IF EXISTS public.idx_messages_auth_user_id;\n",
        "SELECT 1;\n",
    );
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    assert_fails_on(&report, "rollback.catalog");
    assert!(detail(&report, "rollback.catalog").contains("index public.idx_messages_auth_user_id still exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_that_keeps_the_column_not_null_breaks_the_app() {
    // The runbook's rollback: old add_message back, column kept NOT NULL. Declared as kept, so
    // the catalog check only warns; the app smoke after rollback must catch the broken inserts.
    let project = ProjectCopy::new();
    project.edit(ROLLBACK1, DROP_COLUMN, "-- xtask:keeps column public.messages.auth_user_id");
    project.edit(ROLLBACK_NOT_NULL, "ALTER TABLE public.messages ALTER COLUMN auth_user_id DROP NOT NULL;\n", "");
    // A rollback that keeps the column keeps its values too.
    project.edit(ROLLBACK_BACKFILL, CLEAR_BACKFILL, "SELECT 1;\n");
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    assert_fails_on(&report, "smoke.rolled_back.send_message");
    assert!(detail(&report, "smoke.rolled_back.send_message").contains("23502"), "NOT NULL violation named");
    assert_eq!(report.check("rollback.kept.column public.messages.auth_user_id").map(|c| c.status), Some(Status::Warn));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_directive_turns_a_kept_column_into_a_warning() {
    let project = ProjectCopy::new();
    project.edit(ROLLBACK1, DROP_COLUMN, KEEP_COLUMN);
    // A rollback that keeps the column keeps its values too.
    project.edit(ROLLBACK_BACKFILL, CLEAR_BACKFILL, "SELECT 1;\n");
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    let kept = report.check("rollback.kept.column public.messages.auth_user_id").expect("kept column reported");
    assert_eq!(kept.status, Status::Warn);
    assert!(kept.detail.as_deref().unwrap_or("").contains("still exists (uuid, nullable now)"), "{kept:?}");
    assert_eq!(report.check("rollback.catalog").map(|c| c.status), Some(Status::Pass), "the rest matches");
    for id in ["rollback.data", "smoke.rolled_back.send_message", "reapply.apply.20251116173500"] {
        assert_eq!(report.check(id).map(|c| c.status), Some(Status::Pass), "{id}");
    }
    // Regression: a kept owner column that no policy or trigger guards any more lets a user
    // write someone else's id into it while the old schema is live. The RLS comparison says so.
    assert_fails_on(&report, "rollback.rls.public.messages");
    assert!(detail(&report, "rollback.rls.public.messages").contains("probe insert_forging_other_id: now allowed"));

    // Without the directive the same rollback fails the catalog check, naming the column.
    project.edit(ROLLBACK1, "-- xtask:keeps column public.messages.auth_user_id\n", "");
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    assert_fails_on(&report, "rollback.catalog");
    assert!(detail(&report, "rollback.catalog").contains("column public.messages.auth_user_id still exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_that_changes_a_pre_existing_row_fails_the_data_check() {
    // Regression (flaky): the row picked was sometimes one the app smoke had just written (random
    // ids), which is not pre-existing; pick among the generated rows only.
    let project = ProjectCopy::new();
    let script = project.read(ROLLBACK1);
    project.write(
        ROLLBACK1,
        &format!("{script}\nUPDATE public.messages SET content = 'rewritten' WHERE id = (SELECT min(id::text)::uuid FROM public.messages WHERE content LIKE 'Message % of conversation %');\n"),
    );
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    assert_fails_on(&report, "rollback.data");
    assert!(detail(&report, "rollback.data").contains("1 row(s) changed, first: public.messages"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_that_cannot_be_reapplied_fails_the_reapply_check() {
    // The rollback forgets the trigger function; the migration creates it without a guard.
    let project = ProjectCopy::new();
    project.edit(ROLLBACK1, "DROP FUNCTION IF EXISTS public.messages_set_auth_user_id();\n", "");
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    assert_fails_on(&report, "reapply.apply.20251116173500");
    assert!(detail(&report, "reapply.apply.20251116173500").contains("already exists"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_migration_without_a_rollback_fails_the_check_that_names_it() {
    let project = ProjectCopy::new();
    std::fs::remove_file(project.path().join(ROLLBACK1)).expect("remove rollback");
    let report = run_rollback_test(&project.path(), any_backend(), Some("20251116173500")).await;
    assert_fails_on(&report, "rollback.script.20251116173500");
    assert!(detail(&report, "rollback.script.20251116173500")
        .contains("20251116173500_add_auth_user_id_to_messages_part1.sql"));
}

/// Regression: the proof ran every rollback, newest first, then compared, so a rollback that lost
/// its DROP INDEX passed: the rollback of 20251116173500 drops the column under the index. A push
/// that fails at the next file needs this rollback alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_right_only_together_with_a_later_one_fails_the_stepwise_proof() {
    let project = ProjectCopy::new();
    project.edit(
        ROLLBACK_INDEX,
        "DROP INDEX CONCURRENTLY IF EXISTS public.idx_messages_auth_user_id;\n",
        "SELECT 1;\n",
    );
    let report = run_rollback_test(&project.path(), any_backend(), None).await;
    assert_eq!(report.check("rollback.catalog").map(|c| c.status), Some(Status::Pass), "the full sequence hides it");
    assert_fails_on(&report, "rollback.step.20251116173504");
    assert!(
        detail(&report, "rollback.step.20251116173504").contains("index public.idx_messages_auth_user_id still exists")
    );
    assert_fails_on(&report, "rollback.stepwise");
    let d = detail(&report, "rollback.stepwise");
    assert!(
        d.contains("the rollback of 20251116173504 is right only together with another one — the rollback of 20251116173500 removes it"),
        "{d}"
    );
}
