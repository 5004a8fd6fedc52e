//! What a database state is, read from Postgres and judged: catalog and data snapshots, the
//! project's check files, Supabase-style lints and the row-level security matrix.

pub mod api_reach;
pub mod catalog;
pub mod checks;
pub mod coverage;
pub mod data_loss;
pub mod data_snapshot;
pub mod lints;
pub mod pgtap;
pub mod rls;
