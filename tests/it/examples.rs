//! The SQL examples that back our judgements, run on a real Postgres: every lint fires on its
//! bad fixture and stays quiet on its good one; every lock hint's condition holds for what
//! Postgres really locks in its bad example and not in its good one.

use std::path::PathBuf;

use xtask::{
    analysis::lints::LINTS,
    db_rehearse::{hints, trace},
    pg::EphemeralPostgres,
    runner::MigrationFile,
};

use crate::support::{any_backend, start};

/// A fresh database on `pg` with the Supabase layer installed; its URL.
async fn database(pg: &EphemeralPostgres, name: &str) -> String {
    let mut admin = pg.connect().await.expect("connect");
    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.expect("create database");
    let mut url = url::Url::parse(pg.url()).expect("url");
    url.set_path(&format!("/{name}"));
    let mut conn = xtask::pg::connect(url.as_str()).await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    url.to_string()
}

fn fixture(dir: &str, name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../xtask/sql").join(dir).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lint_fires_on_its_bad_fixture_only() {
    let pg = start(any_backend()).await;
    let schemas = vec!["public".to_string()];
    for lint in LINTS {
        for (kind, expect_findings) in [("bad", true), ("good", false)] {
            let url = database(&pg, &format!("lint_{}_{kind}", lint.id)).await;
            let mut conn = xtask::pg::connect(&url).await.expect("connect");
            let sql = fixture("lints", &format!("{}.{kind}.sql", lint.id));
            sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{}.{kind}.sql: {e}", lint.id));
            let findings = xtask::analysis::lints::run(&mut conn, &schemas).await.expect("lints");
            let own: Vec<_> = findings.iter().filter(|f| f.0 == lint.id).collect();
            assert_eq!(!own.is_empty(), expect_findings, "{}.{kind}.sql: {own:?}", lint.id);
        }
    }
    pg.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lock_hint_matches_what_postgres_locks_in_its_examples() {
    let pg = start(any_backend()).await;
    for hint in hints::HINTS {
        for (kind, sql, expect_hint) in [("bad", hint.bad, true), ("good", hint.good, false)] {
            let url = database(&pg, &format!("hint_{}_{kind}", hint.id.replace('-', "_"))).await;
            let mut conn = xtask::pg::connect(&url).await.expect("connect");
            sqlx::raw_sql(
                "create table public.folders (id bigint primary key);
                 create table public.notes (id bigint primary key, folder_id bigint);
                 insert into public.folders select g from generate_series(1, 100) g;
                 insert into public.notes select g, g % 100 + 1 from generate_series(1, 1000) g;",
            )
            .execute(&mut conn)
            .await
            .expect("setup");
            let file = MigrationFile {
                version: "1".into(),
                name: format!("{}_{kind}", hint.id),
                path: PathBuf::from("example.sql"),
                text: sql.to_string(),
            };
            let traced = trace::trace_file(&mut conn, &url, &file).await.expect("trace");
            assert_eq!(traced.failed, None, "{}.{kind}.sql must run", hint.id);
            let matched: Vec<&str> = traced.statements.iter().filter_map(hints::hint_for).map(|h| h.id).collect();
            assert_eq!(
                matched.contains(&hint.id),
                expect_hint,
                "{}.{kind}.sql: {matched:?} {:#?}",
                hint.id,
                traced.statements
            );
        }
    }
    pg.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_one_transaction_is_traced_statement_by_statement() {
    // A type change next to CREATE INDEX CONCURRENTLY: each commits on its own, and the type
    // change still holds ACCESS EXCLUSIVE while it rewrites the table.
    let pg = start(any_backend()).await;
    let url = database(&pg, "mixed_concurrently").await;
    let mut conn = xtask::pg::connect(&url).await.expect("connect");
    sqlx::raw_sql(
        "create table public.notes (id bigint primary key, folder_id bigint);
         insert into public.notes select g, g % 100 from generate_series(1, 20000) g;",
    )
    .execute(&mut conn)
    .await
    .expect("setup");
    let file = MigrationFile {
        version: "1".into(),
        name: "mixed".into(),
        path: PathBuf::from("mixed.sql"),
        text: "alter table public.notes alter column folder_id type numeric;\n\
               create index concurrently notes_folder on public.notes (folder_id);\n"
            .into(),
    };
    let traced = trace::trace_file(&mut conn, &url, &file).await.expect("trace");
    assert_eq!(traced.failed, None);
    let [change, index] = traced.statements.as_slice() else { panic!("{:#?}", traced.statements) };
    assert!(change.acquired.iter().any(|(t, m)| t == "notes" && m.to_string() == "AccessExclusiveLock"), "{change:#?}");
    assert_eq!(change.rewrote, ["notes"], "{change:#?}");
    assert!(change.blocked.iter().any(|b| b == "SELECT on notes"), "{change:#?}");
    assert_eq!(hints::hint_for(change).map(|h| h.id), Some("change-column-type"));
    assert!(
        index.acquired.iter().any(|(t, m)| t == "notes" && m.to_string() == "ShareUpdateExclusiveLock"),
        "the CONCURRENTLY build's lock is seen while it runs: {index:#?}"
    );
    let checks = hints::judge("mixed.sql", "1", &traced.statements, &hints::Budget::flat(std::time::Duration::ZERO));
    assert!(checks.iter().any(|c| c.id == "rehearse.blocking.1.1.notes"), "{checks:#?}");
    pg.close().await.expect("close");
}
