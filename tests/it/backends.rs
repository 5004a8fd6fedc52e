//! Each backend serves queries and leaves no container, process or temp dir behind.

use sqlx::Connection;
use xtask::{
    pg::{Backend, EphemeralPostgres, Footprint, PgOptions},
    report::{Report, Status},
};

use crate::support::{assert_passes, backends, detail, local_test, our_supabase_dir, run_local_test, start};

/// True while anything of `footprint` is still on the machine.
fn still_there(footprint: &Footprint) -> bool {
    match footprint {
        Footprint::Container(id) => {
            let out = std::process::Command::new("docker")
                .args(["ps", "-aq", "--no-trunc", "--filter", &format!("id={id}")])
                .output()
                .expect("docker ps");
            !String::from_utf8_lossy(&out.stdout).trim().is_empty()
        }
        Footprint::Dir(dir) => dir.exists() || postgres_running_in(dir),
        Footprint::Database(_) | Footprint::None => false,
    }
}

/// A server process whose command line names `dir` (Linux: /proc).
fn postgres_running_in(dir: &std::path::Path) -> bool {
    let needle = dir.to_string_lossy().to_string();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries.flatten().any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_backend_serves_queries_and_leaves_nothing_after_success() {
    for backend in backends() {
        let pg = start(backend).await;
        assert_eq!(pg.backend(), backend);
        let footprint = pg.footprint();
        assert!(still_there(&footprint), "{backend}: {footprint:?} should exist while running");
        let mut conn = pg.connect().await.expect("connect");
        let version: String = sqlx::query_scalar("show server_version").fetch_one(&mut conn).await.expect("query");
        assert!(version.starts_with("15"), "{backend}: server {version}");
        drop(conn);
        pg.close().await.expect("close");
        assert!(!still_there(&footprint), "{backend}: {footprint:?} left behind after close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_backend_leaves_nothing_after_a_failure_or_panic() {
    for backend in backends() {
        // An error path: the command returns early and drops the Postgres without close().
        let pg = start(backend).await;
        let footprint = pg.footprint();
        let failed: anyhow::Result<()> = async move {
            let _pg = pg;
            anyhow::bail!("a step failed")
        }
        .await;
        assert!(failed.is_err());
        assert!(!still_there(&footprint), "{backend}: {footprint:?} left behind after an error");

        // A panic inside a task that owns the Postgres.
        let (tx, rx) = std::sync::mpsc::channel();
        let task = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let pg = start(backend).await;
                let _ = tx.send(pg.footprint());
                panic!("boom");
            })
        });
        assert!(task.join().is_err(), "the task panicked");
        let footprint = rx.recv().expect("footprint");
        assert!(!still_there(&footprint), "{backend}: {footprint:?} left behind after a panic");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_backend_creates_and_drops_a_throwaway_database() {
    let server = start(crate::support::any_backend()).await;
    let opts =
        PgOptions { backend: Some(Backend::Url), db_url: Some(server.url().to_string()), ..PgOptions::default() };
    let pg = EphemeralPostgres::start(&opts).await.expect("url backend");
    let Footprint::Database(name) = pg.footprint() else { panic!("url backend has a database footprint") };
    let mut admin = server.connect().await.expect("connect");
    let count =
        |name: String| sqlx::query_scalar::<_, i64>("select count(*) from pg_database where datname = $1").bind(name);
    assert_eq!(count(name.clone()).fetch_one(&mut admin).await.expect("query"), 1);
    pg.close().await.expect("close");
    assert_eq!(count(name).fetch_one(&mut admin).await.expect("query"), 0);
}

/// Regression (#23.5): a native cluster trusted every local user over TCP, so while a backup was
/// being verified any account on the machine could read the restored password hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_cluster_admits_only_the_run_that_started_it() {
    for backend in backends() {
        let pg = start(backend).await;
        let mut url = url::Url::parse(pg.url()).expect("url");
        assert!(url.password().is_some_and(|p| p.len() >= 16), "{backend}: a password only this run knows");
        url.set_password(None).expect("no password");
        let refused = sqlx::PgConnection::connect(url.as_str()).await.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("password"), "{backend}: a connection without the password got in: {refused:?}");
        url.set_password(Some("guess")).expect("a guess");
        assert!(sqlx::PgConnection::connect(url.as_str()).await.is_err(), "{backend}: a guessed password got in");
        pg.close().await.expect("close");
    }
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = child.id();
    child.wait().expect("wait");
    pid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_clean_removes_only_our_leftover_containers() {
    if !backends().contains(&Backend::Docker) {
        return; // backends() already said why docker is skipped
    }
    let image = PgOptions::default().image();
    let run = |labels: &[String]| {
        let mut cmd = std::process::Command::new("docker");
        cmd.args(["run", "-d", "--entrypoint", "sleep"]);
        for l in labels {
            cmd.args(["--label", l]);
        }
        let out = cmd.args([image.as_str(), "300"]).output().expect("docker run");
        assert!(out.status.success(), "docker run: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ours = format!("{}=true", xtask::pg::CONTAINER_LABEL);
    let owner = |pid: u32| format!("{}={pid}", xtask::pg::OWNER_LABEL);
    let leftover = run(&[ours.clone(), owner(dead_pid())]);
    let in_use = run(&[ours, owner(std::process::id())]);
    let theirs = run(&["com.example.other=true".to_string()]);
    let removed = xtask::pg::remove_labelled_containers(false).expect("db-clean");
    let left = |id: &str| still_there(&Footprint::Container(id.to_string()));
    let (theirs_left, in_use_left, leftover_left) = (left(&theirs), left(&in_use), left(&leftover));
    let _ = std::process::Command::new("docker").args(["rm", "-f", &theirs, &in_use]).output();
    assert!(removed.iter().any(|id| leftover.starts_with(id.as_str())), "leftover removed: {removed:?}");
    assert!(!leftover_left, "our leftover container is still there");
    assert!(in_use_left, "a container whose owner still runs was removed");
    assert!(theirs_left, "a container without our label was removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_clean_stops_and_removes_a_killed_runs_native_cluster() {
    if !backends().contains(&Backend::Native) {
        return;
    }
    let pg = start(Backend::Native).await;
    let Footprint::Dir(dir) = pg.footprint() else { panic!("native footprint") };
    // A run killed with SIGKILL: nothing dropped, its owner gone.
    std::mem::forget(pg);
    std::fs::write(dir.join("owner.pid"), dead_pid().to_string()).expect("owner");
    // Regression: db-clean took folders it could not tell the owner of (a run between creating
    // its folder and writing owner.pid) and failed on plain files named like clusters.
    let ownerless = std::env::temp_dir().join(format!("xtask-pg-test-{}", std::process::id()));
    std::fs::create_dir_all(&ownerless).expect("ownerless");
    let file = std::env::temp_dir().join(format!("xtask-pg-file-{}", std::process::id()));
    std::fs::write(&file, "not a cluster").expect("file");
    let removed = xtask::pg::remove_leftover_clusters(false).expect("db-clean");
    assert!(removed.contains(&dir), "{removed:?}");
    assert!(!still_there(&Footprint::Dir(dir)), "cluster or its folder left behind");
    assert!(ownerless.is_dir() && file.is_file(), "without --all, only clusters whose owner is known to be gone");
    std::fs::remove_dir_all(&ownerless).expect("clean up");
    std::fs::remove_file(&file).expect("clean up");
}

/// Extensions that need `shared_preload_libraries` (pg_stat_statements, pg_cron) work on a native
/// cluster, as on Supabase's servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_clusters_preload_what_supabase_preloads() {
    if !backends().contains(&Backend::Native) {
        return;
    }
    let pg = start(Backend::Native).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql("create extension pg_stat_statements").execute(&mut conn).await.expect("extension");
    let calls: i64 = sqlx::query_scalar("select count(*) from pg_stat_statements")
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_statements answers only when preloaded");
    assert!(calls >= 0);
    pg.close().await.expect("close");
}

/// The docker backend's default is Supabase's own image (here, where no registry answers, the
/// stand-in `scripts/supabase-postgres-image.sh` builds under its name): its init already made
/// the platform's roles and schemas and demoted `postgres`, and the layer only adds what is
/// missing. Our project gets the same verdicts there as on the official image (`.ci/run` names
/// it in XTASK_OFFICIAL_IMAGE), check by check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supabases_image_is_the_default_and_judges_as_the_official_one_does() {
    if !backends().contains(&Backend::Docker) {
        return;
    }
    let image = PgOptions::default().image();
    assert!(xtask::pg::is_supabase_image(&image), "the default image is Supabase's: {image}");
    let official = std::env::var("XTASK_OFFICIAL_IMAGE").ok().filter(|s| !s.is_empty());
    let Some(official) = official else {
        let required = std::env::var("XTASK_REQUIRE_BACKENDS").unwrap_or_default().contains("docker");
        assert!(!required, "set XTASK_OFFICIAL_IMAGE to an official-contract postgres image to compare with");
        eprintln!("note: XTASK_OFFICIAL_IMAGE is not set: the comparison with the official image is skipped");
        return;
    };
    let dir = our_supabase_dir();
    let on_supabase = run_local_test(&dir, Backend::Docker).await;
    assert_passes(&on_supabase);
    let layer = detail(&on_supabase, "env.supabase_layer");
    assert!(
        layer.contains("role anon") && layer.contains("schema auth") && layer.contains("already there"),
        "the image made the platform's roles and schemas, the layer left them: {layer}"
    );
    let role = on_supabase.check("env.migration_role").expect("migration role");
    assert_eq!(role.status, Status::Pass, "{role:?}");

    let mut official_run = local_test(&dir, Backend::Docker);
    official_run.pg.image = Some(official.clone());
    let mut on_official = Report::quiet("db-local-test");
    official_run.run_into(&mut on_official).await.unwrap_or_else(|e| panic!("on {official}: {e:#}"));
    let verdicts = |r: &Report| -> Vec<(String, Status)> {
        let mut v: Vec<_> =
            r.checks.iter().filter(|c| c.id != "env.supabase_layer").map(|c| (c.id.clone(), c.status)).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(verdicts(&on_supabase), verdicts(&on_official), "same verdicts on {image} and {official}");
}
