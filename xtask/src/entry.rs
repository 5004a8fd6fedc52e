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
    if let Some(warning) = password_on_command_line(std::env::args()) {
        eprintln!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let (result, stopped) = runtime.block_on(async {
        // The branch that loses is dropped first: the command's future, with what it started
        // (containers, clusters), is gone before `interrupted` runs.
        tokio::select! {
            r = cli.cmd.run(cli.format) => (r, false),
            _ = tokio::signal::ctrl_c() => (Err(interrupted("interrupted").await), true),
            _ = terminated() => (Err(interrupted("terminated").await), true),
        }
    });
    // CPU work on a blocking thread (db-lint) is not waited for after an interrupt.
    if stopped {
        runtime.shutdown_background();
    }
    match result {
        Ok(Outcome::Pass) => ExitCode::SUCCESS,
        Ok(Outcome::Fail) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// A warning when a `--db-url` (or `--like`) on the command line holds a password: it stays in
/// the shell's history and, while the command runs, in every user's process list.
fn password_on_command_line(args: impl Iterator<Item = String>) -> Option<String> {
    let args: Vec<String> = args.collect();
    let flag = |a: &str| a == "--db-url" || a == "--like";
    let separate = args.windows(2).any(|w| flag(&w[0]) && crate::pg::has_password(&w[1]));
    let inline = args.iter().filter_map(|a| a.strip_prefix("--db-url=").or_else(|| a.strip_prefix("--like=")));
    if !separate && !inline.into_iter().any(crate::pg::has_password) {
        return None;
    }
    Some(
        "warning: the database URL on this command line holds a password: it stays in your shell history and, while \
         this runs, in the process list; put the URL in SUPABASE_DB_URL (or leave the password out of it and set \
         PGPASSWORD) instead"
            .to_string(),
    )
}

/// Says what an interrupt left: statements of ours on a target are cancelled first (none stays
/// queued behind the app's transactions), then what the target's history holds.
async fn interrupted(what: &str) -> anyhow::Error {
    let mut lines = vec![what.to_string()];
    lines.extend(crate::production::interrupt::cancel_in_flight().await);
    // What committed before the interrupt, as a record beside the ones finished runs write.
    lines.extend(crate::production::interrupted::record(what).await);
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

#[cfg(test)]
mod tests {
    use super::password_on_command_line;

    #[test]
    fn a_password_on_the_command_line_is_warned_of() {
        let check = |args: &[&str], warned: bool| {
            let got = password_on_command_line(args.iter().map(|s| s.to_string()));
            assert_eq!(got.is_some(), warned, "{args:?}");
            assert!(got.is_none_or(|w| !w.contains("s3cret")));
        };
        check(&["xtask", "db-push", "--db-url", "postgres://u:s3cret@h/db"], true);
        check(&["xtask", "db-push", "--db-url=postgres://u@h/db?password=s3cret"], true);
        check(&["xtask", "db-rehearse", "--like", "postgres://u:s3cret@h/db"], true);
        check(&["xtask", "db-push", "--db-url", "postgres://u@h/db"], false);
        check(&["xtask", "db-push"], false);
    }
}
