//! The one seam between the generic tool and a project's app: our chat app's database contract
//! (the `app` crate) — whether it applies, its test-data generator, its smoke run, its RPC probes
//! and its timed queries. Nothing else in `xtask/` names the app; a project without it gets
//! every generic check and a skip (with the reason) for these.

use sqlx::PgConnection;
use uuid::Uuid;

pub use app::{
    fixture::{FixtureSize, FixtureStats},
    smoke::SmokeRun,
    Client,
};

/// A connection to the app as PostgREST would serve it.
pub async fn connect(url: &str) -> sqlx::Result<Client> {
    Client::connect(url).await
}

/// What the app uses that this database lacks (empty: the app's steps apply).
pub async fn missing_contract(client: &Client) -> sqlx::Result<Vec<String>> {
    app::missing_contract(client.pool()).await
}

/// The tables the generator fills (besides `auth.users`), parents first.
pub fn data_tables() -> &'static [&'static str] {
    app::fixture::TABLES
}

/// Loads the deterministic test data in `conn`'s transaction.
pub async fn load_fixture(conn: &mut PgConnection, size: FixtureSize) -> sqlx::Result<FixtureStats> {
    app::fixture::Fixture::new(size).load(conn).await
}

/// One line on what was loaded.
pub fn describe(stats: &FixtureStats) -> String {
    format!("{} users, {} conversations, {} messages", stats.users, stats.conversations, stats.messages)
}

/// The generator sizes of a database's shape (read-only), and that shape in words.
pub async fn shape_of(conn: &mut PgConnection, seed: u64) -> sqlx::Result<(FixtureSize, String)> {
    let (users, conversations, messages) = app::fixture::row_counts(conn).await?;
    let words = format!("{users} users, {conversations} conversations, {messages} messages");
    Ok((FixtureSize::like_counts(users, conversations, messages, seed), words))
}

pub async fn smoke(client: &Client, tag: &str) -> SmokeRun {
    app::smoke::run(client, tag).await
}

/// The calls the app's RPCs must refuse (anon, another user, no subject).
pub async fn rpc_probes(client: &Client, tag: &str) -> SmokeRun {
    app::probes::run(client, tag).await
}

/// Two failed probes fail the same way: both let the call through (a hole), or both broke.
pub fn same_probe_failure(before: &str, after: &str) -> bool {
    before.starts_with(app::probes::NOT_A_REFUSAL) == after.starts_with(app::probes::NOT_A_REFUSAL)
}

/// The app's read queries and the user (auth id) to run them as.
pub async fn timed_queries(
    conn: &mut PgConnection,
) -> sqlx::Result<(Vec<crate::db_rehearse::timing::TimedQuery>, Option<Uuid>)> {
    let (queries, user) = app::queries::for_busiest_user(conn).await?;
    let timed =
        queries.into_iter().map(|q| crate::db_rehearse::timing::TimedQuery { name: q.name.to_string(), sql: q.sql });
    Ok((timed.collect(), user))
}

/// The ids the smoke run wrote, as text (rows the rollback proof must account for).
pub fn written_ids(run: &SmokeRun) -> Vec<String> {
    let w = &run.writes;
    w.users.iter().chain(&w.conversations).chain(&w.messages).map(|id| id.to_string()).collect()
}
