//! Linked mode through the real `cargo xtask` binary with a fake `supabase` on PATH that records
//! its arguments (and dumps with real pg_dump, as the CLI does): the exact invocations in order,
//! their failure, and the CLI's absence.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::support::{any_backend, our_supabase_dir, start, xtask_bin, ProjectCopy};

const FAKE: &str = r#"#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_SUPABASE_LOG"
case " $* " in *" $FAKE_SUPABASE_FAIL "*) echo "fake supabase: $FAKE_SUPABASE_FAIL failed: connection refused" >&2; exit 1;; esac
file=""; prev=""
for a in "$@"; do [ "$prev" = "-f" ] && file="$a"; prev="$a"; done
case "$*" in
  "db dump"*"--role-only"*)
    "$PG_BIN/pg_dumpall" --roles-only --no-role-passwords -d "$FAKE_DB_URL" \
      | grep -vE '^(CREATE|ALTER) ROLE "?(postgres|anon|authenticated|service_role|authenticator|supabase_[a-z_]+|dashboard_user|pgbouncer)"?[ ;]' > "$file" ;;
  "db dump"*"--data-only"*) "$PG_BIN/pg_dump" --data-only -n public -n auth -n supabase_migrations -d "$FAKE_DB_URL" -f "$file" ;;
  "db dump"*) "$PG_BIN/pg_dump" --schema-only -n public -d "$FAKE_DB_URL" \
      | sed 's/^CREATE SCHEMA public;/CREATE SCHEMA IF NOT EXISTS public;/' > "$file" ;;
  "db push"*)
    # As the CLI: every file of <workdir>/supabase/migrations not in the history, with its row.
    workdir=""; prev=""
    for a in "$@"; do [ "$prev" = "--workdir" ] && workdir="$a"; prev="$a"; done
    for f in "$workdir"/supabase/migrations/*.sql; do
      base=$(basename "$f" .sql); version=${base%%_*}; name=${base#*_}
      done_already=$("$PG_BIN/psql" -qtA -d "$FAKE_DB_URL" -c "select count(*) from supabase_migrations.schema_migrations where version = '$version'")
      [ "$done_already" = "0" ] || continue
      printf '  pushes %s\n' "$version" >> "$FAKE_SUPABASE_LOG"
      "$PG_BIN/psql" -q -v ON_ERROR_STOP=1 -d "$FAKE_DB_URL" -f "$f" >/dev/null || exit 1
      "$PG_BIN/psql" -q -d "$FAKE_DB_URL" -c "insert into supabase_migrations.schema_migrations (version, name, statements) values ('$version', '$name', '{}')" >/dev/null
    done ;;
esac
exit 0
"#;

struct Linked {
    project: ProjectCopy,
    /// `--supabase-dir` (the copy's `supabase/` unless a test moves it).
    supabase_dir: PathBuf,
    fake_bin: tempfile::TempDir,
    log: PathBuf,
    url: String,
}

impl Linked {
    fn new(url: &str) -> Linked {
        let project = ProjectCopy::new();
        project.write(".temp/project-ref", "fakeprojectref\n");
        let fake_bin = tempfile::tempdir().expect("tmp");
        let script = fake_bin.path().join("supabase");
        std::fs::write(&script, FAKE).expect("fake");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let log = fake_bin.path().join("calls.log");
        let supabase_dir = project.path();
        Linked { project, supabase_dir, fake_bin, log, url: url.to_string() }
    }

    fn run(&self, args: &[&str], with_fake: bool, fail: &str) -> Output {
        let path = std::env::var("PATH").unwrap_or_default();
        let path = if with_fake { format!("{}:{path}", self.fake_bin.path().display()) } else { path };
        let pg_bin = xtask::pg::find_pg_bin().expect("pg bin");
        Command::new(xtask_bin())
            .args(args)
            .args(["--supabase-dir", &self.supabase_dir.display().to_string(), "--linked", "--db-url", &self.url])
            .env("PATH", path)
            .env("FAKE_SUPABASE_LOG", &self.log)
            .env("FAKE_SUPABASE_FAIL", fail)
            .env("FAKE_DB_URL", &self.url)
            .env("PG_BIN", pg_bin)
            .current_dir(self.project.dir.path())
            .output()
            .expect("xtask")
    }

    /// The recorded invocations, with temp paths replaced by placeholders.
    fn calls(&self) -> Vec<String> {
        let root = std::fs::canonicalize(self.project.dir.path()).expect("canon").display().to_string();
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let l = l.replace(&root, "<project>");
                // backups/<UTC timestamp>/ varies per run.
                l.split(' ')
                    .map(|w| match w.find("/backups/") {
                        _ if w.contains("xtask-push-stage-") => "<stage>".to_string(),
                        Some(i) => format!(
                            "{}/backups/<ts>/{}",
                            &w[..i],
                            Path::new(w).file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()
                        ),
                        None => w.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Production, with a password in its URL that must never be printed (trust auth ignores it on
/// the native backend; the docker backend's URL already carries one).
async fn production_url(pg: &xtask::pg::EphemeralPostgres) -> String {
    let mut conn = pg.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    let mut conn = pg.connect().await.expect("connect");
    let dir = xtask::runner::scan(&our_supabase_dir()).expect("scan");
    xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("baseline");
    let mut url = url::Url::parse(pg.url()).expect("url");
    if url.password().is_none() {
        url.set_password(Some("s3cret-pw")).expect("password");
    }
    url.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_push_runs_the_cli_in_order_and_never_prints_the_password() {
    let prod = start(any_backend()).await;
    let url = production_url(&prod).await;
    let password = url::Url::parse(&url).expect("u").password().expect("pw").to_string();
    let linked = Linked::new(&url);
    let backend = any_backend().to_string();
    let out = linked.run(&["db-push", "--yes", "--backend", &backend, "--out", "backups"], true, "");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("push.refused"), "{all}");
    // The CLI pushes around the batched backfill, which our runner runs between the two pushes.
    assert_eq!(
        linked.calls(),
        [
            "db dump --linked -f <project>/backups/<ts>/roles.sql --role-only --workdir <project>",
            "db dump --linked -f <project>/backups/<ts>/schema.sql --workdir <project>",
            "db dump --linked -f <project>/backups/<ts>/data.sql --use-copy --data-only --workdir <project>",
            "db push --linked --yes --workdir <stage>",
            "  pushes 20251116173500",
            "  pushes 20251116173501",
            "db push --linked --yes --workdir <project>",
            "  pushes 20251116173503",
            "  pushes 20251116173504",
            "  pushes 20251116173505",
            "  pushes 20251116173506",
            "  pushes 20251116173507",
        ]
    );
    assert!(all.contains("push.apply.20251116173502") && all.contains("batched backfill of public.messages"), "{all}");
    assert!(!all.contains(&password), "the password leaked:\n{all}");
    prod.close().await.expect("close");
}

/// Regression (#23.6): with the project in a folder not named `supabase` and a `supabase/` beside
/// it, `supabase db push --workdir <parent>` pushed the sibling's migrations to production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_mode_pushes_the_projects_own_folder_never_a_sibling() {
    let prod = start(any_backend()).await;
    let url = production_url(&prod).await;
    let mut linked = Linked::new(&url);
    let root = linked.project.dir.path().to_path_buf();
    std::fs::rename(root.join("supabase"), root.join("app-db")).expect("rename");
    linked.supabase_dir = root.join("app-db");
    // The decoy: another project's folder where the CLI would look for one.
    std::fs::create_dir_all(root.join("supabase/migrations")).expect("mkdir");
    std::fs::write(root.join("supabase/migrations/20990101000000_decoy.sql"), "create table public.decoy (id int);")
        .expect("decoy");
    let backend = any_backend().to_string();
    let out = linked.run(&["db-push", "--yes", "--backend", &backend, "--out", "backups"], true, "");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let calls = linked.calls();
    assert!(calls.iter().any(|c| c == "  pushes 20251116173507"), "{calls:?}");
    assert!(!calls.iter().any(|c| c.contains("20990101000000")), "the sibling's migration was pushed: {calls:?}");
    assert!(!calls.iter().any(|c| c.ends_with("--workdir <project>")), "never the parent as workdir: {calls:?}");
    let decoy: Option<String> = sqlx::query_scalar("select to_regclass('public.decoy')::text")
        .fetch_one(&mut prod.connect().await.expect("connect"))
        .await
        .expect("query");
    assert_eq!(decoy, None);
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_push_whose_verification_fails_prints_the_rollback_command() {
    let prod = start(any_backend()).await;
    let url = production_url(&prod).await;
    let linked = Linked::new(&url);
    // The last file takes its new policies away again: verification fails after the push.
    let rel = "migrations/20251116173507_swap_message_policies.sql";
    let sql = linked.project.read(rel);
    linked.project.write(rel, &format!("{sql}\nDROP POLICY \"Users can view own messages\" ON public.messages;\n"));
    let backend = any_backend().to_string();
    let out = linked.run(&["db-push", "--yes", "--backend", &backend, "--out", "backups"], true, "");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("cargo xtask db-rollback") && all.contains("--linked"), "{all}");
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_push_failure_of_the_cli_is_a_failed_check() {
    let prod = start(any_backend()).await;
    let url = production_url(&prod).await;
    let linked = Linked::new(&url);
    let backend = any_backend().to_string();
    let out = linked.run(&["db-push", "--yes", "--backend", &backend, "--out", "backups"], true, "push");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("FAIL") && all.contains("push.stage.1"), "{all}");
    assert!(all.contains("fake supabase: push failed: connection refused"), "{all}");
    prod.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_rollback_runs_the_script_then_repairs_history_through_the_cli() {
    let prod = start(any_backend()).await;
    let url = production_url(&prod).await;
    let mut conn = prod.connect().await.expect("connect");
    let dir = xtask::runner::scan(&our_supabase_dir()).expect("scan");
    for f in &dir.files[1..] {
        xtask::runner::apply(&mut conn, f).await.expect("apply pending");
    }
    let linked = Linked::new(&url);
    let backend = any_backend().to_string();
    let out = linked.run(&["db-rollback", "--yes", "--backend", &backend], true, "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let expected: Vec<String> = dir.files[1..]
        .iter()
        .rev()
        .map(|f| format!("migration repair --status reverted {} --linked --yes --workdir <project>", f.version))
        .collect();
    assert_eq!(linked.calls(), expected, "the script runs, then the CLI repairs that version, newest first");
    prod.close().await.expect("close");
}

#[test]
fn linked_mode_without_the_cli_says_what_to_install() {
    let linked = Linked::new("postgres://postgres:s3cret-pw@127.0.0.1:1/postgres");
    let empty = tempfile::tempdir().expect("tmp");
    let out = Command::new(xtask_bin())
        .args(["db-validate", "--supabase-dir", &linked.project.path().display().to_string(), "--linked"])
        .args(["--db-url", &linked.url])
        .env("PATH", empty.path())
        .output()
        .expect("xtask");
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("supabase CLI, which was not found on PATH"), "{all}");
    assert!(!all.contains("s3cret-pw"), "{all}");
}

#[test]
fn linked_mode_without_a_link_or_password_says_what_to_run() {
    let linked = Linked::new("unused");
    std::fs::remove_file(linked.project.path().join(".temp/project-ref")).expect("unlink");
    let path = format!("{}:{}", linked.fake_bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new(xtask_bin())
        .args(["db-validate", "--supabase-dir", &linked.project.path().display().to_string(), "--linked"])
        .env("PATH", &path)
        .env_remove("SUPABASE_DB_URL")
        .output()
        .expect("xtask");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("supabase link --project-ref"), "{}", text(&out));

    linked.project.write(".temp/project-ref", "fakeprojectref\n");
    let out = Command::new(xtask_bin())
        .args(["db-validate", "--supabase-dir", &linked.project.path().display().to_string(), "--linked"])
        .env("PATH", &path)
        .env_remove("SUPABASE_DB_URL")
        .env_remove("SUPABASE_DB_PASSWORD")
        .output()
        .expect("xtask");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("set SUPABASE_DB_PASSWORD"), "{}", text(&out));
}
