//! The one integration-test binary: real Postgres (docker and native backends), real roles and
//! RLS, real pg_dump. Every test gets its own cluster, container or database.

// A failed expectation is how a test reports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

mod api_reach;
mod auth_layer;
mod backends;
mod backfill;
mod catalog;
mod db_local_test;
mod examples;
mod install;
mod linked;
mod lint;
mod pgtap;
mod platform;
mod production;
mod rehearse;
mod report;
mod rls;
mod rls_any_project;
mod rollback;
mod rollback_new;
mod rollback_platform;
mod runner;
mod session;
mod tidy;
mod tls;
mod watch;
