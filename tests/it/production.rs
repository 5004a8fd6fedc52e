//! The production path against a real Postgres playing production (a second ephemeral server
//! loaded with the baseline and data): direct mode end to end, and the hazards it must stop.

use std::path::Path;

use sqlx::Connection;
use xtask::{
    analysis::catalog::CatalogSnapshot,
    flags::{DbBackup, DbPush, DbRollback, DbValidate, DbVerify, Project, RestorePg, TargetArgs},
    pg::EphemeralPostgres,
    report::{Report, Status},
};

use crate::support::{
    any_backend, assert_fails_on, assert_passes, detail, our_supabase_dir, session_of, start, ProjectCopy,
};

/// "Production": the Supabase layer, our baseline and the app's data.
pub async fn production() -> EphemeralPostgres {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    let mut conn = pg.connect().await.expect("connect");
    let dir = xtask::runner::scan(&our_supabase_dir()).expect("scan");
    xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("baseline");
    let size = app::fixture::FixtureSize { users: 5, conversations_per_user: 2, messages_per_conversation: 4, seed: 7 };
    let mut tx = conn.begin().await.expect("begin");
    app::fixture::Fixture::new(size).load(&mut tx).await.expect("data");
    tx.commit().await.expect("commit");
    pg
}

pub fn project(dir: &Path) -> Project {
    Project { supabase_dir: dir.to_path_buf(), json: None }
}

pub fn target(pg: &EphemeralPostgres) -> TargetArgs {
    TargetArgs { db_url: Some(pg.url().to_string()), linked: false }
}

pub fn restore() -> RestorePg {
    RestorePg { backend: any_backend(), image: None, restore_db_url: None, restore_on_target_server: false }
}

pub async fn validate(dir: &Path, pg: &EphemeralPostgres) -> Report {
    let mut report = Report::quiet("db-validate");
    let flags = DbValidate { project: project(dir), target: target(pg), rehearsal: dir.join("rehearsal.json") };
    let target = xtask::production::Target::resolve(&flags.target, dir).expect("target");
    xtask::db_validate::validate(&mut session_of(&target).await, dir, &flags.rehearsal, &mut report)
        .await
        .expect("validate");
    report
}

pub fn backup_flags(dir: &Path, pg: &EphemeralPostgres, backups: &Path) -> DbBackup {
    DbBackup { project: project(dir), target: target(pg), restore: restore(), out: backups.to_path_buf(), verify: None }
}

pub fn push_flags(dir: &Path, pg: &EphemeralPostgres, backups: &Path) -> DbPush {
    DbPush {
        project: project(dir),
        target: target(pg),
        restore: restore(),
        out: backups.to_path_buf(),
        max_backup_age: "1h".parse().unwrap(),
        lock_timeout: "5s".parse().unwrap(),
        lock_attempts: 1,
        yes: true,
        rollback_on_failure: false,
        rehearsal: dir.join("rehearsal.json"),
        batch: Default::default(),
        log_dir: Some(backups.join("migration-log")),
        as_user: None,
    }
}

pub async fn history(pg: &EphemeralPostgres) -> Vec<String> {
    let mut conn = pg.connect().await.expect("connect");
    xtask::runner::applied_versions(&mut conn).await.expect("history").into_iter().map(|(v, _, _)| v).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_validate_backup_push_verify_rollback_validate() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let baseline = CatalogSnapshot::take(&mut prod.connect().await.expect("c")).await.expect("snapshot");

    let report = validate(&dir, &prod).await;
    assert_passes(&report);
    let pending = xtask::runner::scan(&dir).expect("scan").files.len() - 1;
    assert_eq!(report.check("drift.pending").and_then(|c| c.value.clone()), Some(pending.to_string()));

    let mut report = Report::quiet("db-backup");
    let flags = backup_flags(&dir, &prod, backups.path());
    let backup_dir = flags.run_into(&mut report).await.expect("backup");
    assert_passes(&report);
    for id in ["backup.checksums", "backup.restore", "backup.row_counts", "backup.catalog"] {
        assert_eq!(report.check(id).map(|c| c.status), Some(Status::Pass), "{id}: {}", detail(&report, id));
    }
    let manifest = xtask::production::backup::Manifest::read(&backup_dir).expect("manifest");
    assert_eq!(manifest.tables.get("public.messages"), Some(&40));
    assert!(manifest.verified.as_ref().is_some_and(|v| v.ok));
    let data = std::fs::read_to_string(backup_dir.join("data.sql")).expect("data.sql");
    assert!(data.contains("COPY public.messages"), "the backup holds the data, not just the schema");

    let mut report = Report::quiet("db-push");
    push_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("push");
    assert_passes(&report);
    assert_eq!(report.check("push.backup").map(|c| c.status), Some(Status::Pass), "reused the verified backup");
    // One session reads (and holds the migration lock), one connection changes (#23: was 9).
    let opened = report.check("session.connections").and_then(|c| c.value.clone());
    assert_eq!(opened.as_deref(), Some("2"), "connections one push opened");
    assert!(report.check("backup.taken").is_none(), "no second backup within --max-backup-age");
    assert_eq!(history(&prod).await.len(), pending + 1);
    // The record holds what the run printed: every check, its numbers, and who pushed where.
    let record = report.check("push.record").and_then(|c| c.value.clone()).expect("record");
    let md = std::fs::read_to_string(&record).expect("record file");
    assert!(record.ends_with("_push_20251116173500-20251116173507.md"), "{record}");
    assert!(md.starts_with("# db-push record\n") && md.contains("- who: ") && md.contains("- target: "), "{md}");
    assert!(!md.contains(":postgres@") || !md.contains("s3cret"), "no password in the record");
    for c in report.checks.iter().filter(|c| c.id != "push.record") {
        assert!(md.contains(&format!("`{}`", c.id)), "{} missing from the record", c.id);
        if let Some(v) = &c.value {
            assert!(md.contains(&v.replace('|', "\\|")), "{}'s value {v} missing from the record", c.id);
        }
    }
    assert!(md.contains("batched backfill of public.messages: 40 row(s)"), "{md}");
    // The app's queries, timed on the target as its busiest signed-in user, before and after.
    let speed = detail(&report, "push.query_speed");
    assert_eq!(speed.lines().count(), 6, "a header and the app's five queries:\n{speed}");
    assert!(speed.contains("load one conversation (select)") && speed.contains(" → "), "{speed}");
    assert!(std::path::Path::new(&record.replace(".md", ".json")).is_file());

    let mut report = Report::quiet("db-verify");
    let flags = DbVerify { project: project(&dir), target: target(&prod) };
    let t = xtask::production::Target::resolve(&flags.target, &dir).expect("target");
    xtask::db_verify::verify(&mut session_of(&t).await, &dir, &mut report).await.expect("verify");
    assert_passes(&report);
    assert_eq!(report.check("post.new_policies").map(|c| c.status), Some(Status::Pass));

    let mut report = Report::quiet("db-rollback");
    let flags = DbRollback {
        project: project(&dir),
        target: target(&prod),
        restore: restore(),
        lock_timeout: "5s".parse().unwrap(),
        lock_attempts: 1,
        yes: true,
        log_dir: Some(backups.path().join("migration-log")),
    };
    flags.run_into(&mut report).await.expect("rollback");
    assert_passes(&report);
    assert_eq!(report.check("rollback.leftovers").map(|c| c.status), Some(Status::Pass));
    assert_eq!(history(&prod).await, ["20251101000000"]);
    let after = CatalogSnapshot::take(&mut prod.connect().await.expect("c")).await.expect("snapshot");
    assert_eq!(baseline.diff(&after), vec![], "rollback restored the production catalog");

    let report = validate(&dir, &prod).await;
    assert_passes(&report);
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_hazard_fails_validate_and_push_refuses_to_start() {
    let prod = production().await;
    sqlx::raw_sql("INSERT INTO public.conversations (title) VALUES ('no owner')")
        .execute(&mut prod.connect().await.expect("c"))
        .await
        .expect("hazard");
    let dir = our_supabase_dir();
    let report = validate(&dir, &prod).await;
    assert_fails_on(&report, "pre.null_conversation_auth_user_id");

    let backups = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-push");
    push_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("push");
    assert_fails_on(&report, "push.refused");
    assert!(report.check("backup.taken").is_none() && report.check("push.plan").is_none(), "stopped at validation");
    assert_eq!(history(&prod).await, ["20251101000000"]);
    prod.close().await.expect("close");
}

/// Rows written to user tables since the statistics were reset, as the server counts them.
async fn write_counters(pg: &EphemeralPostgres) -> i64 {
    let mut conn = pg.connect().await.expect("connect");
    sqlx::query_scalar("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint FROM pg_stat_user_tables")
        .fetch_one(&mut conn)
        .await
        .expect("stats")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_never_writes() {
    let prod = production().await;
    sqlx::raw_sql("CREATE SEQUENCE public.tickets").execute(&mut prod.connect().await.expect("c")).await.expect("seq");
    let project = ProjectCopy::new();
    // A check that tries to write: it must fail with a read-only error and change nothing.
    project.write(
        "checks/pre/99_writes.sql",
        "SELECT 'takes_a_ticket' AS id, true AS ok, nextval('public.tickets') AS value, '' AS detail",
    );
    // Regression: writes of other shapes failed with syntax errors instead of saying why.
    project
        .write("checks/pre/98_inserts.sql", "-- title: inserts\nINSERT INTO public.users (email) VALUES ('x@y.test') RETURNING 'x', true, 1, ''")
        .write(
            "checks/pre/97_deletes.sql",
            "WITH gone AS (DELETE FROM public.messages RETURNING id) SELECT 'deletes' AS id, true AS ok, count(*) AS value, '' AS detail FROM gone",
        );
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let counters = write_counters(&prod).await;
    let catalog = CatalogSnapshot::take(&mut prod.connect().await.expect("c")).await.expect("snapshot");

    let report = validate(&project.path(), &prod).await;
    assert_fails_on(&report, "pre.writes");
    for id in ["pre.writes", "pre.inserts", "pre.deletes"] {
        assert_fails_on(&report, id);
        assert!(detail(&report, id).contains("read-only"), "{id}: {}", detail(&report, id));
    }

    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(write_counters(&prod).await, counters, "validate wrote rows");
    let after = CatalogSnapshot::take(&mut prod.connect().await.expect("c")).await.expect("snapshot");
    assert_eq!(catalog.diff(&after), vec![]);
    let ticket: Option<i64> = sqlx::query_scalar("SELECT last_value FROM public.tickets WHERE is_called")
        .fetch_optional(&mut prod.connect().await.expect("c"))
        .await
        .expect("seq");
    assert_eq!(ticket, None, "the sequence was never advanced");

    // The stand-in still grants new objects automatically (the 2024 platform): validate says
    // local runs model otherwise; once its default privileges are gone, as on hosted Supabase
    // since 2026-10-30, the two agree.
    let grants = report.check("target.grants_model").expect("grants model read");
    assert_eq!((grants.status, grants.value.as_deref()), (Status::Warn, Some("automatic grants on new objects")));
    assert!(grants.detail.as_deref().is_some_and(|d| d.contains("[xtask] platform = \"2024\"")), "{grants:?}");
    sqlx::raw_sql(
        "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public REVOKE ALL ON TABLES FROM anon, authenticated, service_role",
    )
    .execute(&mut prod.connect().await.expect("c"))
    .await
    .expect("switch");
    let report = validate(&project.path(), &prod).await;
    let grants = report.check("target.grants_model").expect("grants model read");
    assert_eq!((grants.status, grants.value.as_deref()), (Status::Pass, Some("explicit grants only")));
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_or_truncated_backup_fails_verification() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-backup");
    let flags = backup_flags(&dir, &prod, backups.path());
    let backup_dir = flags.run_into(&mut report).await.expect("backup");
    assert_passes(&report);

    let data = backup_dir.join("data.sql");
    let text = std::fs::read_to_string(&data).expect("data");
    for (what, broken) in [
        ("truncated", text[..text.len() / 2].to_string()),
        ("corrupted", text.replacen("Message 1 of conversation", "Message 9 of conversation", 1)),
    ] {
        std::fs::write(&data, &broken).expect("break");
        let mut report = Report::quiet("db-backup");
        let flags = DbBackup { verify: Some(backup_dir.clone()), ..flags.clone() };
        flags.run_into(&mut report).await.expect("verify");
        assert_fails_on(&report, "backup.checksums");
        assert!(detail(&report, "backup.checksums").contains("data.sql"), "{what}");
        let manifest = xtask::production::backup::Manifest::read(&backup_dir).expect("manifest");
        assert!(manifest.verified.is_some_and(|v| v.ok), "{what}: the first verdict is never rewritten");
        assert!(
            xtask::production::backup::latest_verified(
                backups.path(),
                &xtask::production::Target::resolve(&flags.target, &dir).expect("t").identify().await.expect("id"),
                std::time::Duration::from_secs(3600)
            )
            .is_none(),
            "{what}: a failed backup never counts"
        );
    }
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_applied_migration_is_reported_as_drift() {
    let prod = production().await;
    let project = ProjectCopy::new();
    project.edit(
        "migrations/20251101000000_baseline.sql",
        "CREATE INDEX idx_conversations_user_id",
        "CREATE INDEX idx_conversations_user",
    );
    project.write("migrations/20240101000000_ancient.sql", "select 1;");
    let report = validate(&project.path(), &prod).await;
    assert_fails_on(&report, "drift.edited_after_apply");
    assert!(detail(&report, "drift.edited_after_apply").contains("20251101000000_baseline.sql"));
    assert_fails_on(&report, "drift.out_of_order");
    assert!(detail(&report, "drift.out_of_order").contains("20240101000000_ancient.sql"));
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_blocked_by_a_lock_fails_on_lock_timeout_and_applies_nothing() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    // The app's long transaction: holds ACCESS SHARE on messages until it ends.
    let mut app = prod.connect().await.expect("connect");
    let mut tx = app.begin().await.expect("begin");
    sqlx::query("SELECT count(*) FROM public.messages").execute(&mut *tx).await.expect("read");

    let mut report = Report::quiet("db-push");
    let flags =
        DbPush { lock_timeout: "300ms".parse().unwrap(), lock_attempts: 3, ..push_flags(&dir, &prod, backups.path()) };
    flags.run_into(&mut report).await.expect("push");
    assert_fails_on(&report, "push.apply.20251116173500");
    let d = detail(&report, "push.apply.20251116173500");
    assert!(d.contains("55P03") && d.contains("--lock-timeout 300ms") && d.contains("each of 3 attempt(s)"), "{d}");
    assert!(d.contains("attempt 3: waited too long for a lock") && d.contains("no attempts left"), "{d}");
    assert!(report.check("push.apply.20251116173501").is_none(), "later files not run");
    assert!(detail(&report, "push.rollback_command").contains("cargo xtask db-rollback"));
    tx.rollback().await.expect("end the app's transaction");

    assert_eq!(history(&prod).await, ["20251101000000"]);
    let column: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'auth_user_id')",
    )
    .fetch_one(&mut prod.connect().await.expect("c"))
    .await
    .expect("q");
    assert!(!column, "nothing of the blocked file was applied");
    prod.close().await.expect("close");
}

/// A short lock timeout with retries: the app's transaction holds messages; the push's first
/// attempts time out (queueing the app for at most the timeout each), and once the transaction
/// ends an attempt goes through; the report lists the attempts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_blocked_by_a_lock_retries_and_goes_through_once_the_lock_is_gone() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let mut app = prod.connect().await.expect("connect");
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM public.messages").execute(&mut app).await.expect("read");
    let mut report = Report::quiet("db-push");
    let flags =
        DbPush { lock_timeout: "300ms".parse().unwrap(), lock_attempts: 8, ..push_flags(&dir, &prod, backups.path()) };
    // The app's transaction ends after a few seconds, while the push is retrying.
    let app_ends = async {
        tokio::time::sleep(std::time::Duration::from_secs(4)).await;
        sqlx::raw_sql("ROLLBACK").execute(&mut app).await.expect("end the app's transaction");
    };
    let (pushed, ()) = tokio::join!(flags.run_into(&mut report), app_ends);
    pushed.expect("push");
    assert_passes(&report);
    let d = detail(&report, "push.apply.20251116173500");
    assert!(d.contains("attempt 1: waited too long for a lock") && d.contains("55P03"), "{d}");
    assert_eq!(history(&prod).await.len(), 9, "every file applied");
    prod.close().await.expect("close");
}

pub fn rollback_flags(dir: &Path, pg: &EphemeralPostgres) -> DbRollback {
    DbRollback {
        project: project(dir),
        target: target(pg),
        restore: restore(),
        lock_timeout: "5s".parse().unwrap(),
        lock_attempts: 1,
        yes: true,
        log_dir: Some(std::env::temp_dir().join(format!("xtask-it-migration-log-{}", std::process::id()))),
    }
}

/// Regression: db-rollback replayed the local folder (the broken file included) and exited 2, so a
/// push that failed on its last file could not be undone by the tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_that_fails_on_its_last_file_is_undone_from_the_targets_history() {
    let prod = production().await;
    let project = ProjectCopy::new();
    project.edit(
        "migrations/20251116173507_swap_message_policies.sql",
        "-- xtask:rls-widens",
        "SELECT 1/0;\n-- xtask:rls-widens",
    );
    let backups = tempfile::tempdir().expect("tmp");

    let mut report = Report::quiet("db-push");
    push_flags(&project.path(), &prod, backups.path()).run_into(&mut report).await.expect("push");
    assert_fails_on(&report, "push.apply.20251116173507");
    assert_eq!(history(&prod).await.len(), 8, "7 of 8 files stayed applied");

    let mut report = Report::quiet("db-rollback");
    rollback_flags(&project.path(), &prod).run_into(&mut report).await.expect("db-rollback after a failed push");
    assert_passes(&report);
    assert_eq!(report.check("rollback.plan").and_then(|c| c.value.clone()).as_deref(), Some("7"));
    assert!(report.check("rollback.apply.20251116173507").is_none(), "never applied, never rolled back");
    assert_eq!(report.check("rollback.leftovers").map(|c| c.status), Some(Status::Pass));
    assert_eq!(history(&prod).await, ["20251101000000"]);

    // The same with --rollback-on-failure: the push undoes itself.
    let mut report = Report::quiet("db-push");
    let flags = DbPush { rollback_on_failure: true, ..push_flags(&project.path(), &prod, backups.path()) };
    flags.run_into(&mut report).await.expect("push with --rollback-on-failure");
    assert_fails_on(&report, "push.apply.20251116173507");
    assert_eq!(report.check("rollback.leftovers").map(|c| c.status), Some(Status::Pass), "{report:#?}");
    assert_eq!(history(&prod).await, ["20251101000000"]);
    prod.close().await.expect("close");
}

/// Regression: two pushes could run at once against the same target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_push_or_rollback_is_refused_while_one_runs() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let mut other = prod.connect().await.expect("connect");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(xtask::production::MIGRATION_LOCK_KEY)
        .execute(&mut other)
        .await
        .expect("lock");

    let mut report = Report::quiet("db-push");
    let err = push_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect_err("refused");
    let text = format!("{err:#}");
    assert!(text.contains("holds the migration lock") && text.contains("session "), "{text}");
    let mut report = Report::quiet("db-rollback");
    let err = rollback_flags(&dir, &prod).run_into(&mut report).await.expect_err("refused");
    assert!(format!("{err:#}").contains("holds the migration lock"));
    assert_eq!(history(&prod).await, ["20251101000000"], "nothing ran");

    drop(other);
    let mut report = Report::quiet("db-push");
    push_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("push once the lock is free");
    assert_passes(&report);
    prod.close().await.expect("close");
}

/// Regressions: after a push, every backup failed to verify (the restore re-granted EXECUTE on
/// add_message to anon; a dropped column shifted column positions); `--verify` compared an older
/// backup with the target as it is now and rewrote its good verdict; backups were world-readable
/// and two in one second shared a folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_after_a_push_verify_stay_private_and_keep_their_verdict() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-push");
    push_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("push");
    assert_passes(&report);
    sqlx::raw_sql("ALTER TABLE public.users ADD COLUMN scratch int; ALTER TABLE public.users DROP COLUMN scratch;")
        .execute(&mut prod.connect().await.expect("c"))
        .await
        .expect("a dropped column");

    let mut report = Report::quiet("db-backup");
    let first = backup_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("backup");
    assert_passes(&report);
    assert_eq!(
        report.check("backup.catalog").map(|c| c.status),
        Some(Status::Pass),
        "{}",
        detail(&report, "backup.catalog")
    );
    let mut report = Report::quiet("db-backup");
    let second = backup_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("backup");
    assert_ne!(first, second, "two backups never share a folder");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&first), 0o700, "{}", first.display());
        for entry in std::fs::read_dir(&first).expect("dir").flatten() {
            assert_eq!(mode(&entry.path()), 0o600, "{}", entry.path().display());
        }
    }

    // The target moves on; the first backup still verifies against what it recorded, and its
    // verdict is not rewritten.
    sqlx::raw_sql(
        "CREATE TABLE public.later (id int primary key); ALTER TABLE public.later ENABLE ROW LEVEL SECURITY;",
    )
    .execute(&mut prod.connect().await.expect("c"))
    .await
    .expect("a later change");
    let before = std::fs::read_to_string(first.join("manifest.json")).expect("manifest");
    let mut report = Report::quiet("db-backup");
    let flags = DbBackup {
        verify: Some(first.clone()),
        target: TargetArgs { db_url: None, linked: false },
        ..backup_flags(&dir, &prod, backups.path())
    };
    flags.run_into(&mut report).await.expect("verify");
    assert_passes(&report);
    assert_eq!(std::fs::read_to_string(first.join("manifest.json")).expect("manifest"), before);

    // A restore that differs from the record is said in sentences.
    let catalog = first.join("catalog.json");
    let text = std::fs::read_to_string(&catalog).expect("catalog");
    let edited = text.replacen("\"authenticated, service_role\"", "\"service_role\"", 1);
    assert_ne!(text, edited, "the recorded catalog lists add_message's EXECUTE grants");
    std::fs::write(&catalog, edited).expect("edit");
    let manifest = xtask::production::backup::Manifest::read(&first).expect("manifest");
    let mut report = Report::quiet("db-backup");
    xtask::production::backup::verify(&first, &restore().options(), &mut report).await.expect("verify");
    assert_eq!(manifest.files.len(), 4);
    let d = detail(&report, "backup.checksums");
    assert!(d.contains("catalog.json") && d.contains("corrupted or truncated"), "{d}");
    prod.close().await.expect("close");
}

/// Regression: an interrupted push (SIGTERM, SIGHUP) left its `ALTER TABLE … ADD COLUMN` queued
/// on the server behind the app's transaction, blocking every later read, while the tool said
/// only that the ephemeral Postgres was removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_push_leaves_nothing_queued_on_the_target() {
    let bin = crate::support::xtask_bin();
    for signal in ["TERM", "HUP"] {
        let prod = production().await;
        // The app's long transaction: the push's ALTER TABLE queues behind it.
        let mut app = prod.connect().await.expect("connect");
        let mut tx = app.begin().await.expect("begin");
        sqlx::query("SELECT count(*) FROM public.messages").execute(&mut *tx).await.expect("read");
        let backups = tempfile::tempdir().expect("tmp");
        let backend = any_backend().to_string();
        let mut child = std::process::Command::new(&bin)
            .args(["db-push", "--yes", "--lock-timeout", "60s", "--backend", &backend])
            .arg("--supabase-dir")
            .arg(our_supabase_dir())
            .arg("--out")
            .arg(backups.path())
            .arg("--log-dir")
            .arg(backups.path().join("migration-log"))
            .args(["--db-url", prod.url()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn xtask");
        let mut watch = prod.connect().await.expect("connect");
        let waiting =
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cargo-xtask' AND wait_event_type = 'Lock'";
        let mut queued = 0i64;
        // Validate, backup and its verification come first: minutes on a loaded CI machine.
        for _ in 0..3000 {
            queued = sqlx::query_scalar(waiting).fetch_one(&mut watch).await.expect("q");
            if queued > 0 {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let out = child.wait_with_output().expect("output");
                panic!(
                    "SIG{signal}: the push ended ({status}) before queueing: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(queued, 1, "SIG{signal}: the push's ALTER TABLE waits behind the app");
        let kill = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status();
        assert!(kill.is_ok_and(|s| s.success()));
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "SIG{signal}: {stderr}");
        assert!(
            stderr.contains("terminated") && stderr.contains("cancelled our active statement"),
            "SIG{signal}: {stderr}"
        );
        assert!(stderr.contains("history holds 1 version(s), the newest 20251101000000"), "SIG{signal}: {stderr}");
        let ours: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cargo-xtask'")
                .fetch_one(&mut watch)
                .await
                .expect("q");
        assert_eq!(ours, 0, "SIG{signal}: no session of ours is left on the target");
        tx.rollback().await.expect("end the app's transaction");
        assert_eq!(history(&prod).await, ["20251101000000"]);
        prod.close().await.expect("close");
    }
}

/// Regressions: a history row holding the whole file as one element (older CLIs, `migration
/// repair`) was "edited after apply"; NULL statements were not said to be unknown; the backfill
/// estimate read `reltuples` and said 0 rows for a table never analysed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_compares_statements_and_the_estimate_counts_rows() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let baseline = std::fs::read_to_string(dir.join("migrations/20251101000000_baseline.sql")).expect("baseline");
    let mut conn = prod.connect().await.expect("connect");
    sqlx::query(
        "UPDATE supabase_migrations.schema_migrations SET statements = ARRAY[$1] WHERE version = '20251101000000'",
    )
    .bind(&baseline)
    .execute(&mut conn)
    .await
    .expect("one element");
    let rehearsal = tempfile::tempdir().expect("tmp");
    let summary = rehearsal.path().join("rehearsal.json");
    std::fs::write(
        &summary,
        r#"{"table":"public.messages","rows":1000,"backfill_rows_per_s":1000.0,"backfill_wal_bytes_per_row":500.0,"measured_at":"2026-11-01T00:00:00Z"}"#,
    )
    .expect("summary");
    let target = xtask::production::Target::resolve(&target(&prod), &dir).expect("target");
    let mut report = Report::quiet("db-validate");
    xtask::db_validate::validate(&mut session_of(&target).await, &dir, &summary, &mut report).await.expect("validate");
    assert_passes(&report);
    let estimate = report.check("estimate.backfill").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(estimate.starts_with("40 rows of public.messages"), "{estimate}");

    sqlx::query("UPDATE supabase_migrations.schema_migrations SET statements = NULL")
        .execute(&mut conn)
        .await
        .expect("null");
    let mut report = Report::quiet("db-validate");
    xtask::db_validate::validate(&mut session_of(&target).await, &dir, &summary, &mut report).await.expect("validate");
    assert_passes(&report);
    assert_eq!(report.check("drift.unrecorded_text").map(|c| c.status), Some(Status::Info));
    prod.close().await.expect("close");
}

/// The whole production cycle, twice against the same target: push, a second push of a later
/// migration, verification of the first backup, rollback of both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_push_verify_rollback_twice_on_the_same_target() {
    let prod = production().await;
    let project = ProjectCopy::new();
    let later = ("migrations/20251201000000_add_pinned.sql", "rollbacks/20251201000000_add_pinned.sql");
    let backups = tempfile::tempdir().expect("tmp");
    for cycle in 1..=2 {
        let _ = std::fs::remove_file(project.path().join(later.0));
        let _ = std::fs::remove_file(project.path().join(later.1));
        let mut report = Report::quiet("db-push");
        // A fresh backup each cycle: the first one of cycle 2 is taken after cycle 1's rollback.
        let flags =
            DbPush { max_backup_age: "1s".parse().unwrap(), ..push_flags(&project.path(), &prod, backups.path()) };
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        flags.run_into(&mut report).await.unwrap_or_else(|e| panic!("cycle {cycle}, first push: {e:#}"));
        assert_passes(&report);
        let first_backup = std::path::PathBuf::from(detail(&report, "backup.taken"));
        assert!(first_backup.is_dir(), "cycle {cycle}: {}", first_backup.display());

        project
            .write(later.0, "alter table public.conversations add column pinned boolean not null default false;\n")
            .write(later.1, "alter table public.conversations drop column pinned;\n");
        let mut report = Report::quiet("db-push");
        push_flags(&project.path(), &prod, backups.path())
            .run_into(&mut report)
            .await
            .unwrap_or_else(|e| panic!("cycle {cycle}, second push: {e:#}"));
        assert_passes(&report);
        assert_eq!(report.check("push.plan").and_then(|c| c.value.clone()).as_deref(), Some("1"), "cycle {cycle}");

        let mut report = Report::quiet("db-backup");
        let verify =
            DbBackup { verify: Some(first_backup.clone()), ..backup_flags(&project.path(), &prod, backups.path()) };
        verify.run_into(&mut report).await.unwrap_or_else(|e| panic!("cycle {cycle}, verify: {e:#}"));
        assert_passes(&report);

        let mut report = Report::quiet("db-rollback");
        rollback_flags(&project.path(), &prod)
            .run_into(&mut report)
            .await
            .unwrap_or_else(|e| panic!("cycle {cycle}: {e:#}"));
        assert_passes(&report);
        assert_eq!(report.check("rollback.plan").and_then(|c| c.value.clone()).as_deref(), Some("9"), "cycle {cycle}");
        assert_eq!(report.check("rollback.leftovers").map(|c| c.status), Some(Status::Pass), "cycle {cycle}");
        assert_eq!(history(&prod).await, ["20251101000000"], "cycle {cycle}");
    }
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_projects_own_queries_are_timed_as_the_named_user_and_judged_by_what_their_files_expect() {
    let prod = production().await;
    let project = ProjectCopy::new();
    project
        .write(
            "queries/latest.sql",
            "-- The chat screen: the user's latest messages.\n-- xtask:expect no-join under=2s\n\
             SELECT id, created_at FROM public.messages ORDER BY created_at DESC LIMIT 50;\n",
        )
        .write(
            "queries/joined.sql",
            "-- xtask:expect no-join\nSELECT m.id FROM public.messages m JOIN public.conversations c ON c.id = m.conversation_id;\n",
        );
    let backups = tempfile::tempdir().expect("tmp");
    // Nobody of that name: refused before anything is pushed.
    let flags =
        DbPush { as_user: Some("nobody@example.com".into()), ..push_flags(&project.path(), &prod, backups.path()) };
    let err = flags.run_into(&mut Report::quiet("db-push")).await.expect_err("unknown user");
    assert!(format!("{err:#}").contains("--as-user nobody@example.com: no user of the target's auth.users"), "{err:#}");
    assert_eq!(history(&prod).await.len(), 1, "nothing was pushed: the baseline only");

    let flags =
        DbPush { as_user: Some("USER1@fixture.test".into()), ..push_flags(&project.path(), &prod, backups.path()) };
    let mut report = Report::quiet("db-push");
    flags.run_into(&mut report).await.expect("push");
    let speed = report.check("push.query_speed").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(speed.ends_with("as USER1@fixture.test"), "{speed}");
    let table = detail(&report, "push.query_speed");
    assert!(table.contains("\nlatest | ") && table.contains("\njoined | "), "{table}");
    assert_eq!(report.check("push.query_expect.latest").map(|c| c.status), Some(Status::Pass), "{:#?}", report.checks);
    assert_eq!(report.check("push.query_expect.joined").map(|c| c.status), Some(Status::Fail));
    let d = detail(&report, "push.query_expect.joined");
    assert!(d.contains("it reads 2 table(s) (conversations, messages)"), "{d}");
    // What db-watch holds the push to: these queries as timed right after it.
    let saved = report.check("push.watch_promises").expect("saved");
    assert_eq!(saved.status, Status::Info, "{saved:?}");
    let count: usize = saved.value.as_deref().and_then(|v| v.split(' ').next()?.parse().ok()).unwrap_or(0);
    assert!(count >= 2, "the app's queries and the project's two: {saved:?}");
}
