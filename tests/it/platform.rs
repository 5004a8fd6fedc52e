//! Projects that use the Supabase platform as real ones do run unmodified: a trigger on
//! auth.users, storage buckets and policies, vault, the realtime publication, seeds (named by
//! `[db.seed] sql_paths`) that write auth.users and auth.identities with GoTrue's full columns.

use std::path::Path;

use xtask::report::Status;

use crate::support::{assert_passes, backends, copy_dir, run_local_test, run_rollback_test};

/// A copy of the fixture project under `tests/fixtures/<name>/supabase`.
fn fixture(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name).join("supabase");
    let dir = tempfile::tempdir().expect("tmp");
    copy_dir(&from, &dir.path().join("supabase"));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_on_the_whole_platform_runs_to_the_end_on_every_backend() {
    for backend in backends() {
        let project = fixture("platform");
        let dir = project.path().join("supabase");
        let report = run_local_test(&dir, backend).await;
        assert_passes(&report);
        let seeds = report.check("data.seed_sql").expect("seed check");
        assert_eq!((seeds.status, seeds.value.as_deref()), (Status::Pass, Some("seed.sql")), "{backend}: {seeds:?}");
        assert!(seeds.detail.as_deref().is_some_and(|d| d.contains("[db.seed] sql_paths")), "{seeds:?}");
        let layer = report.check("env.supabase_layer").and_then(|c| c.value.clone()).unwrap_or_default();
        assert!(layer.starts_with("supabase-layer v4"), "{layer}");

        let report = run_rollback_test(&dir, backend, None).await;
        assert_passes(&report);
    }
}

/// A Postgres with the Supabase layer, a session on it, and the role files run as there.
async fn layered(
    backend: xtask::pg::Backend,
) -> (xtask::pg::EphemeralPostgres, sqlx::PgConnection, xtask::supabase::layer::MigrationRole) {
    let pg = crate::support::start(backend).await;
    let mut conn = pg.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    // A fresh session picks up the database-level search_path the layer sets.
    let mut conn = pg.connect().await.expect("connect");
    let role = xtask::supabase::layer::platform_role(&mut conn).await.expect("role");
    (pg, conn, role)
}

/// A migration file of one statement, for the runner.
fn one_statement(version: &str, sql: &str) -> xtask::runner::MigrationFile {
    xtask::runner::MigrationFile {
        version: version.into(),
        name: "hosted".into(),
        path: format!("{version}_hosted.sql").into(),
        text: format!("{sql};\n"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_hosted_supabase_refuses_postgres_fails_here_in_its_words() {
    for backend in backends() {
        let (pg, mut conn, role) = layered(backend).await;
        assert_eq!(role.session.role.as_deref(), Some("postgres"), "{backend}: {:?}", role.why_not);
        let as_role = Some(&role.session);
        let refused = [
            ("create role app_owner; alter role app_owner nosuperuser", "must be superuser"),
            (
                "alter role authenticator nosuperuser",
                "\"authenticator\" is a reserved role, only superusers can modify it",
            ),
            ("alter table auth.users owner to postgres", "must be owner of table users"),
            ("alter table storage.objects enable row level security", "must be owner of table objects"),
            ("alter system set work_mem = '64MB'", "permission denied to set parameter"),
            ("grant pg_read_server_files to authenticated", "role memberships are reserved"),
            ("set session authorization supabase_admin", "permission denied to set session authorization"),
        ];
        for (i, (sql, expected)) in refused.iter().enumerate() {
            let file = one_statement(&format!("2025010100000{i}"), sql);
            let err =
                xtask::runner::apply_as(&mut conn, &file, xtask::runner::Run::as_role(as_role)).await.expect_err(sql);
            let text = err.to_string();
            assert!(text.contains(expected) && text.contains("42501"), "{backend}: {sql}: {text}");
            assert!(text.contains("postgres, which is not a superuser"), "{backend}: {text}");
        }
        // What supautils lets postgres do, and what it owns afterwards.
        let allowed = [
            "create table public.notes (id int primary key, owner uuid references auth.users)",
            "create policy \"own files\" on storage.objects for select to authenticated using (owner = (select auth.uid()))",
            "create function public.touch() returns trigger language plpgsql as $$ begin return new; end $$; \
             create trigger touch after insert on auth.users for each row execute function public.touch(); \
             drop trigger touch on auth.users",
            "create extension if not exists pg_stat_statements with schema extensions",
            "alter role authenticated set statement_timeout = '15s'",
            "alter publication supabase_realtime add table public.notes",
            // supautils of 2026: event triggers by postgres, and `pgrst.*` on authenticator.
            "create function public.on_ddl() returns event_trigger language plpgsql as $$ begin end $$; \
             create event trigger on_ddl on ddl_command_end execute function public.on_ddl()",
            "alter event trigger on_ddl disable",
            "alter role authenticator set pgrst.db_schemas = 'public, graphql_public'",
            // What `supabase db dump` writes: the platform's own extensions, stood in for here.
            "create extension if not exists pg_graphql with schema graphql",
            "create extension if not exists supabase_vault with schema vault",
        ];
        for (i, sql) in allowed.iter().enumerate() {
            let file = one_statement(&format!("202502010000{i:02}"), sql);
            xtask::runner::apply_as(&mut conn, &file, xtask::runner::Run::as_role(as_role))
                .await
                .unwrap_or_else(|e| panic!("{backend}: {e}"));
        }
        let (owner, me): (String, String) = sqlx::query_as(
            "SELECT tableowner::text, current_user::text FROM pg_tables WHERE schemaname = 'public' AND tablename = 'notes'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("owner");
        assert_eq!((owner.as_str(), me.as_str()), ("postgres", "supabase_admin"), "{backend}: the role is given back");
        drop(conn);
        pg.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_touching_a_reserved_role_fails_db_local_test_as_production_would() {
    let project = fixture("platform");
    let dir = project.path().join("supabase");
    std::fs::write(dir.join("migrations/20250301000000_demote.sql"), "alter role authenticator nologin;\n")
        .expect("write");
    std::fs::write(dir.join("rollbacks/20250301000000_demote.sql"), "alter role authenticator login;\n")
        .expect("write");
    let report = run_local_test(&dir, crate::support::any_backend()).await;
    crate::support::assert_fails_on(&report, "pending.apply.20250301000000");
    let detail = crate::support::detail(&report, "pending.apply.20250301000000");
    assert!(detail.contains("\"authenticator\" is a reserved role") && detail.contains("hosted Supabase"), "{detail}");
    let role = report.check("env.migration_role").expect("role check");
    assert_eq!((role.status, role.value.as_deref()), (Status::Pass, Some("postgres, not a superuser")), "{role:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_fire_into_the_pg_net_stand_in_and_the_project_runs_to_the_end() {
    for backend in backends() {
        let project = fixture("webhooks");
        let dir = project.path().join("supabase");
        let report = run_local_test(&dir, backend).await;
        assert_passes(&report);
        let roles = report.check("data.roles_sql").expect("roles.sql check");
        assert_eq!(roles.status, Status::Pass, "{backend}: {roles:?}");
        let webhooks = report.check("pending.apply.20250302000000").and_then(|c| c.detail.clone()).unwrap_or_default();
        assert!(webhooks.contains("stand-in"), "{backend}: the report says pg_net is a stand-in: {webhooks}");
        assert_passes(&run_rollback_test(&dir, backend, None).await);

        // What the webhooks would have sent, read from the stand-in's queue.
        let (pg, mut conn, role) = layered(backend).await;
        let scan = xtask::runner::scan(&dir).expect("scan");
        let roles_sql = one_statement("roles", "create role order_reporter nologin");
        xtask::runner::run_unrecorded(&mut conn, &roles_sql, Some(&role.session)).await.expect("roles");
        for file in &scan.files {
            let applied = xtask::runner::apply_as(&mut conn, file, xtask::runner::Run::as_role(Some(&role.session)))
                .await
                .expect("apply");
            assert_eq!(applied.commits_on_its_own, file.version == "20250301000001", "{backend}: {}", file.file_name());
        }
        let streamed: Vec<String> =
            sqlx::query_scalar("SELECT tablename::text FROM pg_publication_tables WHERE pubname = 'supabase_realtime'")
                .fetch_all(&mut conn)
                .await
                .expect("publication");
        assert_eq!(streamed, ["orders"], "{backend}: the file's own transaction re-created the publication");
        sqlx::raw_sql(
            "insert into auth.users (id, email) values ('b1000000-0000-4000-8000-000000000001', 'cy@example.test'); \
             insert into public.orders (owner_id, item) values ('b1000000-0000-4000-8000-000000000001', 'tea')",
        )
        .execute(&mut conn)
        .await
        .expect("insert an order");
        let sent: Vec<(String, String)> = sqlx::query_as("SELECT method, url FROM net.http_request_queue ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("queue");
        assert_eq!(
            sent,
            [
                ("POST".into(), "https://ship.example.test/orders".into()),
                ("POST".into(), "https://hooks.example.test/orders".into())
            ],
            "{backend}: row triggers fire in name order"
        );
        let hooks: i64 = sqlx::query_scalar("SELECT count(*) FROM supabase_functions.hooks")
            .fetch_one(&mut conn)
            .await
            .expect("hooks");
        assert_eq!(hooks, 1, "{backend}: the dashboard webhook is recorded");
        drop(conn);
        pg.close().await.expect("close");
    }
}

/// Regression: seeds loaded after the baseline failed the run when they fill a table a pending
/// migration creates, though `supabase db reset` (seeds after every migration) loads them fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_that_needs_the_pending_migrations_loads_after_them() {
    let project = crate::support::ProjectCopy::empty();
    project
        .write(
            "migrations/20250101000000_base.sql",
            "create table public.notes (id int primary key);\nalter table public.notes enable row level security;\n",
        )
        .write(
            "migrations/20250102000000_tags.sql",
            "create table public.tags (name text primary key);\nalter table public.tags enable row level security;\n",
        )
        .write("rollbacks/20250102000000_tags.sql", "drop table public.tags;\n")
        .write("seed.sql", "insert into public.notes values (1);\ninsert into public.tags values ('urgent');\n");
    let report = run_local_test(&project.path(), crate::support::any_backend()).await;
    assert_passes(&report);
    let seed = report.check("data.seed_sql").expect("seed check");
    assert_eq!(seed.status, Status::Warn, "{seed:?}");
    assert!(seed.detail.as_deref().is_some_and(|d| d.contains("relation \"public.tags\" does not exist")), "{seed:?}");
    let after = report.check("data.seed_sql.after_pending").expect("deferred seed check");
    assert_eq!((after.status, after.value.as_deref()), (Status::Pass, Some("seed.sql")), "{after:?}");
    // A seed that is simply wrong still fails.
    project.write("seed.sql", "insert into public.notes values ('not a number');\n");
    let report = run_local_test(&project.path(), crate::support::any_backend()).await;
    crate::support::assert_fails_on(&report, "data.seed_sql");
}

/// A project on Postgres 17 (`[db] major_version = 17`, the default of new hosted projects) on a
/// machine whose Postgres is 15: the run stops with what would run it on 17, never a silent run on
/// 15; `--other-major` runs it with a warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_on_another_major_stops_unless_asked_and_then_warns() {
    let project = fixture("platform");
    let dir = project.path().join("supabase");
    let toml = std::fs::read_to_string(dir.join("config.toml")).expect("config");
    std::fs::write(dir.join("config.toml"), format!("{toml}\n[db]\nmajor_version = 17\n")).expect("write");
    let mut flags = crate::support::local_test(&dir, crate::support::any_backend());
    let mut report = xtask::report::Report::quiet("db-local-test");
    let stop = flags.run_into(&mut report).await.expect_err("another major stops the run");
    let text = format!("{stop:#}");
    assert!(text.contains("major_version = 17") && text.contains("postgresql-17"), "{text}");
    assert!(text.contains("supabase/postgres:17") && text.contains("--other-major"), "{text}");

    flags.pg.other_major = true;
    let mut report = xtask::report::Report::quiet("db-local-test");
    flags.run_into(&mut report).await.expect("runs when asked");
    let major = report.check("env.postgres_major").expect("said");
    assert_eq!((major.status, major.value.as_deref()), (Status::Warn, Some("15")), "{major:?}");
}
