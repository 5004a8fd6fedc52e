//! db-lint on real folders, no database: our migration is clean (its one intended constraint
//! drop carries squawk's own ignore comment), the runbook's part 1 is not.

use xtask::{
    flags::{DbLint, Project},
    report::{Report, Status},
};

use crate::support::{assert_fails_on, our_supabase_dir, ProjectCopy};

fn lint(dir: &std::path::Path) -> Report {
    let mut report = Report::quiet("db-lint");
    DbLint { project: Project { supabase_dir: dir.to_path_buf(), json: None }, since: None }
        .run_into(&mut report)
        .expect("lint");
    crate::support::registered(report)
}

#[test]
fn our_migration_is_clean_and_the_runbooks_part_1_is_not() {
    let ours = lint(&our_supabase_dir());
    assert_eq!(ours.check("lint.static").map(|c| c.status), Some(Status::Pass), "{:#?}", ours.checks);

    let project = ProjectCopy::new();
    let fixture = |f: &str| {
        std::fs::read_to_string(format!("{}/fixtures/runbook/{f}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
    };
    let f = "20251116173500_add_auth_user_id_to_messages_part1.sql";
    project.write(&format!("migrations/{f}"), &fixture(f));
    let report = lint(&project.path());
    assert_fails_on(&report, "lint.static");
    let findings: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| c.id.starts_with("lint.static.") && c.id.contains(".20251116173500."))
        .map(|c| c.id.as_str())
        .collect();
    assert!(!findings.is_empty(), "{:#?}", report.checks);
    let first = report.checks.iter().find(|c| c.id == findings[0]).expect("finding");
    assert!(first.value.clone().unwrap_or_default().starts_with(&format!("{f}:")), "file:line:column: {first:?}");
}

#[test]
fn our_own_rules_catch_what_squawk_does_not_and_a_silence_needs_a_reason() {
    let project = ProjectCopy::new();
    let f = "20251116173508_notes.sql";
    project
        .write(
            &format!("migrations/{f}"),
            "create policy \"own\" on public.messages for select using (auth_user_id = auth.uid());\n\
             -- xtask:ignore xtask-grant-to-anon\n\
             grant select on public.messages to anon;\n",
        )
        .write(&format!("rollbacks/{f}"), "select 1;\n");
    let report = lint(&project.path());
    for id in [
        "lint.static.xtask-auth-call-per-row.20251116173508.1",
        "lint.static.xtask-ignore-without-reason.20251116173508.3",
    ] {
        assert_fails_on(&report, id);
    }
    assert!(
        report.check("lint.static.xtask-grant-to-anon.20251116173508.3").is_none(),
        "silenced, though without a reason"
    );
}
