//! The migration runner against a real Postgres: order, history rows, atomic files, names the
//! supabase CLI skips or would wrongly apply.

use xtask::{pg::EphemeralPostgres, runner::MigrationPlan};

use crate::support::{any_backend, assert_fails_on, backends, run_local_test, start, ProjectCopy};

/// The schema as real pg_dump prints it.
fn schema_dump(pg: &EphemeralPostgres) -> String {
    let pg_dump = xtask::pg::find_pg_bin().expect("pg binaries").join("pg_dump");
    let out =
        std::process::Command::new(pg_dump).args(["--schema-only", "--dbname", pg.url()]).output().expect("pg_dump");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    // pg_dump 15.14+ wraps its output in \restrict KEY … \unrestrict KEY with a random key.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Postgres with the Supabase layer, a connection to it, and `project`'s migrations folder.
async fn layered(project: &ProjectCopy) -> (EphemeralPostgres, sqlx::PgConnection, xtask::runner::MigrationDir) {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    let dir = xtask::runner::scan(&project.path()).expect("scan");
    (pg, conn, dir)
}

fn three_files(project: &ProjectCopy, middle: &str) {
    project
        .write(
            "migrations/20250101000000_first.sql",
            "create table public.a (id int primary key);\ninsert into public.a values (1);\n",
        )
        .write("migrations/20250102000000_second.sql", middle)
        .write("migrations/20250103000000_third.sql", "create table public.c (id int);\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_applies_in_order_and_records_history_rows_equal_to_files() {
    for backend in backends() {
        let project = ProjectCopy::empty();
        three_files(&project, "-- second\ncreate table public.b (a_id int references public.a);\n\ncomment on table public.b is 'x; y';\n");
        let pg = start(backend).await;
        let mut conn = pg.connect().await.expect("connect");
        xtask::supabase::layer::install(&mut conn).await.expect("layer");
        let dir = xtask::runner::scan(&project.path()).expect("scan");
        assert_eq!(
            dir.files.iter().map(|f| f.version.as_str()).collect::<Vec<_>>(),
            ["20250101000000", "20250102000000", "20250103000000"]
        );
        for file in &dir.files {
            xtask::runner::apply(&mut conn, file).await.unwrap_or_else(|e| panic!("{backend}: {e}"));
        }
        let history = xtask::runner::applied_versions(&mut conn).await.expect("history");
        let expected: Vec<(String, String, Vec<String>)> = dir
            .files
            .iter()
            .map(|f| (f.version.clone(), f.name.clone(), f.statements().into_iter().map(|s| s.sql).collect()))
            .collect();
        assert_eq!(history, expected, "{backend}: history rows equal the files");
        assert_eq!(
            history[1].2.len(),
            2,
            "two statements in the second file (the ';' in the comment string is not a split)"
        );
        pg.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_middle_file_leaves_the_catalog_exactly_as_before_it() {
    for backend in backends() {
        let project = ProjectCopy::empty();
        three_files(
            &project,
            "create table public.b (id int);\nalter table public.a add column note text;\n\nselect\n  no_such_column\nfrom public.a;\n",
        );
        let pg = start(backend).await;
        let mut conn = pg.connect().await.expect("connect");
        xtask::supabase::layer::install(&mut conn).await.expect("layer");
        let dir = xtask::runner::scan(&project.path()).expect("scan");
        xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("first applies");
        let before = schema_dump(&pg);
        let err = xtask::runner::apply(&mut conn, &dir.files[1]).await.expect_err("second fails");
        assert_eq!(err.file, "20250102000000_second.sql");
        assert_eq!(err.line, 5, "{backend}: the line of the bad column in the file");
        assert!(err.message.contains("no_such_column"), "{}", err.message);
        assert_eq!(schema_dump(&pg), before, "{backend}: catalog changed by a failed file");
        let history = xtask::runner::applied_versions(&mut conn).await.expect("history");
        assert_eq!(history.len(), 1, "{backend}: only the first file is recorded");
        pg.close().await.expect("close");
    }
}

#[test]
fn skipped_and_dangerous_file_names_are_reported() {
    let project = ProjectCopy::empty();
    project
        .write("migrations/20250101000000_ok.sql", "select 1;")
        .write("migrations/validation_queries.sql", "select 1;")
        .write("migrations/rollback_migration.sql", "select 1;")
        .write("migrations/README.md", "notes")
        .write("migrations/archive/20240101000000_old.sql", "select 1;")
        .write("migrations/20250102000000_add_x.down.sql", "select 1;")
        .write("migrations/20250103000000_rollback_add_x.sql", "select 1;");
    let dir = xtask::runner::scan(&project.path()).expect("scan");
    let skipped: Vec<&str> = dir.skipped.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(skipped, ["README.md", "archive", "rollback_migration.sql", "validation_queries.sql"]);
    let dangerous: Vec<&str> = dir.dangerous.iter().map(|(f, _, _)| f.as_str()).collect();
    assert_eq!(dangerous, ["20250102000000_add_x.down.sql", "20250103000000_rollback_add_x.sql"]);
    assert!(dir.dangerous[0].1.contains("move it to supabase/rollbacks/"));
    // The CLI would apply both: so do we count them as migrations.
    assert_eq!(dir.files.len(), 3);
    let plan = MigrationPlan::new(&project.path(), &dir, None).expect("plan");
    assert!(plan.pending.is_empty(), "no rollbacks/: nothing pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_local_test_fails_on_a_down_script_in_migrations() {
    let project = ProjectCopy::new();
    project.write("migrations/20251116173599_add_auth_user_id.down.sql", "select 1;");
    project.write("rollbacks/20251116173599_add_auth_user_id.down.sql", "select 1;");
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_fails_on(&report, "runner.dangerous_name.20251116173599_add_auth_user_id.down.sql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_cannot_run_in_a_transaction_run_on_their_own() {
    let project = ProjectCopy::empty();
    project.write(
        "migrations/20250101000000_concurrent.sql",
        "create table public.t (a int);\ncreate index concurrently t_a on public.t (a);\n",
    );
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    let dir = xtask::runner::scan(&project.path()).expect("scan");
    let applied = xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("applies");
    assert!(!applied.atomic);
    let valid: bool = sqlx::query_scalar("select indisvalid from pg_index where indexrelid = 'public.t_a'::regclass")
        .fetch_one(&mut conn)
        .await
        .expect("index");
    assert!(valid);
    pg.close().await.expect("close");
}

/// Regression: a failing CREATE INDEX CONCURRENTLY file was reported as "nothing of this file was
/// applied" while its invalid index stayed, with no history row. Now (#23.1) the failed build's
/// invalid index is dropped, and the report says so and names what stayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_concurrent_build_drops_its_invalid_index_and_names_what_stayed() {
    let project = ProjectCopy::empty();
    project
        .write(
            "migrations/20250101000000_notes.sql",
            "create table public.notes (id int primary key, owner int);\ninsert into public.notes values (1, 7), (2, 7);\n",
        )
        .write(
            "migrations/20250102000000_unique_owner.sql",
            "create index concurrently notes_id on public.notes (id);\ncreate unique index concurrently notes_owner on public.notes (owner);\n",
        );
    let (pg, mut conn, dir) = layered(&project).await;
    xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("first file");
    let err = xtask::runner::apply(&mut conn, &dir.files[1]).await.expect_err("duplicate owners");
    assert_eq!(err.line, 2, "{err}");
    assert_eq!(err.stayed.len(), 1, "{:#?}", err.stayed);
    assert!(err.stayed[0].starts_with("committed: create index concurrently notes_id"), "{:#?}", err.stayed);
    let said: Vec<&str> = err.notices.iter().map(|n| n.message.as_str()).collect();
    assert!(said.iter().any(|n| n.contains("dropped the invalid index public.notes_owner")), "{said:#?}");
    let check = xtask::runner::failed_check("push.apply.x".into(), "t".into(), &err, false, None);
    let detail = check.detail.unwrap_or_default();
    assert!(detail.contains("not atomic") && !detail.contains("nothing of this file was applied"), "{detail}");
    let invalid: Vec<String> =
        sqlx::query_scalar("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
            .fetch_all(&mut conn)
            .await
            .expect("q");
    assert_eq!(invalid, Vec::<String>::new(), "the failed build left no invalid index");
    pg.close().await.expect("close");
}

/// Regression: a missing rollback for a middle migration silently turned the migrations before
/// it into "baseline (already in production)", and db-local-test passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_rollback_between_pending_migrations_fails_the_plan() {
    let project = ProjectCopy::new();
    let middle = std::fs::read_dir(project.path().join("rollbacks"))
        .expect("rollbacks")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("20251116173503")))
        .expect("the 173503 rollback");
    std::fs::remove_file(middle).expect("remove");
    let report = run_local_test(&project.path(), any_backend()).await;
    assert_fails_on(&report, "plan.pending");
    let detail = crate::support::detail(&report, "plan.pending");
    assert!(
        detail.contains("20251116173503_index_conversations_id_auth_user_id.sql") && detail.contains("--since"),
        "{detail}"
    );
    let baseline = crate::support::detail(&report, "plan.baseline");
    assert!(baseline.contains("20251116173500_add_auth_user_id_to_messages_part1.sql: baseline (has a rollback script, but a later file has none)"), "{baseline}");
}

/// Regression: a file starting with a UTF-8 byte-order mark failed on an invisible character.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_order_mark_is_named_as_such() {
    let project = ProjectCopy::empty();
    project.write("migrations/20250101000000_bom.sql", "\u{feff}create table public.a (id int);\n");
    let (pg, mut conn, dir) = layered(&project).await;
    let err = xtask::runner::apply(&mut conn, &dir.files[0]).await.expect_err("refused");
    assert!(err.to_string().contains("byte-order mark (EF BB BF)"), "{err}");
    pg.close().await.expect("close");
}

/// Regression: a file holding its own `BEGIN; … COMMIT;` ended the runner's transaction; the tool
/// printed two warnings and still said "nothing of this file was applied".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_its_own_commit_says_what_its_commit_kept() {
    let project = ProjectCopy::empty();
    project.write("migrations/20250101000000_ok.sql", "begin;\ncreate table public.a (id int);\ncommit;\n").write(
        "migrations/20250102000000_fails_after_commit.sql",
        "BEGIN;\ncreate table public.b (id int);\nCOMMIT;\n\ncreate table public.c (id int);\nselect 1/0;\n",
    );
    let (pg, mut conn, dir) = layered(&project).await;

    let applied = xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("a file that commits itself applies");
    assert!(applied.commits_on_its_own && !applied.atomic);
    let check = xtask::runner::applied_check("x".into(), "t".into(), &applied);
    assert_eq!(check.status, xtask::report::Status::Warn);
    assert!(applied.notices.iter().all(|n| !n.message.contains("already a transaction")), "{:?}", applied.notices);

    let err = xtask::runner::apply(&mut conn, &dir.files[1]).await.expect_err("division by zero");
    assert_eq!(err.line, 6, "{err}");
    assert_eq!(err.stayed, ["committed by the file's own COMMIT: create table public.b (id int)"]);
    let detail = xtask::runner::failed_check("x".into(), "t".into(), &err, false, None).detail.unwrap_or_default();
    assert!(detail.contains("commits on its own") && !detail.contains("nothing of this file was applied"), "{detail}");

    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("q");
    assert_eq!(tables, ["a", "b"], "what the report says stayed is what is there");
    let history = xtask::runner::applied_versions(&mut conn).await.expect("history");
    assert_eq!(history.iter().map(|h| h.0.as_str()).collect::<Vec<_>>(), ["20250101000000"]);
    pg.close().await.expect("close");
}

/// Regression: the runner ordered by numeric version while the CLI runs files in file-name order,
/// so the two disagreed on what runs first when a version is not a 14-digit timestamp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_run_in_the_clis_file_name_order_and_a_disagreement_is_said() {
    let project = ProjectCopy::empty();
    project
        .write("migrations/20240101000000_first.sql", "create table public.a (id int primary key);\n")
        .write("migrations/300_second.sql", "alter table public.a add column b int;\n")
        .write("rollbacks/300_second.sql", "alter table public.a drop column b;\n");
    let dir = xtask::runner::scan(&project.path()).expect("scan");
    assert_eq!(dir.files.iter().map(|f| f.version.as_str()).collect::<Vec<_>>(), ["20240101000000", "300"]);
    let report = run_local_test(&project.path(), any_backend()).await;
    let order = report.check("runner.order").expect("the disagreement is reported");
    assert_eq!(order.status, xtask::report::Status::Warn);
    assert!(order.detail.as_deref().is_some_and(|d| d.contains("file-name order")), "{order:?}");
    // In the CLI's order the ALTER runs after the CREATE it needs: the run passes.
    assert_eq!(report.check("pending.apply.300").map(|c| c.status), Some(xtask::report::Status::Pass));
}

/// Two files with one version (`002_a.sql`, `002_b.sql`) stopped every command with exit 2 and no
/// check id; they are a failed check on the later file, in the CLI's words, with its location.
#[test]
fn two_files_with_one_version_are_a_finding_on_the_later_file() {
    let project = ProjectCopy::empty();
    project
        .write("migrations/002_a.sql", "select 1;")
        .write("migrations/002_b.sql", "select 2;")
        .write("migrations/003_c.sql", "select 3;");
    let mut report = xtask::report::Report::quiet("db-lint");
    let lint = xtask::flags::DbLint {
        project: xtask::flags::Project { supabase_dir: project.path(), json: None },
        pending: xtask::flags::Pending { since: Some("002".into()), base: None },
        ignored: Default::default(),
    };
    lint.run_into(&mut report).expect("a finding, not an environment error");
    assert_fails_on(&report, "runner.duplicate_version.002_b.sql");
    let check = report.check("runner.duplicate_version.002_b.sql").expect("check");
    assert!(check.detail.as_deref().unwrap_or_default().contains("as 002_a.sql has"), "{check:?}");
    assert!(check.location.as_ref().is_some_and(|l| l.path.ends_with("migrations/002_b.sql") && l.line == 1));
}

/// A Supabase folder that keeps one schema.sql and no migrations/ (seen on a public project):
/// the error says so, instead of asking whether it is a Supabase folder at all.
#[test]
fn a_supabase_folder_without_migrations_says_so() {
    let project = ProjectCopy::empty();
    std::fs::remove_dir(project.path().join("migrations")).expect("rmdir");
    project.write("config.toml", "project_id = \"x\"\n").write("schema.sql", "create table t (a int);\n");
    let err = xtask::runner::scan(&project.path()).err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(err.contains("has no migrations/ folder") && err.contains("supabase migration new"), "{err}");
}
