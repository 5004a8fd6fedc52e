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
        tokio::select! {
            r = cli.cmd.run() => r,
            // Dropping the command's future tears down what it started (containers, clusters).
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; the ephemeral Postgres was removed")),
            _ = terminated() => Err(anyhow::anyhow!("terminated; the ephemeral Postgres was removed")),
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

/// SIGTERM (a CI job cancelled, `kill`) tears down like Ctrl-C does.
#[cfg(unix)]
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminated() {
    std::future::pending().await
}
