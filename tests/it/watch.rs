//! db-watch against a Postgres playing production while the app's queries run: a push that took
//! away the index a policy needs shows as sequential scans within the watch; a healthy one passes.

use std::time::{Duration, Instant};

use xtask::{
    flags::{DbWatch, Project, TargetArgs},
    report::{Report, Status},
    target::Target,
};

use crate::support::{any_backend, detail, start, ProjectCopy};

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

async fn watch(index_after_push: bool) -> Report {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql(
        "create table public.notes (id bigint primary key, owner uuid not null, body text);
         insert into public.notes select g, ('00000000-0000-0000-0000-' || lpad((g % 500)::text, 12, '0'))::uuid, 'x'
           from generate_series(1, 20000) g;
         create index notes_owner on public.notes (owner);
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
    xtask::db_watch::save_baseline(&target, &texts, vec!["1".into()], &log).await.expect("baseline");
    // "The push".
    if !index_after_push {
        sqlx::raw_sql("drop index public.notes_owner").execute(&mut conn).await.expect("drop");
    }
    let flags = DbWatch {
        project: Project { supabase_dir: project.path(), json: None },
        target: args,
        r#for: "4s".parse().unwrap(),
        every: "1s".parse().unwrap(),
        max_slowdown: 2.0,
        max_blocking: "1s".parse().unwrap(),
        baseline: None,
    };
    let mut report = Report::quiet("db-watch");
    let (watched, ()) = tokio::join!(flags.run_into(&mut report), traffic(pg.url(), Duration::from_secs(5)));
    watched.expect("watch");
    pg.close().await.expect("close");
    crate::support::registered(report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_that_lost_an_index_fails_on_sequential_scans_within_two_windows() {
    let report = watch(false).await;
    let check = report.check("watch.seq_scans.public.notes").unwrap_or_else(|| panic!("{:#?}", report.checks));
    assert_eq!(check.status, Status::Fail);
    let window: u32 = check.value.clone().unwrap_or_default().trim_start_matches("window ").parse().unwrap_or(99);
    assert!(window <= 2, "caught in window {window}");
    let d = detail(&report, "watch.seq_scans.public.notes");
    assert!(d.contains("sequential scan(s) of public.notes read") && d.contains("before the push"), "{d}");
    assert!(report.check("watch.windows").is_none(), "it stops at the first threshold crossed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_push_passes_the_watch() {
    let report = watch(true).await;
    let failed: Vec<_> = report.checks.iter().filter(|c| c.status == Status::Fail).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(report.check("watch.windows").map(|c| c.status), Some(Status::Pass), "{:#?}", report.checks);
    assert_eq!(report.check("watch.baseline").map(|c| c.status), Some(Status::Info));
}
