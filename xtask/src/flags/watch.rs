//! db-watch's flags: how long, how often, the thresholds.

use std::path::PathBuf;

use clap::Args;

use super::{Project, Span, TargetArgs};

#[derive(Debug, Clone, Args)]
pub struct DbWatch {
    #[command(flatten)]
    pub project: Project,
    #[command(flatten)]
    pub target: TargetArgs,
    /// How long to watch
    #[arg(long = "for", value_name = "DURATION", default_value = "1h")]
    pub r#for: Span,
    /// One window: how often to sample
    #[arg(long, value_name = "DURATION", default_value = "1m")]
    pub every: Span,
    /// A changed table's statements slower than before the push by this factor fail
    #[arg(long, value_name = "FACTOR", default_value_t = 2.0)]
    pub max_slowdown: f64,
    /// A session waiting on a lock longer than this fails
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub max_blocking: Span,
    /// The baseline db-push saved [default: <supabase-dir>/migration-log/watch-baseline.json]
    #[arg(long, value_name = "PATH")]
    pub baseline: Option<PathBuf>,
}
