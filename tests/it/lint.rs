//! db-lint on real folders, no database: our migration is clean (its one intended constraint
//! drop carries squawk's own ignore comment), the runbook's part 1 is not.

use xtask::{
    flags::{DbLint, Project},
    report::{Report, Status},
};

use crate::support::{assert_fails_on, our_supabase_dir, ProjectCopy};

fn lint(dir: &std::path::Path) -> Report {
    let mut report = Report::quiet("db-lint");
    DbLint {
        project: Project { supabase_dir: dir.to_path_buf(), json: None },
        pending: Default::default(),
        ignored: Default::default(),
    }
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
    assert_fails_on(&report, "lint.static.xtask-ignore-without-reason.20251116173508.3");
    // A per-row auth.uid() is slow, not unsafe: a warning, as Supabase's advisor ranks it.
    let slow = report.check("lint.static.xtask-auth-call-per-row.20251116173508.1").expect("found");
    assert_eq!(slow.status, xtask::report::Status::Warn, "{slow:?}");
    assert!(
        report.check("lint.static.xtask-grant-to-anon.20251116173508.3").is_none(),
        "silenced, though without a reason"
    );
}

/// A repository with `supabase/migrations` on `main`, and a branch off it.
fn repo_with_branch() -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("tmp");
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").arg("-C").arg(repo.path()).args(args).output().expect("git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let write = |name: &str, text: &str| {
        let path = repo.path().join("supabase/migrations").join(name);
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.email", "dev@example.com"]);
    git(&["config", "user.name", "dev"]);
    write(
        "20250101000000_notes.sql",
        "create table public.notes (id bigint primary key);\nalter table public.notes enable row level security;\n",
    );
    write(
        "20250102000000_posts.sql",
        "create table public.posts (id bigint primary key);\nalter table public.posts enable row level security;\n",
    );
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "merged"]);
    git(&["checkout", "-q", "-b", "feature"]);
    // The branch adds a migration (plain CREATE INDEX: squawk flags it) and edits a merged one.
    write("20250103000000_index.sql", "create index notes_id on public.notes (id);\n");
    write("20250101000000_notes.sql", "create table public.notes (id bigint primary key, body text);\nalter table public.notes enable row level security;\n");
    repo
}

#[test]
fn with_base_pending_is_what_the_branch_adds_and_an_edited_merged_migration_fails() {
    let repo = repo_with_branch();
    let dir = repo.path().join("supabase");
    let pending = xtask::flags::Pending { since: None, base: Some("main".into()) };
    let mut report = Report::quiet("db-lint");
    DbLint {
        project: Project { supabase_dir: dir.clone(), json: None },
        pending: pending.clone(),
        ignored: Default::default(),
    }
    .run_into(&mut report)
    .expect("lint");
    let report = crate::support::registered(report);
    let base = report.check("branch.base").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(base.starts_with("main (merge base ") && base.ends_with("): 1 added"), "{base}");
    assert_fails_on(&report, "branch.edited.20250101000000");
    let d = crate::support::detail(&report, "branch.edited.20250101000000");
    assert!(d.starts_with("20250101000000_notes.sql is in main (merged), and this branch edits it"), "{d}");
    // Only the added file is linted.
    let lint_ids: Vec<&str> =
        report.checks.iter().map(|c| c.id.as_str()).filter(|id| id.starts_with("lint.static.")).collect();
    assert_eq!(lint_ids, ["lint.static.require-concurrent-index-creation.20250103000000.1"], "{:#?}", report.checks);

    // A base git does not know is an error that says what to do.
    let mut report = Report::quiet("db-lint");
    let unknown = xtask::flags::Pending { since: None, base: Some("origin/nope".into()) };
    let err =
        DbLint { project: Project { supabase_dir: dir, json: None }, pending: unknown, ignored: Default::default() }
            .run_into(&mut report)
            .expect_err("unknown base");
    assert!(format!("{err:#}").contains("fetch-depth: 0"), "{err:#}");
}

/// The hazard corpus (tests/fixtures/hazards): every hazardous case gets its rule, the safe
/// four-file migration nothing.
#[test]
fn the_hazard_corpus_each_case_gets_its_rule_and_the_safe_case_none() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let cases: &[(&str, &[&str])] = &[
        (
            "runbook/20251116173500_add_auth_user_id_to_messages_part1.sql",
            &[
                "adding-not-nullable-field",
                "adding-foreign-key-constraint",
                "require-concurrent-index-creation",
                "xtask-unbatched-backfill",
                "xtask-auth-call-per-row",
            ],
        ),
        ("hazards/02_volatile_default.sql", &["adding-field-with-default"]),
        ("hazards/03_plain_create_index.sql", &["require-concurrent-index-creation"]),
        ("hazards/04_fk_without_not_valid.sql", &["adding-foreign-key-constraint"]),
        ("hazards/05_set_not_null.sql", &["adding-not-nullable-field"]),
        ("hazards/06_type_change.sql", &["changing-column-type"]),
        ("hazards/07_rename_column.sql", &["renaming-column"]),
        ("hazards/08_drop_column.sql", &["ban-drop-column"]),
        ("hazards/09_unique_constraint.sql", &["disallowed-unique-constraint"]),
        ("hazards/10_whole_table_update.sql", &["xtask-unbatched-backfill"]),
        ("hazards/11_per_row_auth_uid.sql", &["xtask-auth-call-per-row"]),
        ("hazards/12_security_definer_callable_by_anon.sql", &["xtask-security-definer-callable-by-anon"]),
        ("hazards/13_concurrently_mixed.sql", &["ban-concurrent-index-creation-in-transaction"]),
        ("hazards/14_safe_four_files", &[]),
        ("hazards/15_using_true_policy.sql", &["xtask-policy-using-true"]),
        ("hazards/16_add_column_not_null_without_default.sql", &["adding-required-field"]),
    ];
    for (case, expected) in cases {
        let path = root.join(case);
        let files: Vec<std::path::PathBuf> = if path.is_dir() {
            let mut f: Vec<_> = std::fs::read_dir(&path).expect("dir").flatten().map(|e| e.path()).collect();
            f.sort();
            f
        } else {
            vec![path.clone()]
        };
        let started = std::time::Instant::now();
        let mut rules: Vec<String> = Vec::new();
        for f in &files {
            rules.extend(
                xtask::db_lint::lint_text(&std::fs::read_to_string(f).expect("case")).into_iter().map(|f| f.rule),
            );
        }
        eprintln!("{case}: {rules:?} in {:.2} ms", started.elapsed().as_secs_f64() * 1000.0);
        for rule in *expected {
            assert!(rules.iter().any(|r| r == rule), "{case}: {rule} missing from {rules:?}");
        }
        if expected.is_empty() {
            assert_eq!(rules, Vec::<String>::new(), "{case}: the safe case");
        }
    }
}

/// In GitHub Actions: the Markdown summary goes to $GITHUB_STEP_SUMMARY and each finding is an
/// annotation on its file and line, from the real binary.
#[test]
fn in_github_actions_the_summary_and_annotations_go_where_github_reads_them() {
    let project = ProjectCopy::empty();
    project
        .write(
            "migrations/20250101000000_t.sql",
            "create table public.t (id bigint primary key, a int);\nalter table public.t enable row level security;\n",
        )
        .write("migrations/20250102000000_rename.sql", "alter table public.t\n  rename column a to b;\n")
        .write("rollbacks/20250102000000_rename.sql", "alter table public.t rename column b to a;\n");
    let summary = project.dir.path().join("step-summary.md");
    std::fs::write(&summary, "earlier step\n").expect("summary");
    let out = std::process::Command::new(crate::support::xtask_bin())
        .args(["db-lint", "--supabase-dir"])
        .arg(project.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_WORKSPACE", project.dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("::error file=supabase/migrations/20250102000000_rename.sql,line=2,col=3,title=lint.static.renaming-column.20250102000000.2"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(&summary).expect("summary");
    assert!(
        md.starts_with("earlier step\n# db-lint report")
            && md.contains("| ❌ fail | `lint.static.renaming-column.20250102000000.2`"),
        "{md}"
    );
}

/// #23.9: rollback scripts run against production too: a rollback that undoes a backfill in one
/// UPDATE (ours did: every message row-locked until it commits) fails the lint; dropping what the
/// migration added does not.
#[test]
fn a_rollback_script_is_held_to_the_lock_rules_not_to_the_compatibility_ones() {
    let project = ProjectCopy::new();
    project.write(
        "rollbacks/20251116173502_backfill_messages_auth_user_id.sql",
        "UPDATE public.messages SET auth_user_id = NULL WHERE auth_user_id IS NOT NULL;\n",
    );
    let report = lint(&project.path());
    assert_fails_on(&report, "lint.static.xtask-unbatched-backfill.rollback.20251116173502.1");
    let finding = report.check("lint.static.xtask-unbatched-backfill.rollback.20251116173502.1").expect("finding");
    assert!(finding.value.as_deref().is_some_and(|v| v.starts_with("rollbacks/20251116173502_")), "{finding:?}");
    // The rollback of 20251116173500 drops a column, a trigger and a function: not findings.
    assert!(!report.checks.iter().any(|c| c.id.contains(".rollback.20251116173500.")), "{:#?}", report.checks);
}

/// Linting is CPU work: SIGTERM (a cancelled CI job) ended the run only after the last file. On
/// a large file it now ends at once, with exit 2 and what stopped it.
#[test]
fn a_long_lint_ends_on_sigterm() {
    let project = ProjectCopy::new();
    let statements: String = (0..120_000)
        .map(|i| {
            if i % 3 == 0 {
                format!("alter table public.messages add column c{i} text;\n")
            } else {
                format!("create index idx{i} on public.messages (id);\n")
            }
        })
        .collect();
    project.write("migrations/20251116173507_swap_message_policies.sql", &statements);
    let child = std::process::Command::new(crate::support::xtask_bin())
        .args(["db-lint", "--supabase-dir"])
        .arg(project.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn xtask");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(kill.is_ok_and(|s| s.success()));
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: terminated"), "{stderr}");
}
