//! The local commands that take db-local-test's flags and add their own: db-rollback-test,
//! db-rollback-new, db-rls.

use std::path::PathBuf;

use clap::Args;

use super::DbLocalTest;

#[derive(Debug, Clone, Args)]
pub struct DbRollbackNew {
    #[command(flatten)]
    pub local: DbLocalTest,
    /// The versions to write a rollback for [default: the trailing migrations without a rollback
    /// script]
    #[arg(value_name = "VERSION")]
    pub versions: Vec<String>,
    /// Overwrite an existing rollback script (else the new one is written beside it as .sql.new)
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DbRollbackTest {
    #[command(flatten)]
    pub local: DbLocalTest,
}

#[derive(Debug, Clone, Args)]
pub struct DbRls {
    #[command(flatten)]
    pub local: DbLocalTest,
    /// Also write the access matrix before and after (counts and probe outcomes) to this file
    #[arg(long, value_name = "PATH")]
    pub matrix: Option<PathBuf>,
}
