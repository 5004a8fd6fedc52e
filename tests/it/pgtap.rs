//! The project's pgTAP tests (supabase/tests/) at every phase: our own suite holds at all four;
//! a test that holds before the migration and fails after it is reported with its file and
//! assertion; a plan mismatch fails; a psql meta-command is an environment error naming the line.

use xtask::report::Status;

use crate::support::{any_backend, assert_passes, detail, run_local_test, run_rollback_test, ProjectCopy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_suite_holds_at_every_phase_it_belongs_to() {
    let report = run_rollback_test(&crate::support::our_supabase_dir(), any_backend(), None).await;
    assert_passes(&report);
    let ran: Vec<&str> = report.checks.iter().filter(|c| c.id.starts_with("tests.")).map(|c| c.id.as_str()).collect();
    assert_eq!(
        ran,
        [
            "tests.baseline.01_isolation",
            "tests.migrated.01_isolation",
            "tests.migrated.02_add_message",
            "tests.migrated.03_policies",
            "tests.rolled_back.01_isolation",
            "tests.reapplied.01_isolation",
            "tests.reapplied.02_add_message",
            "tests.reapplied.03_policies",
        ],
        "the directive keeps 02 and 03 to the phases after the migration"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_that_breaks_with_the_migration_and_a_plan_mismatch_are_failures() {
    let project = ProjectCopy::new();
    project
        .write(
            "tests/99_old_schema.sql",
            "begin;\nselect plan(2);\nselect has_table('public', 'messages', 'messages exists');\n\
             select hasnt_column('public', 'messages', 'auth_user_id', 'messages has no auth_user_id');\n\
             select * from finish();\nrollback;\n",
        )
        .write(
            "tests/98_short.sql",
            "begin;\nselect plan(3);\nselect ok(true, 'one');\nselect ok(true, 'two');\nrollback;\n",
        );
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_eq!(report.check("tests.baseline.99_old_schema").map(|c| c.status), Some(Status::Pass));
    assert_eq!(report.check("tests.migrated.99_old_schema").map(|c| c.status), Some(Status::Fail));
    let d = detail(&report, "tests.migrated.99_old_schema");
    assert!(d.contains("99_old_schema.sql: not ok 2 - messages has no auth_user_id"), "{d}");
    let d = detail(&report, "tests.baseline.98_short");
    assert!(d.contains("98_short.sql: planned 3 assertion(s) but ran 2"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_psql_meta_command_is_an_environment_error_naming_the_line() {
    let project = ProjectCopy::new();
    project.write("tests/97_psql.sql", "begin;\n\\set ON_ERROR_STOP 1\nselect plan(0);\nrollback;\n");
    let mut report = xtask::report::Report::quiet("db-local-test");
    let err =
        crate::support::local_test(&project.path(), any_backend()).run_into(&mut report).await.expect_err("exit 2");
    let text = format!("{err:#}");
    assert!(text.contains("97_psql.sql:2: psql meta-command `\\set`"), "{text}");
}

/// basejump's billing tests and others failed at `tests.baseline` because they test what the
/// pending migrations add: new behaviour, information there, judged after the migrations; a
/// helper file that only defines functions is loaded, not judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_of_what_the_migrations_add_is_judged_after_them() {
    let project = ProjectCopy::new();
    project
        .write(
            "tests/95_new_column.sql",
            "begin;\nselect plan(1);\nselect has_column('public', 'messages', 'auth_user_id', 'messages has auth_user_id');\n\
             select * from finish();\nrollback;\n",
        )
        .write("tests/00_helpers.sql", "create or replace function tests_helper() returns int language sql as $$ select 1 $$;\n");
    let report = run_local_test(&project.path(), any_backend()).await;
    let baseline = report.check("tests.baseline.95_new_column").expect("ran at the baseline");
    assert_eq!(baseline.status, Status::Info, "{baseline:?}");
    assert!(baseline.detail.as_deref().unwrap_or_default().starts_with("fails before the pending migrations"));
    assert_eq!(report.check("tests.migrated.95_new_column").map(|c| c.status), Some(Status::Pass));
    assert_eq!(report.check("tests.baseline.00_helpers").map(|c| c.status), Some(Status::Info));
    crate::support::assert_passes(&report);
}
