//! The app under load while the pending files run: a few connections of a signed-in user (role
//! `authenticated`, Supabase Auth's claims, its 8 s statement timeout) read and edit rows it can
//! see at a fixed rate, each request timed. Edits are rolled back. Facts only: `latency` judges.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::supabase::act_as::{act_as, Persona, TokenClaims};

/// Connections of the workload, and the pause between one connection's requests.
const CONNECTIONS: usize = 3;
const EVERY: Duration = Duration::from_millis(50);

/// One request: when it started (since the workload began), how long it took, its SQLSTATE.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub at: Duration,
    pub took: Duration,
    pub error: Option<String>,
    pub what: &'static str,
}

/// A row the persona can see: table, key column, key value (as text), and the column an edit
/// sets to itself (the first that is not the key).
#[derive(Debug, Clone)]
struct Target {
    table: String,
    key: String,
    /// The key's type, so the lookup is by the primary key's index.
    ty: String,
    value: String,
    column: String,
}

/// The workload, running on a thread of its own (its own runtime, so its timings never wait for
/// the tracer's task) until `stop`.
pub struct Workload {
    pub started: Instant,
    pub persona: Option<String>,
    /// Tables it reads and edits.
    pub tables: Vec<String>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Sample>>>,
}

impl Workload {
    /// Starts the workload on `url` as the first user of `auth.users`, on rows it sees in the
    /// project's biggest RLS tables; with no such user or rows, it starts nothing (`tables` is
    /// empty).
    pub async fn start(url: &str) -> anyhow::Result<Workload> {
        let mut conn = crate::pg::connect(url).await?;
        let user: Option<(Uuid, String)> =
            sqlx::query_as("SELECT id, coalesce(email, id::text) FROM auth.users ORDER BY created_at, id LIMIT 1")
                .fetch_optional(&mut conn)
                .await
                .unwrap_or(None);
        let stop = Arc::new(AtomicBool::new(false));
        let mut workload = Workload { started: Instant::now(), persona: None, tables: Vec::new(), stop, thread: None };
        let Some((id, email)) = user else { return Ok(workload) };
        let persona = Persona::User { email: email.clone(), auth_id: id, token: TokenClaims(None) };
        let targets = visible_rows(&mut conn, &persona).await?;
        if targets.is_empty() {
            return Ok(workload);
        }
        workload.persona = Some(email);
        workload.tables =
            targets.iter().map(|t| t.table.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        let (url, stop, started) = (url.to_string(), workload.stop.clone(), Instant::now());
        workload.started = started;
        workload.thread = Some(std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return Vec::new() };
            rt.block_on(async {
                let mut conns = Vec::new();
                for _ in 0..CONNECTIONS {
                    match crate::pg::connect(&url).await {
                        Ok(c) => conns.push(c),
                        Err(_) => return Vec::new(),
                    }
                }
                let loops = conns.iter_mut().enumerate().map(|(n, c)| run(c, &targets, &persona, &stop, started, n));
                futures::future::join_all(loops).await.into_iter().flatten().collect()
            })
        }));
        Ok(workload)
    }

    /// Stops it; every request it made, in start order.
    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        let mut samples = self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default();
        samples.sort_by_key(|s| s.at);
        samples
    }
}

async fn run(
    conn: &mut PgConnection,
    targets: &[Target],
    persona: &Persona,
    stop: &AtomicBool,
    started: Instant,
    offset: usize,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut i = offset;
    while !stop.load(Ordering::SeqCst) {
        let target = &targets[i % targets.len()];
        let what = if i.is_multiple_of(2) { "read" } else { "edit" };
        let at = started.elapsed();
        let begun = Instant::now();
        let error = request(conn, persona, target, what).await.err();
        samples.push(Sample { at, took: begun.elapsed(), error, what });
        i += CONNECTIONS;
        tokio::time::sleep(EVERY).await;
    }
    samples
}

/// One request as PostgREST would run it; the SQLSTATE when it failed.
async fn request(conn: &mut PgConnection, persona: &Persona, t: &Target, what: &str) -> Result<(), String> {
    let code = |e: sqlx::Error| match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.to_string()).unwrap_or_else(|| db.message().to_string()),
        other => other.to_string(),
    };
    let mut tx = conn.begin().await.map_err(code)?;
    act_as(&mut tx, persona).await.map_err(code)?;
    sqlx::raw_sql("SET LOCAL statement_timeout = '8s'").execute(&mut *tx).await.map_err(code)?;
    // Not prepared: a cached plan would fail after the migration changes the table (0A000),
    // which is the client's cache, not the migration.
    let value = format!("'{}'::{}", t.value.replace('\'', "''"), t.ty);
    let sql = match what {
        "read" => format!("SELECT * FROM {} WHERE {} = {value}", t.table, t.key),
        _ => format!("UPDATE {} SET {c} = {c} WHERE {} = {value}", t.table, t.key, c = t.column),
    };
    let result = sqlx::raw_sql(&sql).execute(&mut *tx).await.map(drop).map_err(code);
    let _ = tx.rollback().await;
    result
}

/// Up to 20 rows the persona sees in each of the project's four biggest RLS tables with a
/// one-column primary key.
async fn visible_rows(conn: &mut PgConnection, persona: &Persona) -> anyhow::Result<Vec<Target>> {
    let tables: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.oid::regclass::text, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), \
                coalesce((SELECT quote_ident(o.attname) FROM pg_attribute o WHERE o.attrelid = c.oid AND o.attnum > 0 \
                  AND NOT o.attisdropped AND o.attgenerated = '' AND o.attnum <> a.attnum ORDER BY o.attnum DESC LIMIT 1), \
                  quote_ident(a.attname)) \
         FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary AND i.indnkeyatts = 1 \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] \
         WHERE c.relkind = 'r' AND c.relrowsecurity AND n.nspname = 'public' \
         ORDER BY c.reltuples DESC, 1 LIMIT 4",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut targets = Vec::new();
    for (table, key, ty, column) in tables {
        let mut tx = conn.begin().await?;
        act_as(&mut tx, persona).await?;
        let values: Vec<String> = sqlx::query_scalar(&format!("SELECT {key}::text FROM {table} LIMIT 20"))
            .fetch_all(&mut *tx)
            .await
            .unwrap_or_default();
        tx.rollback().await?;
        targets.extend(values.into_iter().map(|value| Target {
            table: table.clone(),
            key: key.clone(),
            ty: ty.clone(),
            value,
            column: column.clone(),
        }));
    }
    Ok(targets)
}
