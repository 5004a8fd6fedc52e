//! The second session: what the app could not do while a traced statement held its locks —
//! reads and writes of each table (table locks), updates and deletes of existing rows and of
//! parents whose delete cascades (row locks, which no table lock shows). Each try is rolled back
//! under a 50 ms lock timeout.

use sqlx::{Connection, PgConnection};

/// A second session tries the app's reads and writes on each table for 50 ms.
pub(super) async fn probe_app(probe: &mut PgConnection, tables: &[String]) -> anyhow::Result<Vec<String>> {
    let mut blocked = Vec::new();
    for table in tables {
        for (what, sql) in [
            ("SELECT", format!("SELECT 1 FROM {table} LIMIT 1")),
            ("INSERT/UPDATE/DELETE", format!("LOCK TABLE {table} IN ROW EXCLUSIVE MODE")),
        ] {
            let mut tx = probe.begin().await?;
            sqlx::raw_sql("SET LOCAL lock_timeout = '50ms'").execute(&mut *tx).await?;
            let result = sqlx::raw_sql(&sql).execute(&mut *tx).await;
            let _ = tx.rollback().await;
            if let Err(sqlx::Error::Database(db)) = result {
                if db.code().as_deref() == Some("55P03") {
                    blocked.push(format!("{what} on {table}"));
                }
            }
        }
    }
    Ok(blocked)
}

/// A second session tries to lock existing rows of each table for 50 ms, as an UPDATE or DELETE
/// of the app would (`FOR UPDATE`, rolled back): the first, middle and last page's first row, then
/// a delete of the parent of the first row where the foreign key cascades to this table.
pub(super) async fn probe_rows(probe: &mut PgConnection, tables: &[String]) -> anyhow::Result<Vec<String>> {
    let mut blocked = Vec::new();
    for table in tables {
        let pages: i64 =
            sqlx::query_scalar("SELECT greatest(relpages, 1)::bigint FROM pg_class WHERE oid = $1::regclass")
                .bind(table)
                .fetch_one(&mut *probe)
                .await?;
        let rows: Vec<String> = [0, pages / 2, pages - 1]
            .iter()
            .map(|p| {
                format!(
                    "SELECT 1 FROM {table} WHERE ctid = (SELECT ctid FROM {table} WHERE ctid >= '({p},0)'::tid LIMIT 1) \
                     FOR UPDATE"
                )
            })
            .collect();
        if try_locked(probe, &rows).await? {
            blocked.push(table.clone());
            continue;
        }
        // The parent of the first row, where deleting it cascades here.
        let cascades: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT con.confrelid::regclass::text, \
                    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) FROM unnest(con.confkey) \
                       WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum), \
                    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) FROM unnest(con.conkey) \
                       WITH ORDINALITY k(attnum, n) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) \
             FROM pg_constraint con WHERE con.contype = 'f' AND con.confdeltype = 'c' AND con.conrelid = $1::regclass",
        )
        .bind(table)
        .fetch_all(&mut *probe)
        .await?;
        for (parent, parent_key, child_key) in cascades {
            let delete = format!(
                "DELETE FROM {parent} WHERE ({parent_key}) = (SELECT {child_key} FROM {table} WHERE ({child_key}) IS NOT NULL LIMIT 1)"
            );
            if try_locked(probe, &[delete]).await? {
                blocked.push(format!("{table} (deleting a parent in {parent} cascades)"));
                break;
            }
        }
    }
    Ok(blocked)
}

/// Whether any of `sqls`, each in a transaction rolled back with a 50 ms lock timeout, waited on
/// a lock (55P03) every time of three, 20 ms apart: the app's own requests hold row locks too,
/// for milliseconds, and a migration's lock is still there on the third try. Other errors mean
/// nothing here (the probe is not the app's exact write).
async fn try_locked(probe: &mut PgConnection, sqls: &[String]) -> anyhow::Result<bool> {
    for sql in sqls {
        let mut waited = 0;
        for attempt in 0..3 {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let mut tx = probe.begin().await?;
            sqlx::raw_sql("SET LOCAL lock_timeout = '50ms'").execute(&mut *tx).await?;
            let result = sqlx::raw_sql(sql).execute(&mut *tx).await;
            let _ = tx.rollback().await;
            match result {
                Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("55P03") => waited += 1,
                _ => break,
            }
        }
        if waited == 3 {
            return Ok(true);
        }
    }
    Ok(false)
}
