//! db-rehearse catches a migration that blocks the app: the runbook's part 1 holds ACCESS
//! EXCLUSIVE on messages through its whole backfill; ours never holds it for more than a moment.
//! (Margins are wide: the runbook's hold is the backfill of 100,000 rows, ours a catalog update.)

use xtask::{
    flags::{DbRehearse, Pg, Project},
    report::{Report, Status},
};

use crate::support::{any_backend, assert_fails_on, detail, our_supabase_dir, ProjectCopy};

fn rehearse(dir: &std::path::Path, summary: &std::path::Path) -> DbRehearse {
    DbRehearse {
        project: Project { supabase_dir: dir.to_path_buf(), json: None },
        pg: Pg { backend: any_backend(), image: None, db_url: None, other_major: false },
        pending: Default::default(),
        users: 200,
        conversations_per_user: 5,
        messages: 100_000,
        like: None,
        target_rows: Vec::new(),
        max_blocking: "300ms".parse().unwrap(),
        runs: 3,
        summary: summary.to_path_buf(),
        batch: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runbook_migration_blocks_messages_for_its_whole_backfill() {
    let project = ProjectCopy::new();
    for dir in ["migrations", "rollbacks"] {
        for entry in std::fs::read_dir(project.path().join(dir)).expect("dir").flatten() {
            if entry.file_name().to_string_lossy().starts_with("2025111617350") {
                std::fs::remove_file(entry.path()).expect("remove");
            }
        }
    }
    let fixture = |f: &str| {
        std::fs::read_to_string(format!("{}/fixtures/runbook/{f}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
    };
    for f in ["20251116173500_add_auth_user_id_to_messages_part1.sql", "20251116173501_update_add_message_function.sql"]
    {
        project.write(&format!("migrations/{f}"), &fixture(f)).write(&format!("rollbacks/{f}"), "SELECT 1;\n");
    }
    let summary = project.dir.path().join("rehearsal.json");
    let mut report = Report::quiet("db-rehearse");
    rehearse(&project.path(), &summary).run_into(&mut report).await.expect("rehearse");
    // Line 5 of the fixture: ALTER TABLE public.messages ADD COLUMN …
    let id = report
        .checks
        .iter()
        .find(|c| c.id.starts_with("rehearse.blocking.20251116173500.") && c.status == Status::Fail)
        .map(|c| c.id.clone())
        .expect("a blocking statement in part 1");
    assert_fails_on(&report, &id);
    let d = detail(&report, &id);
    assert!(d.contains("AccessExclusiveLock on messages") && d.contains("SELECT, INSERT, UPDATE, DELETE"), "{d}");
    assert!(d.contains("safe pattern:"), "{d}");
    let trace = detail(&report, "rehearse.lock_trace");
    assert!(trace.contains("a second session could not: SELECT on messages"), "the probe proves the block:\n{trace}");
    assert!(summary.is_file(), "the backfill throughput is recorded for db-validate");
    // What users feel: their requests stalled behind part 1's ACCESS EXCLUSIVE for its backfill.
    assert_fails_on(&report, "rehearse.latency.20251116173500");
    let d = detail(&report, "rehearse.latency.20251116173500");
    assert!(d.contains("the worst stall: a signed-in user's"), "{d}");
}

/// No table lock of our migration blocks the app for long; its backfill's row locks do (one
/// UPDATE holds every message it touched until it commits: updates and deletes of existing
/// messages, and deletes of conversations and users that cascade to them, wait). The row-lock
/// probes see it; a batched backfill is what would pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_migration_with_its_batched_backfill_blocks_nothing_past_max_blocking() {
    let summary = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-rehearse");
    rehearse(&our_supabase_dir(), &summary.path().join("rehearsal.json"))
        .run_into(&mut report)
        .await
        .expect("rehearse");
    let failed: Vec<&str> = report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id.as_str()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    let trace = detail(&report, "rehearse.lock_trace");
    // 100,000 messages in batches of about 10,000 rows (the directive's), each its own transaction.
    assert!(trace.contains("batched backfill: ") && trace.contains("batch(es), each its own transaction"), "{trace}");
    // The workload of a signed-in user ran through every file, and no request stalled.
    let latency = report.check("rehearse.latency").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(latency.contains("reading and editing conversations, messages, users"), "{latency}");
    assert_eq!(report.check("rehearse.latency.20251116173502").map(|c| c.status), Some(Status::Pass));
    let plot = report.check("rehearse.latency_plot").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(std::fs::read_to_string(&plot).is_ok_and(|svg| svg.contains("<circle")), "{plot}");
    let backfill = report.check("rehearse.backfill").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(backfill.starts_with("100000 rows in"), "{backfill}");
    let speed = detail(&report, "rehearse.query_speed");
    assert!(speed.contains("count(*) of messages"), "{speed}");
    // #23.9: the rollbacks are traced too, newest first, and block nothing past the budget.
    for v in ["20251116173507", "20251116173502", "20251116173500"] {
        let id = format!("rehearse.apply.rollback.{v}");
        assert_eq!(report.check(&id).map(|c| c.status), Some(Status::Pass), "{id}: {:#?}", report.checks);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_backfill_as_one_update_fails_the_row_lock_check() {
    // Without its directive the file is one UPDATE, as `supabase db push` runs it: every message
    // it touched stays row-locked until it commits.
    let project = ProjectCopy::new();
    let rel = "migrations/20251116173502_backfill_messages_auth_user_id.sql";
    let one_update = project.read(rel).replace("-- xtask:backfill batch-size=10000\n", "");
    assert!(!one_update.contains("xtask:backfill"));
    project.write(rel, &one_update);
    let summary = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-rehearse");
    rehearse(&project.path(), &summary.path().join("rehearsal.json")).run_into(&mut report).await.expect("rehearse");
    let blocking: Vec<_> = report.checks.iter().filter(|c| c.id.starts_with("rehearse.blocking.")).collect();
    assert!(blocking.is_empty(), "{blocking:#?}");
    let failed: Vec<&str> = report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id.as_str()).collect();
    assert!(failed.contains(&"rehearse.row_blocking.20251116173502.9.messages"), "{failed:?}");
    // And a signed-in user's edits, running meanwhile, waited for it.
    assert!(failed.contains(&"rehearse.latency.20251116173502"), "{failed:?}");
    // The static rule said so first, in milliseconds.
    assert!(failed.contains(&"lint.static.xtask-unbatched-backfill.20251116173502.9"), "{failed:?}");
    assert!(
        failed.iter().all(|id| id.starts_with("rehearse.row_blocking.20251116173502.")
            || *id == "rehearse.latency.20251116173502"
            || id.starts_with("lint.static")),
        "{failed:?}"
    );
    let evidence = detail(&report, "rehearse.evidence");
    assert!(evidence.contains("xtask-unbatched-backfill — measured: "), "{evidence}");
    assert!(
        detail(&report, "rehearse.latency.20251116173502").contains("the worst stall: a signed-in user's edit waited")
    );
    let d = detail(&report, "rehearse.row_blocking.20251116173502.9.messages");
    assert!(d.contains("updates and deletes of existing rows of messages blocked for"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn like_copies_the_shape_of_production_read_only() {
    // "Production": our baseline with 3 users × 2 conversations × 5 messages.
    let prod = crate::support::start(any_backend()).await;
    let mut conn = prod.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    let mut conn = prod.connect().await.expect("connect");
    let dir = xtask::runner::scan(&our_supabase_dir()).expect("scan");
    xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("baseline");
    let size = app::fixture::FixtureSize { users: 3, conversations_per_user: 2, messages_per_conversation: 5, seed: 9 };
    let mut tx = sqlx::Connection::begin(&mut conn).await.expect("begin");
    app::fixture::Fixture::new(size).load(&mut tx).await.expect("data");
    tx.commit().await.expect("commit");

    let summary = tempfile::tempdir().expect("tmp");
    let mut flags = rehearse(&our_supabase_dir(), &summary.path().join("rehearsal.json"));
    flags.like = Some(prod.url().to_string());
    let mut report = Report::quiet("db-rehearse");
    flags.run_into(&mut report).await.expect("rehearse");
    assert_eq!(
        report.check("rehearse.like").and_then(|c| c.value.clone()).as_deref(),
        Some("3 users, 6 conversations, 30 messages")
    );
    let data = report.check("rehearse.data").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(data.starts_with("30 messages;"), "{data}");
    // This "production" still grants new objects automatically (the 2024 defaults), which local
    // runs do not model: recorded, and said with the setting that fixes it.
    let grants = report.check("target.grants_model").expect("the target's grants model is recorded");
    assert_eq!(grants.value.as_deref(), Some("automatic grants on new objects"));
    assert_eq!(grants.status, xtask::report::Status::Warn, "{:?}", grants.detail);
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_fails_under_the_rehearsal_is_a_failed_check_not_an_error() {
    let project = ProjectCopy::new();
    project.write(
        "migrations/20251116173507_swap_message_policies.sql",
        "create index concurrently messages_nope on public.messages (no_such_column);\n",
    );
    let summary = tempfile::tempdir().expect("tmp");
    let mut flags = rehearse(&project.path(), &summary.path().join("rehearsal.json"));
    flags.messages = 2_000;
    let mut report = Report::quiet("db-rehearse");
    flags.run_into(&mut report).await.expect("a failing migration is a finding, not an environment error");
    assert_fails_on(&report, "rehearse.apply.20251116173507");
    let d = detail(&report, "rehearse.apply.20251116173507");
    assert!(d.contains("20251116173507_swap_message_policies.sql:1") && d.contains("no_such_column"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_is_quick_here_fails_at_the_targets_size() {
    // A CHECK without NOT VALID scans messages under ACCESS EXCLUSIVE: milliseconds at 20,000
    // rows, far more at the 500 M rows the target is said to have.
    let project = ProjectCopy::new();
    let file = "20251116173508_check_content.sql";
    project
        .write(
            &format!("migrations/{file}"),
            "ALTER TABLE public.messages ADD CONSTRAINT messages_content_length CHECK (length(content) >= 0);\n",
        )
        .write(&format!("rollbacks/{file}"), "ALTER TABLE public.messages DROP CONSTRAINT messages_content_length;\n");
    let summary = tempfile::tempdir().expect("tmp");
    let mut flags = rehearse(&project.path(), &summary.path().join("rehearsal.json"));
    flags.messages = 20_000;
    let mut report = Report::quiet("db-rehearse");
    flags.clone().run_into(&mut report).await.expect("rehearse");
    let scan = |r: &Report| r.checks.iter().any(|c| c.id == "rehearse.blocking.20251116173508.1.messages");
    assert!(!scan(&report), "quick at rehearsal size");

    flags.target_rows = vec![("public.messages".into(), 5e8)];
    let mut report = Report::quiet("db-rehearse");
    flags.run_into(&mut report).await.expect("rehearse");
    assert!(scan(&report), "{:#?}", report.checks.iter().filter(|c| c.status == Status::Fail).collect::<Vec<_>>());
    let d = detail(&report, "rehearse.blocking.20251116173508.1.messages");
    assert!(d.starts_with("at the target's size: ") && d.contains("at the target's 500000000 rows"), "{d}");

    // A misspelt table silently skipped the size judgement: it is a usage error now.
    flags.target_rows = vec![("public.mesages".into(), 5e8)];
    let err = flags.run_into(&mut Report::quiet("db-rehearse")).await.expect_err("a typo, exit 2");
    assert!(format!("{err:#}").contains("no table public.mesages"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_projects_rehearsal_loads_its_seed_and_puts_static_and_measured_evidence_together() {
    let project = ProjectCopy::empty();
    let hazards = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/hazards/");
    let read = |f: &str| std::fs::read_to_string(format!("{hazards}{f}")).expect("fixture");
    project
        .write("migrations/20250101000000_notes.sql", &read("00_notes.sql"))
        .write("migrations/20250201000001_set_not_null.sql", &read("05_set_not_null.sql"))
        .write(
            "seed.sql",
            "insert into auth.users (id, email) select ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, \
             'u' || g || '@example.test' from generate_series(1, 50) g;\n\
             insert into public.notes select g, ('00000000-0000-0000-0000-' || lpad((1 + g % 50)::text, 12, '0'))::uuid, \
             'note ' || g from generate_series(1, 20000) g;\n",
        );
    let summary = tempfile::tempdir().expect("tmp");
    let mut flags = rehearse(&project.path(), &summary.path().join("rehearsal.json"));
    flags.pending.since = Some("20250201000001".into());
    let mut report = Report::quiet("db-rehearse");
    flags.run_into(&mut report).await.expect("rehearse");
    let data = report.check("rehearse.data").expect("data");
    assert_eq!(data.status, Status::Info, "{data:?}");
    assert!(data.value.clone().unwrap_or_default().starts_with("200"), "the seed's 20,000 notes: {data:?}");
    assert_fails_on(&report, "lint.static.adding-not-nullable-field.20250201000001.1");
    let evidence = detail(&report, "rehearse.evidence");
    assert!(
        evidence.contains("20250201000001_set_not_null.sql:1 adding-not-nullable-field — measured: ")
            && evidence.contains("held AccessExclusiveLock on notes"),
        "{evidence}"
    );
    let lint = detail(&report, "lint.static.adding-not-nullable-field.20250201000001.1");
    assert!(lint.contains("\nmeasured by the rehearsal: "), "{lint}");
}
