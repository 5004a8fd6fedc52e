//! `cargo xtask`: parse flags, run one command, map its outcome to the exit status
//! (0 all checks passed, 1 a check failed, 2 usage or environment error).

use std::process::ExitCode;

use clap::Parser;
use xtask::{flags::Cli, report::Outcome};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        // The branch that loses is dropped first: the command's future, with what it started
        // (containers, clusters), is gone before `interrupted` runs.
        tokio::select! {
            r = cli.cmd.run() => r,
            _ = tokio::signal::ctrl_c() => Err(interrupted("interrupted").await),
            _ = terminated() => Err(interrupted("terminated").await),
        }
    });
    match result {
        Ok(Outcome::Pass) => ExitCode::SUCCESS,
        Ok(Outcome::Fail) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Says what an interrupt left: statements of ours on a target are cancelled first (none stays
/// queued behind the app's transactions), then what the target's history holds.
async fn interrupted(what: &str) -> anyhow::Error {
    let mut lines = vec![what.to_string()];
    lines.extend(xtask::target::interrupt::cancel_in_flight().await);
    if xtask::pg::started_any() {
        lines.push("the ephemeral Postgres this run started was removed".into());
    }
    anyhow::anyhow!(lines.join("; "))
}

/// SIGTERM (a CI job cancelled, `kill`) and SIGHUP (the terminal closed) tear down like Ctrl-C.
#[cfg(unix)]
async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
        (Ok(mut term), Ok(mut hup)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending().await
}
