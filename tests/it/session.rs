//! One production session bound to one target (#23): each fault a green run could hide, against
//! a real Postgres playing production.

use xtask::{
    flags::{DbPush, DbWatch},
    report::{Report, Status},
};

use crate::{
    production::{backup_flags, history, production, project, push_flags, target, validate},
    support::{assert_fails_on, assert_passes, detail, our_supabase_dir},
};

async fn invalid_indexes(pg: &xtask::pg::EphemeralPostgres) -> Vec<String> {
    sqlx::query_scalar("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        .fetch_all(&mut pg.connect().await.expect("connect"))
        .await
        .expect("pg_index")
}

/// Regression (#23.1): a CONCURRENTLY build that hit the lock timeout behind a long
/// REPEATABLE READ snapshot left an invalid index; the report claimed every attempt was made,
/// and a rerun's `IF NOT EXISTS` skipped the invalid index, recorded the file and verified green.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_build_that_times_out_leaves_no_invalid_index_and_a_skipped_invalid_one_fails() {
    let prod = production().await;
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    // A long transaction's snapshot: a CONCURRENTLY build waits for it to end.
    let mut app = prod.connect().await.expect("connect");
    sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1").execute(&mut app).await.expect("snapshot");
    let mut report = Report::quiet("db-push");
    let flags =
        DbPush { lock_timeout: "300ms".parse().unwrap(), lock_attempts: 2, ..push_flags(&dir, &prod, backups.path()) };
    flags.run_into(&mut report).await.expect("push");
    assert_fails_on(&report, "push.apply.20251116173503");
    let d = detail(&report, "push.apply.20251116173503");
    assert!(d.contains("55P03") && d.contains("each of 2 attempt(s)"), "{d}");
    assert!(d.contains("attempt 2: waited too long") && d.contains("dropped the invalid index"), "{d}");
    assert!(!d.contains("DROP INDEX CONCURRENTLY"), "nothing is left to drop by hand: {d}");
    assert_eq!(invalid_indexes(&prod).await, Vec::<String>::new(), "the failed builds' invalid indexes were dropped");
    assert!(!history(&prod).await.contains(&"20251116173503".to_string()), "the failed file is not recorded");
    sqlx::raw_sql("ROLLBACK").execute(&mut app).await.expect("end the snapshot");

    // An invalid index of the same name from elsewhere: IF NOT EXISTS would skip it.
    let mut conn = prod.connect().await.expect("connect");
    sqlx::raw_sql(
        "CREATE UNIQUE INDEX conversations_id_auth_user_id_key ON public.conversations (id, auth_user_id); \
         UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.conversations_id_auth_user_id_key'::regclass",
    )
    .execute(&mut conn)
    .await
    .expect("an invalid index");
    let report = validate(&dir, &prod).await;
    assert_fails_on(&report, "target.invalid_indexes");
    let d = detail(&report, "target.invalid_indexes");
    assert!(d.contains("DROP INDEX CONCURRENTLY public.conversations_id_auth_user_id_key"), "{d}");

    let file = xtask::runner::scan(&dir).expect("scan").files.into_iter().find(|f| f.version == "20251116173503");
    let err =
        xtask::runner::apply(&mut conn, &file.expect("173503")).await.expect_err("an invalid index is no success");
    assert!(err.message.contains("is invalid") && err.message.contains("DROP INDEX CONCURRENTLY"), "{err}");
    assert!(!history(&prod).await.contains(&"20251116173503".to_string()), "not recorded as applied");

    sqlx::raw_sql("DROP INDEX CONCURRENTLY public.conversations_id_auth_user_id_key")
        .execute(&mut conn)
        .await
        .expect("drop");
    let mut report = Report::quiet("db-push");
    push_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("push");
    assert_passes(&report);
    assert_eq!(invalid_indexes(&prod).await, Vec::<String>::new());
    prod.close().await.expect("close");
}

/// Regression (#23.2): backups were matched on host:port/db, which behind Supabase's pooler is
/// every project of a region; another database's verified backup counted for this one, and
/// another database's watch baseline was compared and its push record appended to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_or_baseline_of_another_database_at_the_same_address_never_counts() {
    let (a, b) = (production().await, production().await);
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-backup");
    let of_b = backup_flags(&dir, &b, backups.path()).run_into(&mut report).await.expect("backup of b");
    assert_passes(&report);
    // Behind a pooler both are host:6543/postgres: the address says nothing.
    let manifest_path = of_b.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("manifest")).expect("json");
    let a_target = xtask::production::Target::resolve(&target(&a), &dir).expect("target");
    manifest["target"] = serde_json::Value::String(a_target.fingerprint());
    std::fs::write(&manifest_path, manifest.to_string()).expect("write");

    let mut report = Report::quiet("db-push");
    push_flags(&dir, &a, backups.path()).run_into(&mut report).await.expect("push");
    assert_passes(&report);
    assert!(report.check("backup.taken").is_some(), "b's backup did not count for a: a new one was taken");
    let used = report.check("push.backup").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(!used.contains(&of_b.display().to_string()), "{used}");
    let record = report.check("push.record").and_then(|c| c.value.clone()).expect("record");
    let md = std::fs::read_to_string(&record).expect("record");
    let identity = a_target.identify().await.expect("identity");
    assert!(md.contains(&format!("database: {identity}")), "the record names the database: {md}");

    // db-watch on b with the baseline a's push saved: not compared, a's record left alone.
    let log = backups.path().join("migration-log");
    let flags = DbWatch {
        project: project(&dir),
        target: target(&b),
        r#for: "1s".parse().unwrap(),
        every: "1s".parse().unwrap(),
        max_slowdown: 2.0,
        max_blocking: "1s".parse().unwrap(),
        baseline: Some(log.join(xtask::db_watch::BASELINE_FILE)),
    };
    let mut report = Report::quiet("db-watch");
    flags.run_into(&mut report).await.expect("watch");
    assert_eq!(report.check("watch.baseline").map(|c| c.status), Some(Status::Warn));
    assert!(detail(&report, "watch.baseline").contains("taken on another database"), "{report:#?}");
    let after = std::fs::read_to_string(&record).expect("record");
    assert_eq!(after, md, "a's push record is not appended to by a watch of b");
    a.close().await.expect("close");
    b.close().await.expect("close");
}

/// Regression (#23.8): a listener that never answers hung the tool for minutes; the URL's
/// `connect_timeout` is honoured, and there is a default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_listener_fails_within_the_connect_timeout_saying_what_to_check() {
    // Accepts TCP (the kernel's backlog) and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let dir = our_supabase_dir();
    let url = format!("postgres://postgres:s3cret@127.0.0.1:{port}/postgres?connect_timeout=2");
    let target =
        xtask::production::Target::resolve(&xtask::flags::TargetArgs { db_url: Some(url), linked: false }, &dir)
            .expect("target");
    let err = format!("{:#}", target.connect_read_only().await.map(drop).expect_err("no answer"));
    assert!(err.contains("no answer within 2 s") && err.contains("connect_timeout"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    drop(listener);
}

/// Regression (#23.9): with a rollback script missing in the middle, 3 of 8 versions were rolled
/// back, exit 0, and nothing said that five stay applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_stopped_by_a_missing_script_fails_naming_what_stays() {
    let prod = production().await;
    let project = crate::support::ProjectCopy::new();
    let mut conn = prod.connect().await.expect("connect");
    for f in &xtask::runner::scan(&project.path()).expect("scan").files[1..] {
        xtask::runner::apply(&mut conn, f).await.expect("apply pending");
    }
    std::fs::remove_file(project.path().join("rollbacks/20251116173504_index_messages_auth_user_id.sql")).expect("rm");
    let mut report = Report::quiet("db-rollback");
    crate::production::rollback_flags(&project.path(), &prod).run_into(&mut report).await.expect("rollback");
    assert_fails_on(&report, "rollback.stays");
    let d = detail(&report, "rollback.stays");
    assert!(d.contains("20251116173504_index_messages_auth_user_id has no script"), "{d}");
    assert!(d.contains("6 version(s) stay applied, 4 of them with a script"), "{d}");
    assert!(d.contains("20251116173500_add_auth_user_id_to_messages_part1"), "{d}");
    assert_eq!(history(&prod).await.len(), 6, "rolled back to the gap: baseline and 173500-173504 stay");
    prod.close().await.expect("close");
}

/// Regression (#23.9): a missing --supabase-dir made `<dir>/migration-log` for the record.
#[test]
fn a_missing_or_file_supabase_dir_is_a_usage_error_that_creates_nothing() {
    let tmp = tempfile::tempdir().expect("tmp");
    let missing = tmp.path().join("supabase");
    let file = tmp.path().join("a-file");
    std::fs::write(&file, "").expect("file");
    for dir in [&missing, &file] {
        let out = std::process::Command::new(crate::support::xtask_bin())
            .args(["db-rollback", "--yes", "--db-url", "postgres://u@127.0.0.1:1/db", "--supabase-dir"])
            .arg(dir)
            .current_dir(tmp.path())
            .output()
            .expect("xtask");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("--supabase-dir"), "{stderr}");
    }
    assert!(!missing.exists(), "nothing was created");
}

/// What the server's roles are set to, on every database (`pg_db_role_setting` with setdatabase 0).
async fn global_role_settings(pg: &xtask::pg::EphemeralPostgres) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT r.rolname || ': ' || array_to_string(s.setconfig, ', ') FROM pg_db_role_setting s \
         JOIN pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = 0 ORDER BY 1",
    )
    .fetch_all(&mut pg.connect().await.expect("connect"))
    .await
    .expect("settings")
}

/// Regression (#23.4): verifying a backup with `--backend url` on the production server itself
/// created a throwaway database there and ran the layer's `ALTER ROLE anon/authenticated SET
/// statement_timeout`, which is cluster-wide: production's API roles changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throwaway_database_never_changes_the_servers_roles_and_the_targets_server_is_refused() {
    let prod = production().await;
    sqlx::raw_sql("ALTER ROLE anon SET statement_timeout = '20s'; ALTER ROLE authenticated RESET ALL")
        .execute(&mut prod.connect().await.expect("connect"))
        .await
        .expect("production's own settings");
    let before = global_role_settings(&prod).await;
    assert_eq!(before, ["anon: statement_timeout=20s"]);
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    // As DATABASE_URL in an app's .env would: the restore's server is production's.
    let url_restore = xtask::flags::RestorePg {
        backend: xtask::pg::Backend::Url,
        image: None,
        restore_db_url: Some(prod.url().to_string()),
        restore_on_target_server: false,
    };
    let flags = xtask::flags::DbBackup { restore: url_restore.clone(), ..backup_flags(&dir, &prod, backups.path()) };
    let mut report = Report::quiet("db-backup");
    let err = flags.run_into(&mut report).await.expect_err("refused");
    assert!(format!("{err:#}").contains("--restore-on-target-server"), "{err:#}");
    let databases: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname LIKE 'xtask_%'")
        .fetch_one(&mut prod.connect().await.expect("connect"))
        .await
        .expect("count");
    assert_eq!(databases, 0, "nothing was created on the target's server");

    // Asked for explicitly: it runs there, and production's roles stay as they were.
    let restore = xtask::flags::RestorePg { restore_on_target_server: true, ..url_restore };
    let flags = xtask::flags::DbBackup { restore, ..backup_flags(&dir, &prod, backups.path()) };
    let mut report = Report::quiet("db-backup");
    flags.run_into(&mut report).await.expect("backup");
    assert_passes(&report);
    assert_eq!(global_role_settings(&prod).await, before, "the server's roles were changed");
    prod.close().await.expect("close");
}

/// Regression (#23.3): the "verified backup" held no `auth.identities`, `storage.buckets`,
/// `storage.objects` or `vault.secrets` rows, and every backup check passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_holds_and_verifies_the_platform_rows_of_the_projects_data() {
    let prod = production().await;
    sqlx::raw_sql(
        "INSERT INTO auth.identities (provider_id, user_id, identity_data, provider)
           SELECT id::text, id, jsonb_build_object('sub', id::text), 'email' FROM auth.users;
         INSERT INTO storage.buckets (id, name) VALUES ('avatars', 'avatars');
         INSERT INTO storage.objects (bucket_id, name) VALUES ('avatars', 'a/1.png'), ('avatars', 'b/2.png');
         INSERT INTO vault.secrets (name, secret) VALUES ('stripe', 'sk_live_x');",
    )
    .execute(&mut prod.connect().await.expect("connect"))
    .await
    .expect("platform rows");
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-backup");
    let taken = backup_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("backup");
    assert_passes(&report);
    let manifest = xtask::production::backup::Manifest::read(&taken).expect("manifest");
    for (table, rows) in [("auth.identities", 5), ("storage.buckets", 1), ("storage.objects", 2), ("vault.secrets", 1)]
    {
        assert_eq!(manifest.tables.get(table), Some(&rows), "{table}: {:?}", manifest.tables);
    }
    let data = std::fs::read_to_string(taken.join("data.sql")).expect("data.sql");
    assert!(data.contains("COPY auth.identities") && data.contains("COPY vault.secrets"), "the rows are in the dump");
    let names: Vec<String> =
        std::fs::read_dir(&taken).expect("ls").flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert!(!names.iter().any(|n| n.contains("partial") || n.ends_with(".all")), "{names:?}");
    prod.close().await.expect("close");
}

/// A backup that cannot complete leaves no folder that could pass for one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_that_fails_midway_leaves_nothing() {
    let prod = production().await;
    // A table the backup's role may not read: the dump stops there.
    sqlx::raw_sql(
        "CREATE ROLE backup_reader LOGIN PASSWORD 'r3ader-pw'; GRANT USAGE ON SCHEMA public TO backup_reader;
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO backup_reader; REVOKE SELECT ON public.messages FROM backup_reader;",
    )
    .execute(&mut prod.connect().await.expect("connect"))
    .await
    .expect("a reader");
    let mut url = url::Url::parse(prod.url()).expect("url");
    url.set_username("backup_reader").expect("user");
    url.set_password(Some("r3ader-pw")).expect("password");
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let flags = xtask::flags::DbBackup {
        target: xtask::flags::TargetArgs { db_url: Some(url.to_string()), linked: false },
        ..backup_flags(&dir, &prod, backups.path())
    };
    let mut report = Report::quiet("db-backup");
    let err = flags.run_into(&mut report).await.expect_err("permission denied");
    assert!(!format!("{err:#}").contains("r3ader-pw"), "{err:#}");
    let left: Vec<_> = std::fs::read_dir(backups.path()).expect("ls").flatten().map(|e| e.path()).collect();
    assert_eq!(left, Vec::<std::path::PathBuf>::new(), "{err:#}");
    prod.close().await.expect("close");
}

/// Regression (#23.10): an interrupted push that had committed files and backfill batches left
/// no record, and the message said only what the history held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_push_leaves_a_record_of_what_it_committed() {
    let prod = production().await;
    let project = crate::support::ProjectCopy::new();
    let rel = "migrations/20251116173502_backfill_messages_auth_user_id.sql";
    let slow =
        project.read(rel).replace("-- xtask:backfill batch-size=10000", "-- xtask:backfill batch-size=4 pause=400ms");
    project.write(rel, &slow);
    let backups = tempfile::tempdir().expect("tmp");
    let log = backups.path().join("migration-log");
    let mut child = std::process::Command::new(crate::support::xtask_bin())
        .args(["db-push", "--yes", "--backend", &crate::support::any_backend().to_string()])
        .arg("--supabase-dir")
        .arg(project.path())
        .arg("--out")
        .arg(backups.path())
        .arg("--log-dir")
        .arg(&log)
        .env("SUPABASE_DB_URL", prod.url())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn xtask");
    let mut watch = prod.connect().await.expect("connect");
    let filled = "SELECT count(*) FROM public.messages WHERE auth_user_id IS NOT NULL";
    let mut seen = 0i64;
    for _ in 0..3000 {
        // The column exists once 173500 committed; before, the query fails.
        seen = sqlx::query_scalar(filled).fetch_one(&mut watch).await.unwrap_or(0);
        if seen > 0 || child.try_wait().ok().flatten().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(seen > 0 && seen < 40, "interrupted mid-backfill ({seen} of 40 filled)");
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(kill.is_ok_and(|s| s.success()));
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("applied and recorded: 20251116173500, 20251116173501"), "{stderr}");
    assert!(stderr.contains("batch(es) of public.messages committed"), "{stderr}");
    let record = std::fs::read_dir(&log)
        .expect("log dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "md"))
        .expect("a record");
    let md = std::fs::read_to_string(&record).expect("record");
    assert!(md.contains("interrupt.committed") && md.contains("interrupt.backfill"), "{md}");
    assert!(md.contains("20251116173501") && !md.contains(prod.url()), "{md}");
    prod.close().await.expect("close");
}

/// Regression (found on a public project): a CHECK over a varchar `IN (…)` list renders
/// differently after pg_dump and restore (`= ANY ((ARRAY['a'::varchar])::text[])` comes back as
/// `= ANY (ARRAY[('a'::varchar)::text])`); the backup "did not verify" and the push was refused.
/// The same constraint parsed on the restore is the same constraint; a changed one still fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_constraint_that_renders_otherwise_after_restore_is_still_the_same_constraint() {
    let prod = production().await;
    sqlx::raw_sql(
        "CREATE TABLE public.items (id int PRIMARY KEY, status varchar(20) CHECK (status IN ('sold', 'kept')));
         ALTER TABLE public.items ENABLE ROW LEVEL SECURITY;",
    )
    .execute(&mut prod.connect().await.expect("connect"))
    .await
    .expect("a varchar IN check");
    let dir = our_supabase_dir();
    let backups = tempfile::tempdir().expect("tmp");
    let mut report = Report::quiet("db-backup");
    let taken = backup_flags(&dir, &prod, backups.path()).run_into(&mut report).await.expect("backup");
    assert_eq!(report.check("backup.catalog").map(|c| c.status), Some(Status::Pass), "{report:#?}");

    // A restore whose constraint really differs still fails: change it in the dump.
    let schema = taken.join("schema.sql");
    let text = std::fs::read_to_string(&schema).expect("schema.sql");
    let changed = text.replacen("'kept'", "'lost'", 1);
    assert_ne!(text, changed, "the dump holds the constraint");
    std::fs::write(&schema, changed).expect("write");
    let manifest_path = taken.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("manifest")).expect("json");
    // Re-seal the edited file so only the catalog comparison can catch it.
    let bytes = std::fs::read(&schema).expect("read");
    for f in manifest["files"].as_array_mut().expect("files") {
        if f["name"] == "schema.sql" {
            f["bytes"] = serde_json::json!(bytes.len());
            f["sha256"] = serde_json::json!(sha256_hex(&bytes));
        }
    }
    std::fs::write(&manifest_path, manifest.to_string()).expect("write");
    let mut report = Report::quiet("db-backup");
    let flags = xtask::flags::DbBackup { verify: Some(taken.clone()), ..backup_flags(&dir, &prod, backups.path()) };
    flags.run_into(&mut report).await.expect("verify");
    assert_fails_on(&report, "backup.catalog");
    assert!(detail(&report, "backup.catalog").contains("items_status_check"), "{report:#?}");
    prod.close().await.expect("close");
}

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// Regression (#23.7): a `?password=` in the URL reached stderr, the record and pg_dump's
/// arguments; a password on the command line was not warned of.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_query_stays_out_of_output_and_records() {
    let prod = production().await;
    let mut url = url::Url::parse(prod.url()).expect("url");
    let secret = url.password().expect("the cluster's password").to_string();
    url.set_password(None).expect("no password in the user part");
    url.query_pairs_mut().append_pair("password", &secret);
    let backups = tempfile::tempdir().expect("tmp");
    let log = backups.path().join("migration-log");
    let out = std::process::Command::new(crate::support::xtask_bin())
        .args(["db-push", "--yes", "--backend", &crate::support::any_backend().to_string()])
        .arg("--supabase-dir")
        .arg(our_supabase_dir())
        .arg("--out")
        .arg(backups.path())
        .arg("--log-dir")
        .arg(&log)
        .args(["--db-url", url.as_str()])
        .output()
        .expect("xtask");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("warning: the database URL on this command line holds a password"), "{all}");
    assert!(!all.contains(&secret), "the password reached the output:\n{all}");
    assert!(all.contains("password=***"), "{all}");
    for entry in std::fs::read_dir(&log).expect("records").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("record");
        assert!(!text.contains(&secret), "the password reached {}", entry.path().display());
    }
    prod.close().await.expect("close");
}
