//! The docker backend: a labelled container from the pinned image (testcontainers), removed on drop.

use std::{fmt, process::Command, time::Duration};

use anyhow::Context;
use testcontainers::{
    core::{IntoContainerPort, WaitFor},
    runners::AsyncRunner,
    GenericImage, ImageExt,
};

use super::{Inner, CONTAINER_LABEL, OWNER_LABEL, READY_LINE, SUPERUSER};

pub(super) enum DockerStatus {
    Ready,
    NoEngine,
    NoImage(String),
}

impl fmt::Display for DockerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerStatus::Ready => f.write_str("Docker is ready"),
            DockerStatus::NoEngine => f.write_str("no Docker engine answered"),
            DockerStatus::NoImage(image) => {
                write!(f, "Docker answers but image {image} is not present and could not be pulled")
            }
        }
    }
}

pub(super) fn docker_status(image: &str) -> DockerStatus {
    let ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok(&["info", "--format", "{{.ServerVersion}}"]) {
        return DockerStatus::NoEngine;
    }
    if ok(&["image", "inspect", image]) {
        return DockerStatus::Ready;
    }
    // A first run on a machine pulls the image: say so, it can take a while; and say whether it
    // did (a machine without a registry gets the reason from the backend choice instead).
    eprintln!(":: {image} is not on this machine: trying `docker pull`…");
    if ok(&["pull", "--quiet", image]) {
        eprintln!(":: pulled {image} (later runs reuse it)");
        DockerStatus::Ready
    } else {
        DockerStatus::NoImage(image.to_string())
    }
}

/// Whether `name` (without its tag) is Supabase's own database image, from any registry: its
/// configuration lives in /etc/postgresql (CMD `postgres -D /etc/postgresql`) and its init
/// creates the platform's roles and schemas.
pub fn is_supabase_image(image: &str) -> bool {
    let repo = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => image,
    };
    repo == "supabase/postgres" || repo.ends_with("/supabase/postgres")
}

/// What the image is, for the report: Supabase's, our stand-in for it, or another.
pub(super) fn image_kind(image: &str) -> String {
    let label = Command::new("docker")
        .args(["image", "inspect", "--format", "{{index .Config.Labels \"dev.supabase-xtask.stand-in\"}}", image])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|l| !l.is_empty() && l != "<no value>");
    match (label, is_supabase_image(image)) {
        (Some(of), _) => format!("a local stand-in for {of} (scripts/supabase-postgres-image.sh)"),
        (None, true) => "Supabase's own image".to_string(),
        (None, false) => "not Supabase's image: the Supabase layer adds what it lacks".to_string(),
    }
}

/// The server's flags: throwaway durability, and the preload Supabase's servers have
/// (`pg_stat_statements`, in every image built on the official one's contrib). Supabase's own
/// image keeps its configuration in /etc/postgresql, which preloads far more.
fn server_args(supabase: bool) -> Vec<String> {
    let mut args: Vec<String> = vec!["postgres".into()];
    if supabase {
        args.extend(["-D".into(), "/etc/postgresql".into()]);
    }
    args.extend(
        [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            // As Supabase's servers: publications stream (Realtime) without a warning on each.
            "-c",
            "wal_level=logical",
        ]
        .map(String::from),
    );
    if !supabase {
        args.extend(["-c".to_string(), "shared_preload_libraries=pg_stat_statements".to_string()]);
    }
    args
}

pub(super) async fn start_docker(image: &str) -> anyhow::Result<(String, Inner)> {
    let (name, tag) = match image.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (image, "latest"),
    };
    let supabase = is_supabase_image(name);
    let password = format!("xtask-{}", uuid::Uuid::new_v4().simple());
    let image_def = GenericImage::new(name, tag).with_exposed_port(5432.tcp());
    // The official image prints the ready line twice: from its init server (stdout), then from
    // the real server (stderr); waiting for both avoids connecting to the init server. Supabase's
    // image logs as its configuration says: wait for the end of its init, then for a query.
    let image_def = if supabase {
        image_def.with_wait_for(WaitFor::message_on_stdout("PostgreSQL init process complete"))
    } else {
        image_def
            .with_wait_for(WaitFor::message_on_stdout(READY_LINE))
            .with_wait_for(WaitFor::message_on_stderr(READY_LINE))
    };
    let container = image_def
        .with_env_var("POSTGRES_USER", SUPERUSER)
        .with_env_var("POSTGRES_DB", "postgres")
        .with_env_var("POSTGRES_PASSWORD", &password)
        // Supabase's init connects through the socket here (as `supabase start` sets it).
        .with_env_var("POSTGRES_HOST", "/var/run/postgresql")
        // Throwaway data: initdb need not fsync (the official image passes these to initdb).
        .with_env_var("POSTGRES_INITDB_ARGS", "--no-sync")
        .with_label(CONTAINER_LABEL, "true")
        .with_label(OWNER_LABEL, std::process::id().to_string())
        .with_cmd(server_args(supabase))
        .with_startup_timeout(Duration::from_secs(180))
        .start()
        .await
        .with_context(|| {
            format!(
                "starting a container from image {image} (if it is not on this machine: `docker pull {image}` \
                 where a registry answers, or choose another with --image, or use --backend native)"
            )
        })?;
    let host = container.get_host().await?.to_string();
    let host = if host == "localhost" { "127.0.0.1".to_string() } else { host };
    let port = container.get_host_port_ipv4(5432).await?;
    let url = format!("postgres://{SUPERUSER}:{password}@{host}:{port}/postgres");
    Ok((url, Inner::Docker(Box::new(container))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supabases_image_is_known_from_any_registry() {
        let cases = [
            ("supabase/postgres:15.8.1.085", true),
            ("public.ecr.aws/supabase/postgres:17.6.1.132", true),
            ("supabase/postgres", true),
            ("postgres:15.8", false),
            ("local/postgres:15", false),
            ("localhost:5000/supabase/postgres-meta:v0.91", false),
        ];
        for (image, want) in cases {
            assert_eq!(is_supabase_image(image), want, "{image}");
        }
    }
}
