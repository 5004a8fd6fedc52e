//! Which migrations are pending (under test), for every command that reads the project's plan.

use clap::Args;

use crate::runner::pending::Choice;

/// Which migrations are pending: the trailing ones with a rollback script, those from
/// `--since`, or those the branch adds compared with `--base`.
#[derive(Debug, Clone, Default, Args)]
pub struct Pending {
    /// First pending version; default: the trailing migrations that have a rollback script
    #[arg(long, value_name = "VERSION", conflicts_with = "base")]
    pub since: Option<String>,
    /// Pending = the migration files this branch adds compared with git REF (e.g. origin/main); a
    /// file REF already has that the branch edits or deletes fails [default in a GitHub pull
    /// request: origin/$GITHUB_BASE_REF]
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
}

impl Pending {
    /// `--since`, else `--base`, else the pull request's base branch when GitHub Actions says
    /// there is one, else the trailing files with a rollback script.
    pub fn choice(&self) -> Choice {
        if let Some(since) = &self.since {
            return Choice::Since(since.clone());
        }
        let base = self.base.clone().or_else(|| {
            std::env::var("GITHUB_BASE_REF")
                .ok()
                .filter(|b| !b.trim().is_empty())
                .map(|b| format!("origin/{}", b.trim()))
        });
        base.map_or(Choice::Trailing, Choice::Base)
    }
}
