//! The command line, for both binaries built from this code: `cargo xtask` in this repository and
//! the installable `supabase-xtask` for any other. Parse flags, run one command, map its outcome
//! to the exit status (0 all checks passed, 1 a check failed, 2 usage or environment error).

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::{flags::Cli, report::Outcome};

/// Parses the arguments as `bin_name` (`cargo xtask`, or the installed `supabase-xtask`), runs the
/// command, and maps its outcome to the exit status.
pub fn main(bin_name: &'static str) -> ExitCode {
    let matches = Cli::command().name(bin_name).bin_name(bin_name).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    crate::report::set_format(cli.format);
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
    lines.extend(crate::production::interrupt::cancel_in_flight().await);
    if crate::pg::started_any() {
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
