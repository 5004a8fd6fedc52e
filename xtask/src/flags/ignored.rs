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
