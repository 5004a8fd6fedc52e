//! The flags every command that starts a database shares, accepted by db-lint (which needs none)
//! so one CI line can pass the same flags to every command; they change nothing there.

use clap::Args;

/// Accepted and ignored: db-lint reads files only.
#[derive(Debug, Clone, Default, Args)]
pub struct Ignored {
    #[arg(long, hide = true, value_name = "BACKEND")]
    pub backend: Option<String>,
    #[arg(long, hide = true)]
    pub image: Option<String>,
    #[arg(long, hide = true)]
    pub db_url: Option<String>,
    #[arg(long, hide = true)]
    pub users: Option<String>,
    #[arg(long, hide = true)]
    pub conversations_per_user: Option<String>,
    #[arg(long, hide = true)]
    pub messages_per_conversation: Option<String>,
    #[arg(long, hide = true)]
    pub seed: Option<String>,
    #[arg(long, hide = true)]
    pub batch_size: Option<String>,
    #[arg(long, hide = true)]
    pub batch_pause: Option<String>,
}

impl Ignored {
    /// The flags given, for a note saying they were ignored.
    pub fn given(&self) -> Vec<&'static str> {
        let all = [
            ("--backend", &self.backend),
            ("--image", &self.image),
            ("--db-url", &self.db_url),
            ("--users", &self.users),
            ("--conversations-per-user", &self.conversations_per_user),
            ("--messages-per-conversation", &self.messages_per_conversation),
            ("--seed", &self.seed),
            ("--batch-size", &self.batch_size),
            ("--batch-pause", &self.batch_pause),
        ];
        all.iter().filter(|(_, v)| v.is_some()).map(|(f, _)| *f).collect()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::flags::{Cli, Cmd};

    #[test]
    fn db_lint_accepts_the_flags_ci_passes_to_every_command() {
        let shared = ["--backend", "docker", "--image", "postgres:15.8", "--users", "4", "--batch-size", "500"];
        let ours = concat!(env!("CARGO_MANIFEST_DIR"), "/../supabase");
        let args = ["xtask", "db-lint", "--supabase-dir", ours].into_iter().chain(shared);
        let Ok(Cli { cmd: Cmd::DbLint(lint), .. }) = Cli::try_parse_from(args) else { panic!("refused") };
        assert_eq!(lint.ignored.given(), ["--backend", "--image", "--users", "--batch-size"]);
    }
}
