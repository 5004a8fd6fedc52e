//! Production-shaped data, fast: the app's generator through COPY with secondary indexes, keys and
//! foreign keys dropped first and rebuilt after (a sort each instead of a btree insert per row),
//! then vacuumed and analysed as production's steady state is.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::app_seam::{self, FixtureSize, FixtureStats};

/// What a load did and how long each part took.
pub struct Loaded {
    pub stats: FixtureStats,
    pub load: Duration,
    pub build: Duration,
}

/// (kind, drop statement, create statement) of every secondary index, key and foreign key.
const DEFERRED: &str =
    "SELECT 'index', format('DROP INDEX %s', x.indexrelid::regclass), pg_get_indexdef(x.indexrelid) \
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
     WHERE x.indrelid = ANY($1::regclass[]) AND NOT x.indisprimary \
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) \
     UNION ALL \
     SELECT CASE contype WHEN 'f' THEN 'fk' ELSE 'key' END, \
            format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname), \
            format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) \
     FROM pg_constraint WHERE contype IN ('f', 'p', 'u') AND conrelid = ANY($1::regclass[]) \
     ORDER BY 1";

pub async fn fast_load(conn: &mut PgConnection, size: FixtureSize, progress: impl Fn(&str)) -> anyhow::Result<Loaded> {
    let tables = app_seam::data_tables();
    let deferred: Vec<(String, String, String)> = sqlx::query_as(DEFERRED).bind(tables).fetch_all(&mut *conn).await?;
    for (_, drop, _) in &deferred {
        sqlx::raw_sql(drop).execute(&mut *conn).await?;
    }
    let started = Instant::now();
    let mut tx = conn.begin().await?;
    let stats = app_seam::load_fixture(&mut tx, size).await?;
    tx.commit().await?;
    let load = started.elapsed();
    progress("building indexes and foreign keys");
    let built = Instant::now();
    // Keys (a sort each, instead of random inserts into a btree per row), indexes, then foreign keys.
    let kind = |k: &'static str| deferred.iter().filter(move |d| d.0 == k);
    for (_, _, def) in kind("key").chain(kind("index")).chain(kind("fk")) {
        sqlx::raw_sql(def).execute(&mut *conn).await?;
    }
    // As production's steady state: vacuumed and analysed, so no autovacuum of the fresh load
    // queues in front of (and inflates) the migration's first lock.
    sqlx::raw_sql(&format!("VACUUM (ANALYZE) {}, auth.users", tables.join(", "))).execute(&mut *conn).await?;
    Ok(Loaded { stats, load, build: built.elapsed() })
}
