//! Batched backfills (`-- xtask:backfill`) against a real Postgres: batch by batch, each its own
//! transaction; a failure leaves the committed batches and says so; running the file again
//! resumes; the history row is the file's, as the supabase CLI writes it.

use sqlx::PgConnection;
use xtask::runner::{self, backfill, MigrationFile};

use crate::support::{backends, start};

const NOTES: &str = "create table public.notes (id bigint primary key, slug text);\n\
                     insert into public.notes (id) select g from generate_series(1, 2500) g;\n";

fn file(text: &str) -> MigrationFile {
    MigrationFile {
        version: "20250102000000".into(),
        name: "backfill_slugs".into(),
        path: "20250102000000_backfill_slugs.sql".into(),
        text: text.into(),
    }
}

async fn filled(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("select count(*) from public.notes where slug is not null").fetch_one(conn).await.expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_commits_batch_by_batch_and_a_second_run_resumes_after_a_failure() {
    for backend in backends() {
        let pg = start(backend).await;
        let mut conn = pg.connect().await.expect("connect");
        sqlx::raw_sql(NOTES).execute(&mut conn).await.expect("table");
        // Batch two (ids 1001-2000) trips on this, as a bad row in production would.
        sqlx::raw_sql("alter table public.notes add constraint no_1500 check (slug is distinct from 'n-1500')")
            .execute(&mut conn)
            .await
            .expect("constraint");
        let backfill =
            file("-- xtask:backfill batch-size=1000\nupdate public.notes set slug = 'n-' || id where slug is null;\n");

        let e = runner::apply(&mut conn, &backfill).await.expect_err("batch two fails");
        assert!(e.message.contains("23514"), "{backend}: {e}");
        assert_eq!(e.stayed.len(), 1, "{backend}: {:?}", e.stayed);
        assert!(e.stayed[0].starts_with("1 batch(es) of the backfill committed, 1000 row(s)"), "{}", e.stayed[0]);
        assert_eq!(filled(&mut conn).await, 1000, "{backend}: batch one stayed");
        assert!(runner::applied_versions(&mut conn).await.expect("history").is_empty(), "{backend}: no history row");

        sqlx::raw_sql("alter table public.notes drop constraint no_1500").execute(&mut conn).await.expect("fix");
        // The command's --batch-size, handed down, overrides the directive's 1000.
        let run = runner::Run { as_role: None, batch: backfill::Overrides { rows: Some(500), ..Default::default() } };
        let applied = runner::apply_as(&mut conn, &backfill, run).await.unwrap_or_else(|e| panic!("{backend}: {e}"));
        let stats = applied.backfill.expect("stats");
        assert_eq!((stats.rows, stats.batches, stats.batch_rows), (1500, 5, 500), "{backend}: only what was left");
        assert_eq!(filled(&mut conn).await, 2500);
        let history = runner::applied_versions(&mut conn).await.expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].2, [backfill.statements()[0].sql.clone()], "{backend}: the file's statement, as the CLI");
        assert_eq!(backfill::rerun_rows(&mut conn, &backfill.text).await.expect("rerun"), 0);
        pg.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_row_stays_locked_past_one_batch_while_it_runs() {
    let pg = start(crate::support::any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql(NOTES).execute(&mut conn).await.expect("table");
    let backfill = file(
        "-- xtask:backfill batch-size=100 pause=20ms\nupdate public.notes set slug = 'n' || id where slug is null",
    );
    let mut app = pg.connect().await.expect("app");
    // Meanwhile the app edits an early row (done by then) and a late one (not yet reached): neither
    // waits more than a batch, where one UPDATE of the table would hold both until its end.
    let edits = async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        sqlx::raw_sql("set lock_timeout = '1s'").execute(&mut app).await.expect("timeout");
        for id in [1, 2400] {
            sqlx::query("update public.notes set slug = slug where id = $1")
                .bind(id)
                .execute(&mut app)
                .await
                .expect("edit");
        }
    };
    let (applied, ()) = tokio::join!(runner::apply(&mut conn, &backfill), edits);
    let stats = applied.expect("applied").backfill.expect("stats");
    assert_eq!((stats.rows, stats.batches), (2500, 25));
    assert!(stats.longest < std::time::Duration::from_secs(1), "{stats:?}");
    assert_eq!(filled(&mut conn).await, 2500);
    pg.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_batched_fails_with_the_reason_and_nothing_applied() {
    let pg = start(crate::support::any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql("create table public.log (n int); insert into public.log values (1), (2);")
        .execute(&mut conn)
        .await
        .expect("table");
    let cases = [
        ("-- xtask:backfill\nupdate public.log set n = n + 1", "has none"),
        ("-- xtask:backfill\nupdate public.log set n = 1;\nupdate public.log set n = 2;", "exactly one UPDATE"),
    ];
    for (text, words) in cases {
        let e = runner::apply(&mut conn, &file(text)).await.expect_err(text);
        assert!(e.message.contains(words), "{text}: {e}");
        assert!(e.stayed.is_empty(), "{text}");
    }
    // A backfill that changes rows again on a second run is caught before production.
    sqlx::raw_sql("alter table public.log add column id serial primary key").execute(&mut conn).await.expect("pk");
    let counter = file("-- xtask:backfill\nupdate public.log set n = n + 1");
    runner::apply(&mut conn, &counter).await.expect("applies");
    assert_eq!(backfill::rerun_rows(&mut conn, &counter.text).await.expect("rerun"), 2);
    let check = runner::outcome::rerun_check("20250102000000", 2, 2);
    assert_eq!(check.status, xtask::report::Status::Fail);
    pg.close().await.expect("close");
}

/// Regression (#23.11): batch boundaries were spliced into the SQL as quoted literals; on a server
/// with `standard_conforming_strings = off`, a text key could close the literal and run SQL of its
/// own (here: drop a table) with the migration's privileges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_keys_are_bound_as_parameters_never_spliced_into_the_sql() {
    let pg = start(crate::support::any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql(
        "create table public.victim (id int); create table public.tags (name text primary key, n int);
         insert into public.tags values ('a', null), ('c', null);
         alter database postgres set standard_conforming_strings = off;",
    )
    .execute(&mut conn)
    .await
    .expect("tables");
    let evil = r"\') AND false; drop table public.victim; --";
    sqlx::query("insert into public.tags values ($1, null)").bind(evil).execute(&mut conn).await.expect("evil key");
    let mut conn = pg.connect().await.expect("a session with standard_conforming_strings = off");
    let backfill = file("-- xtask:backfill batch-size=1\nupdate public.tags set n = 1 where n is null;\n");
    let applied = runner::apply(&mut conn, &backfill).await.expect("applies");
    assert_eq!(applied.backfill.map(|s| s.rows), Some(3));
    let victim: Option<String> =
        sqlx::query_scalar("select to_regclass('public.victim')::text").fetch_one(&mut conn).await.expect("query");
    assert_eq!(victim.as_deref(), Some("victim"), "the key ran as SQL");
    let left: i64 = sqlx::query_scalar("select count(*) from public.tags where n is null")
        .fetch_one(&mut conn)
        .await
        .expect("count");
    assert_eq!(left, 0);
    pg.close().await.expect("close");
}
