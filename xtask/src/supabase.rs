//! What Supabase is to a project's database: the platform layer a bare Postgres lacks, the CLI
//! wrapper for linked projects, and how PostgREST acts for a signed-in user.

pub mod act_as;
pub mod cli;
pub mod config;
pub mod layer;
pub mod platform;
pub mod queries;
pub mod remedy;
pub mod supautils;
