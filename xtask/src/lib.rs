//! Database safety tooling for Supabase projects, as a library so tests drive the same code the
//! `cargo xtask` binary runs. `main.rs` only parses flags and dispatches.
//!
//! The public items are for the binary and the integration tests only; nothing here is a stable
//! API for other crates. The folders are ARCHITECTURE.md's boxes: `pg` (ephemeral Postgres),
//! `runner` (the CLI's migration semantics), `supabase` (the platform), `analysis` (what a
//! database state is), `target` (production), `report` (checks and their rendering), and the
//! commands, one `db_*.rs` each.

pub mod analysis;
pub mod app_seam;
pub mod bench;
pub mod db_backup;
pub mod db_clean;
pub mod db_lint;
pub mod db_local_test;
pub mod db_push;
pub mod db_rehearse;
pub mod db_rls;
pub mod db_rollback;
pub mod db_rollback_new;
pub mod db_rollback_test;
pub mod db_validate;
pub mod db_verify;
pub mod db_watch;
pub mod entry;
pub mod flags;
pub mod local_db;
pub mod pg;
pub mod production;
pub mod report;
pub mod runner;
pub mod span;
pub mod supabase;

use report::Outcome;

impl flags::Cmd {
    /// Runs the command, its report printed as `format` asks.
    pub async fn run(self, format: report::formats::Format) -> anyhow::Result<Outcome> {
        use flags::Cmd::*;
        match self {
            DbLocalTest(cmd) => cmd.run(format).await,
            DbClean(cmd) => cmd.run(format).await,
            DbRollbackTest(cmd) => cmd.run(format).await,
            DbRollbackNew(cmd) => cmd.run(format).await,
            DbRls(cmd) => cmd.run(format).await,
            DbValidate(cmd) => cmd.run(format).await,
            DbBackup(cmd) => cmd.run(format).await,
            DbPush(cmd) => cmd.run(format).await,
            DbVerify(cmd) => cmd.run(format).await,
            DbLint(cmd) => cmd.run(format).await,
            DbWatch(cmd) => cmd.run(format).await,
            DbRollback(cmd) => cmd.run(format).await,
            DbRehearse(cmd) => cmd.run(format).await,
            Bench(cmd) => cmd.run(format).await,
        }
    }
}
