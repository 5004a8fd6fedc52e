//! db-watch against a Postgres playing production while the app's queries run: a push that took
//! away the index a policy needs shows as sequential scans within the watch; a healthy one passes.

use std::time::{Duration, Instant};

use xtask::{
    flags::{DbWatch, Project, TargetArgs},
    production::Target,
    report::{Report, Status},
};

use crate::support::{any_backend, detail, session_of, start, ProjectCopy};

/// The app's query, the way a signed-in user's request hits the table, for `how_long`.
async fn traffic(url: &str, how_long: Duration) {
    let mut conn = xtask::pg::connect(url).await.expect("app");
    let started = Instant::now();
    while started.elapsed() < how_long {
        sqlx::raw_sql("select count(*) from public.notes where owner = '00000000-0000-0000-0000-000000000007'")
            .execute(&mut conn)
            .await
            .expect("query");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn watch(index_after_push: bool) -> (Report, ProjectCopy) {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql(
        "create table public.notes (id bigint primary key, owner uuid not null, body text);
         insert into public.notes select g, ('00000000-0000-0000-0000-' || lpad((g % 500)::text, 12, '0'))::uuid, 'x'
           from generate_series(1, 200000) g;
         create index notes_owner on public.notes (owner);
         -- Preloaded on both backends, as on Supabase.
         create extension if not exists pg_stat_statements;
         analyze public.notes;",
    )
    .execute(&mut conn)
    .await
    .expect("setup");
    traffic(pg.url(), Duration::from_millis(1500)).await;
    let project = ProjectCopy::empty();
    let args = TargetArgs { db_url: Some(pg.url().to_string()), linked: false };
    let target = Target::resolve(&args, &project.path()).expect("target");
    let log = project.path().join("migration-log");
    let texts = vec!["alter policy p on public.notes using (owner = auth.uid());".to_string()];
    xtask::db_watch::save_baseline(&mut session_of(&target).await, &texts, vec!["1".into()], &log)
        .await
        .expect("baseline");
    // The record the push wrote.
    std::fs::write(log.join("20261202T060000Z_push_1.md"), "# db-push record\n").expect("record");
    let record = serde_json::json!({ "versions": ["1"], "identity": target.known_identity() });
    std::fs::write(log.join("20261202T060000Z_push_1.json"), record.to_string()).expect("record");
    // "The push".
    if !index_after_push {
        sqlx::raw_sql("drop index public.notes_owner").execute(&mut conn).await.expect("drop");
    }
    let flags = DbWatch {
        project: Project { supabase_dir: project.path(), json: None },
        target: args,
        r#for: "4s".parse().unwrap(),
        every: "1s".parse().unwrap(),
        // A healthy push is judged with room for this machine's own load (clippy runs beside
        // the tests: a 0.6 ms query measured 1.3 ms in one window); the lost index is 20x and more.
        max_slowdown: if index_after_push { 5.0 } else { 2.0 },
        max_blocking: "1s".parse().unwrap(),
        baseline: None,
    };
    let mut report = Report::quiet("db-watch");
    let (watched, ()) = tokio::join!(flags.run_into(&mut report), traffic(pg.url(), Duration::from_secs(5)));
    watched.expect("watch");
    pg.close().await.expect("close");
    (crate::support::registered(report), project)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_lost_an_index_fails_on_sequential_scans_and_slowdown_within_two_windows() {
    let (report, _project) = watch(false).await;
    assert!(report.check("watch.statements").is_none(), "pg_stat_statements is watched: {:#?}", report.checks);
    for id in ["watch.seq_scans.public.notes", "watch.slowdown.public.notes"] {
        let check = report.check(id).unwrap_or_else(|| panic!("{id}: {:#?}", report.checks));
        assert_eq!(check.status, Status::Fail);
        let window: u32 = check.value.clone().unwrap_or_default().trim_start_matches("window ").parse().unwrap_or(99);
        assert!(window <= 2, "{id} caught in window {window}");
    }
    let d = detail(&report, "watch.seq_scans.public.notes");
    assert!(d.contains("sequential scan(s) of public.notes read") && d.contains("before the push"), "{d}");
    let d = detail(&report, "watch.slowdown.public.notes");
    assert!(d.contains("x slower, limit 2.0x") && d.contains("select count(*) from public.notes"), "{d}");
    assert!(report.check("watch.windows").is_none(), "it stops at the first threshold crossed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_push_passes_the_watch() {
    let (report, project) = watch(true).await;
    let failed: Vec<_> = report.checks.iter().filter(|c| c.status == Status::Fail).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(report.check("watch.windows").map(|c| c.status), Some(Status::Pass), "{:#?}", report.checks);
    assert_eq!(report.check("watch.baseline").map(|c| c.status), Some(Status::Info));
    assert!(report.check("watch.statements").is_none(), "pg_stat_statements is watched: {:#?}", report.checks);
    // Its summary went into the push's record.
    let record = project.path().join("migration-log/20261202T060000Z_push_1.md");
    assert_eq!(report.check("watch.record").and_then(|c| c.value.clone()), Some(record.display().to_string()));
    let md = std::fs::read_to_string(&record).expect("md");
    assert!(
        md.starts_with("# db-push record") && md.contains("# db-watch after this push") && md.contains("watch.windows"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(record.with_extension("json")).expect("json")).expect("parses");
    assert_eq!(json["watches"][0]["report"]["command"], "db-watch", "{json}");
}

/// db-watch crashed exactly when needed: under a lock wait (`extract(epoch …)` is numeric since
/// Postgres 14), it exited 2. `pg_stat_statements` in `extensions`, off the role's search_path,
/// read as "not installed". Its own sampling counted as the app's traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_under_a_lock_wait_reads_the_wait_and_the_extension_wherever_it_lives() {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql(
        "create table public.notes (id bigint primary key, owner uuid);
         create schema if not exists extensions;
         create extension if not exists pg_stat_statements schema extensions;
         set search_path = public;",
    )
    .execute(&mut conn)
    .await
    .expect("setup");
    let mut holder = pg.connect().await.expect("holder");
    sqlx::raw_sql("begin; lock table public.notes in access exclusive mode;").execute(&mut holder).await.expect("lock");
    let waiter = async {
        let mut c = xtask::pg::connect(pg.url()).await.expect("waiter");
        let _ = sqlx::raw_sql("select count(*) from public.notes").execute(&mut c).await;
    };
    let tables = vec!["public.notes".to_string()];
    let sample_then_release = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let first = xtask::db_watch::sample::take(&mut conn, &tables).await;
        sqlx::raw_sql("rollback").execute(&mut holder).await.expect("release");
        first
    };
    let ((), first) = tokio::join!(waiter, sample_then_release);
    let first = first.expect("a sample under a lock wait");
    assert_eq!(first.lock_waits.len(), 1, "{:?}", first.lock_waits);
    assert!(first.lock_waits[0].waited_ms > 0.0);
    assert!(first.statements.is_some(), "pg_stat_statements in `extensions` is found");
    // Nothing else runs now: after the stats settle, what our samples ran is not traffic.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let a = xtask::db_watch::sample::take(&mut conn, &tables).await.expect("sample");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let b = xtask::db_watch::sample::take(&mut conn, &tables).await.expect("sample");
    let delta = (b.database.commits - a.database.commits) + (b.database.rollbacks - a.database.rollbacks);
    assert!(delta - b.own_transactions <= 0, "idle, yet {delta} transactions, {} of them ours", b.own_transactions);
    pg.close().await.expect("close");
}

/// `--every 0s` spun and `--for 0s` ran a minute: both are usage errors that say what works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_window_or_a_watch_shorter_than_one_window_is_a_usage_error() {
    let project = ProjectCopy::empty();
    for (every, r#for) in [("0s", "1m"), ("1m", "0s"), ("500ms", "1m")] {
        let flags = DbWatch {
            project: Project { supabase_dir: project.path(), json: None },
            target: TargetArgs { db_url: Some("postgres://nobody@127.0.0.1:1/x".into()), linked: false },
            r#for: r#for.parse().unwrap(),
            every: every.parse().unwrap(),
            max_slowdown: 2.0,
            max_blocking: "1s".parse().unwrap(),
            baseline: None,
        };
        let err = flags.run_into(&mut Report::quiet("db-watch")).await.expect_err("usage error");
        assert!(format!("{err:#}").contains("a window is at least 1s"), "{every} {}: {err:#}", r#for);
    }
}

/// The push made a query fast (its index), and the index is lost afterwards: the app is back at
/// its speed from before the push, which "not worse than before" passed. The push's promises, the
/// query file's `-- xtask:expect index-scan` and the time right after the push, are held in every
/// window; a quiet target is judged by them rather than warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_lost_after_the_push_breaks_the_pushs_promises() {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    let user = "00000000-0000-0000-0000-000000000007";
    sqlx::raw_sql(&format!(
        "create table public.notes (id bigint primary key, owner uuid not null, body text);
         insert into public.notes select g, ('00000000-0000-0000-0000-' || lpad((g % 500)::text, 12, '0'))::uuid, 'x'
           from generate_series(1, 200000) g;
         do $$ begin create role authenticated nologin; exception when duplicate_object then null; end $$;
         grant select on public.notes to authenticated;
         create schema if not exists auth;
         create table if not exists auth.users (id uuid primary key, email text, created_at timestamptz default now());
         insert into auth.users (id, email) values ('{user}', 'a@example.test');
         analyze public.notes;"
    ))
    .execute(&mut conn)
    .await
    .expect("setup");
    let project = ProjectCopy::empty();
    let query = format!(
        "-- A user's notes.\n-- xtask:expect index-scan\nselect count(*) from public.notes where owner = '{user}';\n"
    );
    std::fs::create_dir_all(project.path().join("queries")).expect("mkdir");
    std::fs::write(project.path().join("queries/own_notes.sql"), &query).expect("query file");
    let args = TargetArgs { db_url: Some(pg.url().to_string()), linked: false };
    let target = Target::resolve(&args, &project.path()).expect("target");
    let log = project.path().join("migration-log");
    let texts = vec!["create index notes_owner on public.notes (owner);".to_string()];
    xtask::db_watch::save_baseline(&mut session_of(&target).await, &texts, vec!["1".into()], &log)
        .await
        .expect("baseline");
    // The push, and its queries timed right after it, as db-push saves them.
    sqlx::raw_sql("create index notes_owner on public.notes (owner)").execute(&mut conn).await.expect("push");
    let own = xtask::supabase::queries::load(&project.path()).expect("query files");
    let timed: Vec<_> = own.iter().map(|q| q.timed()).collect();
    let id = user.parse().expect("uuid");
    let after = xtask::db_rehearse::timing::time_queries_on(&mut conn, &timed, Some(id), 5).await.expect("timed");
    assert!(after["own_notes"].facts.seq_scanned.is_empty(), "the index serves it after the push");
    xtask::db_watch::save_promises(&log, xtask::db_watch::promises::Saved::new(id, &timed, &after)).expect("saved");

    // Held: a quiet target passes on the promises it re-timed.
    let flags = |r#for: &str| DbWatch {
        project: Project { supabase_dir: project.path(), json: None },
        target: args.clone(),
        r#for: r#for.parse().unwrap(),
        every: "1s".parse().unwrap(),
        max_slowdown: 5.0,
        max_blocking: "1s".parse().unwrap(),
        baseline: None,
    };
    let mut report = Report::quiet("db-watch");
    flags("2s").run_into(&mut report).await.expect("watch");
    let promises = report.check("watch.promises").expect("said");
    assert_eq!(promises.status, Status::Info, "{promises:?}");
    assert!(promises.detail.as_deref().is_some_and(|d| d.contains("own_notes: index scan;")), "{promises:?}");
    let windows = report.check("watch.windows").expect("watched");
    assert_eq!(windows.status, Status::Pass, "{:#?}", report.checks);

    // Lost after the push: both promises break in the first window.
    sqlx::raw_sql("drop index public.notes_owner").execute(&mut conn).await.expect("lost");
    let mut report = Report::quiet("db-watch");
    flags("3s").run_into(&mut report).await.expect("watch");
    for id in ["watch.query_expect.own_notes", "watch.promise.own_notes"] {
        let check = report.check(id).unwrap_or_else(|| panic!("{id}: {:#?}", report.checks));
        assert_eq!((check.status, check.value.as_deref()), (Status::Fail, Some("window 1")), "{check:?}");
    }
    let d = detail(&report, "watch.query_expect.own_notes");
    assert!(d.contains("a sequential scan of") && d.contains("a promise of the push broken after it"), "{d}");
    assert!(detail(&report, "watch.promise.own_notes").contains("right after the push"));
    pg.close().await.expect("close");
}
