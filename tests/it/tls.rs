//! TLS to a target: a native server with a certificate from a CA of our own (openssl), reached
//! with `sslmode=verify-full` and `sslrootcert` by our sessions and by pg_dump/psql.

use std::{path::Path, process::Command};

use xtask::{
    flags::{DbBackup, Project, RestorePg, TargetArgs},
    pg::{Backend, EphemeralPostgres, Footprint},
    report::{Report, Status},
};

use crate::support::{assert_passes, backends, our_supabase_dir, session_of, start};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a server certificate for 127.0.0.1, in `dir`.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=xtask test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
}

/// Turns TLS on in a running native cluster (its data dir owns the key, as Postgres requires).
async fn enable_tls(pg: &EphemeralPostgres, certs: &Path) {
    let Footprint::Dir(cluster) = pg.footprint() else { panic!("a native cluster") };
    let data = cluster.join("data");
    for f in ["server.crt", "server.key"] {
        std::fs::copy(certs.join(f), data.join(f)).expect("copy");
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let meta = std::fs::metadata(&data).expect("meta");
            std::os::unix::fs::chown(data.join(f), Some(meta.uid()), Some(meta.gid())).expect("chown");
            std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
    }
    let mut conn = pg.connect().await.expect("connect");
    for sql in ["ALTER SYSTEM SET ssl = on", "SELECT pg_reload_conf()"] {
        sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    }
    // The reload is asynchronous: wait until a new session sees TLS on (a loaded machine is slow).
    for _ in 0..300 {
        let mut fresh = pg.connect().await.expect("connect");
        let ssl: String = sqlx::query_scalar("SHOW ssl").fetch_one(&mut fresh).await.expect("show ssl");
        if ssl == "on" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not turn TLS on within 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_sessions_and_dumps_go_over_verified_tls() {
    if !backends().contains(&Backend::Native) {
        return; // `backends()` said why (and fails when XTASK_REQUIRE_BACKENDS asks for native).
    }
    let prod = start(Backend::Native).await;
    let mut conn = prod.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    let certs = tempfile::tempdir().expect("tmp");
    certificates(certs.path());
    enable_tls(&prod, certs.path()).await;

    let url = format!("{}?sslmode=verify-full&sslrootcert={}", prod.url(), certs.path().join("ca.crt").display());
    let dir = our_supabase_dir();
    let mut report = Report::quiet("db-validate");
    let target = xtask::production::Target::resolve(&TargetArgs { db_url: Some(url.clone()), linked: false }, &dir)
        .expect("target");
    xtask::db_validate::validate(&mut session_of(&target).await, &dir, &dir.join("rehearsal.json"), &mut report)
        .await
        .expect("validate over TLS");
    let encryption = report.check("session.encryption").expect("encryption check");
    assert_eq!(encryption.status, Status::Pass, "{encryption:?}");
    assert!(encryption.value.as_deref().is_some_and(|v| v.starts_with("TLSv1.")), "{encryption:?}");

    // pg_dump and psql get the same sslmode and root certificate from the URL.
    let backups = tempfile::tempdir().expect("tmp");
    let flags = DbBackup {
        project: Project { supabase_dir: dir.clone(), json: None },
        target: TargetArgs { db_url: Some(format!("{url}&sslmode=require")), linked: false },
        restore: RestorePg {
            backend: Backend::Native,
            image: None,
            restore_db_url: None,
            restore_on_target_server: false,
        },
        out: backups.path().to_path_buf(),
        verify: None,
    };
    let mut report = Report::quiet("db-backup");
    flags.run_into(&mut report).await.expect("backup over TLS");
    assert_passes(&report);

    // A root certificate that did not sign the server's is refused, never silently ignored.
    let other = tempfile::tempdir().expect("tmp");
    certificates(other.path());
    let wrong = format!("{}?sslmode=verify-full&sslrootcert={}", prod.url(), other.path().join("ca.crt").display());
    let target =
        xtask::production::Target::resolve(&TargetArgs { db_url: Some(wrong), linked: false }, &dir).expect("target");
    let err = target.connect_read_only().await.map(drop).expect_err("an unknown CA is refused");
    assert!(!format!("{err:#}").contains("xtask-"), "no password in {err:#}");
    // Regression (#23.8): with a root certificate, libpq's `require` verifies the CA (as
    // pg_dumpall did); ours accepted the wrong one.
    let wrong = format!("{}?sslmode=require&sslrootcert={}", prod.url(), other.path().join("ca.crt").display());
    let target =
        xtask::production::Target::resolve(&TargetArgs { db_url: Some(wrong), linked: false }, &dir).expect("target");
    target.connect_read_only().await.map(drop).expect_err("require with a root certificate verifies the CA");
    let right = format!("{}?sslmode=require&sslrootcert={}", prod.url(), certs.path().join("ca.crt").display());
    let target =
        xtask::production::Target::resolve(&TargetArgs { db_url: Some(right), linked: false }, &dir).expect("target");
    target.connect_read_only().await.expect("require with the right root certificate connects");
    prod.close().await.expect("close");
}
