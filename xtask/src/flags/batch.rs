//! How batched backfills run, for every command that applies migrations.

use clap::Args;

use super::Span;

/// How batched backfills run (files marked `-- xtask:backfill`); each flag overrides the file's own.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Batch {
    /// Keys per backfill batch, each batch its own transaction [default: the file's, else 10000]
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
    /// Pause between backfill batches (e.g. 50ms), leaving the database room for the app
    #[arg(long, value_name = "DURATION")]
    pub batch_pause: Option<Span>,
}

impl Batch {
    pub fn overrides(&self) -> crate::runner::backfill::Overrides {
        crate::runner::backfill::Overrides {
            rows: self.batch_size,
            pause: self.batch_pause.map(|s| s.0),
            progress: true,
        }
    }
}
