//! db-rollback-new writes the rollback of each pending migration from the catalog before and
//! after it, and proves it on the spot: our own eight migrations, their hand-written rollbacks
//! removed, get scripts that pass db-rollback-test unedited and are no longer than ours.

use xtask::{flags::DbRollbackNew, report::Report, report::Status};

use crate::support::{any_backend, assert_passes, local_test, registered, ProjectCopy};

/// Statements of a script: its lines less comments and blank ones.
fn code_lines(text: &str) -> usize {
    text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--")).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_migrations_get_rollbacks_that_pass_the_proof_unedited() {
    let project = ProjectCopy::new();
    let dir = project.path();
    let hand: Vec<(String, String)> = std::fs::read_dir(dir.join("rollbacks"))
        .expect("rollbacks")
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().to_string(), std::fs::read_to_string(e.path()).expect("read")))
        .collect();
    assert_eq!(hand.len(), 8);
    for (name, _) in &hand {
        std::fs::remove_file(dir.join("rollbacks").join(name)).expect("remove");
    }
    let mut local = local_test(&dir, any_backend());
    local.pending.since = Some("20251116173500".into());
    let flags = DbRollbackNew { local, versions: Vec::new(), force: false };
    let mut report = Report::quiet("db-rollback-new");
    flags.run_into(&mut report).await.expect("db-rollback-new");
    let report = registered(report);
    assert_passes(&report);
    for (name, text) in &hand {
        let version = &name[..14];
        let written = report.check(&format!("rollback_new.write.{version}")).expect("written");
        assert_ne!(written.status, Status::Fail, "{written:?}");
        let step = report.check(&format!("rollback.step.{version}")).expect("proven alone");
        assert_eq!(step.status, Status::Pass, "{step:?}");
        let generated = std::fs::read_to_string(dir.join("rollbacks").join(name)).expect("generated");
        assert!(code_lines(&generated) <= code_lines(text), "{name} is longer than ours:\n{generated}");
    }
    assert_eq!(report.check("rollback.catalog").map(|c| c.status), Some(Status::Pass));
    // What it cannot undo is in the header: the backfill's values.
    let backfill = std::fs::read_to_string(dir.join("rollbacks/20251116173502_backfill_messages_auth_user_id.sql"))
        .expect("backfill rollback");
    assert!(backfill.contains("-- What it cannot undo:") && backfill.contains("SET auth_user_id = NULL"), "{backfill}");
    let concurrently = std::fs::read_to_string(dir.join("rollbacks/20251116173504_index_messages_auth_user_id.sql"))
        .expect("index rollback");
    assert!(
        concurrently.contains("DROP INDEX CONCURRENTLY IF EXISTS public.idx_messages_auth_user_id;"),
        "{concurrently}"
    );

    // Asked again for one that has a script: written beside it, never over it.
    let mut local = local_test(&dir, any_backend());
    local.pending.since = Some("20251116173500".into());
    let flags = DbRollbackNew { local, versions: vec!["20251116173507".into()], force: false };
    let mut report = Report::quiet("db-rollback-new");
    flags.run_into(&mut report).await.expect("again");
    let value = report.check("rollback_new.write.20251116173507").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(value.contains("20251116173507_swap_message_policies.sql.new"), "{value}");
}

/// Patterns public projects showed the first generator getting wrong: a new table's key and
/// unique indexes dropped before the table (Postgres refuses), a bucket insert undone as a
/// "backfill" of every bucket column, rows a file inserts neither deleted nor declared, and a
/// widened CHECK put back without saying that rows written since can stop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tables_buckets_inserted_rows_and_widened_checks_are_undone_or_said() {
    let forward = "create table public.tags (id int primary key, label text unique);\n\
                   alter table public.tags enable row level security;\n\
                   insert into storage.buckets (id, name, public) values ('covers', 'covers', false);\n\
                   alter table public.colours drop constraint colours_name_check;\n\
                   alter table public.colours add constraint colours_name_check check (name in ('red', 'blue', 'green'));\n\
                   insert into public.colours (id, name) values (100, 'green');\n\
                   grant update (name) on public.colours to authenticated;\n\
                   alter default privileges in schema public grant select on tables to anon;\n";
    let project = crate::support::platform_with_pending(forward, "select 1;\n", "");
    let dir = project.path().join("supabase");
    std::fs::remove_file(dir.join("rollbacks/20250301000000_under_test.sql")).expect("no script yet");
    let baseline = "create table public.colours (id int primary key, name text check (name in ('red', 'blue')));\n\
                    alter table public.colours enable row level security;\n\
                    insert into public.colours values (1, 'red');\n";
    std::fs::write(dir.join("migrations/20250115000000_colours.sql"), baseline).expect("baseline");
    let flags =
        DbRollbackNew { local: local_test(&dir, any_backend()), versions: vec!["20250301000000".into()], force: false };
    let mut report = Report::quiet("db-rollback-new");
    flags.run_into(&mut report).await.expect("db-rollback-new");
    let report = registered(report);
    for id in ["rollback.step.20250301000000", "rollback.catalog", "rollback.data"] {
        assert_eq!(report.check(id).map(|c| c.status), Some(Status::Pass), "{id}: {:#?}", report.checks);
    }
    let script = std::fs::read_to_string(dir.join("rollbacks/20250301000000_under_test.sql")).expect("written");
    assert!(script.contains("DROP TABLE IF EXISTS public.tags;") && !script.contains("DROP INDEX"), "{script}");
    assert!(script.contains("DELETE FROM storage.buckets WHERE id::text = 'covers';"), "{script}");
    assert!(!script.contains("UPDATE storage.buckets"), "{script}");
    assert!(script.contains("DELETE FROM public.colours WHERE id::text = '100';"), "{script}");
    assert!(script.contains("REVOKE UPDATE (name) ON TABLE public.colours FROM authenticated;"), "{script}");
    assert!(
        script
            .contains("ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE SELECT ON TABLES FROM anon;"),
        "{script}"
    );
    let written = report.check("rollback_new.write.20250301000000").expect("written");
    assert_eq!(written.status, Status::Warn, "{written:?}");
    let d = written.detail.clone().unwrap_or_default();
    assert!(d.contains("constraint colours_name_check on public.colours: put back as it was"), "{d}");
    assert!(d.contains("bucket covers: created by the file"), "{d}");
}
