//! `DataSnapshot`: one hash per row (keyed by primary key) of every table in a catalog snapshot,
//! over the columns that existed then, so data before a migration and after its rollback compare
//! row by row without holding the rows.

use std::collections::BTreeMap;

use anyhow::Context;
use sqlx::PgConnection;

use crate::analysis::catalog::CatalogSnapshot;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSnapshot {
    pub tables: BTreeMap<String, TableData>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableData {
    /// Primary-key columns (empty: rows are keyed by their own hash).
    pub key: Vec<String>,
    /// The columns hashed, in table order.
    pub columns: Vec<String>,
    /// Key text → md5 of the row.
    pub rows: BTreeMap<String, String>,
}

/// How the data after compares with the data before, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataComparison {
    /// (table, key) of rows present before and missing after.
    pub missing: Vec<(String, String)>,
    /// (table, key) of rows whose values changed.
    pub changed: Vec<(String, String)>,
    /// (table, key) of rows present only after.
    pub added: Vec<(String, String)>,
}

/// Platform tables migrations write rows into (a bucket, a cron job, a vault secret): part of
/// the rollback proof's data.
const PLATFORM_DATA: [&str; 3] = ["storage.buckets", "cron.job", "vault.secrets"];

impl DataSnapshot {
    /// Hashes every ordinary table of `catalog`.
    pub async fn take(conn: &mut PgConnection, catalog: &CatalogSnapshot) -> anyhow::Result<DataSnapshot> {
        DataSnapshot::take_tables(conn, catalog, catalog.tables()).await
    }

    /// For the rollback proof, from a [`CatalogSnapshot::take_everything`]: the project's tables
    /// and the platform tables migrations write rows into, not the platform's own bookkeeping.
    pub async fn take_for_proof(conn: &mut PgConnection, catalog: &CatalogSnapshot) -> anyhow::Result<DataSnapshot> {
        let managed = crate::analysis::catalog::MANAGED_SCHEMAS;
        let tables = catalog
            .tables()
            .into_iter()
            .filter(|t| {
                let schema = t.split('.').next().unwrap_or_default().trim_matches('"');
                !managed.contains(&schema) || PLATFORM_DATA.contains(&t.as_str())
            })
            .collect();
        DataSnapshot::take_tables(conn, catalog, tables).await
    }

    async fn take_tables(
        conn: &mut PgConnection,
        catalog: &CatalogSnapshot,
        names: Vec<String>,
    ) -> anyhow::Result<DataSnapshot> {
        let mut tables = BTreeMap::new();
        for table in names {
            let key: Vec<String> = sqlx::query_scalar(
                "SELECT quote_ident(a.attname) FROM pg_index x \
                 JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey) \
                 WHERE x.indrelid = $1::regclass AND x.indisprimary ORDER BY array_position(x.indkey, a.attnum)",
            )
            .bind(&table)
            .fetch_all(&mut *conn)
            .await
            .with_context(|| format!("reading the primary key of {table}"))?;
            let columns = catalog.columns(&table);
            let rows = hash_rows(conn, &table, &key, &columns).await?;
            tables.insert(table, TableData { key, columns, rows });
        }
        Ok(DataSnapshot { tables })
    }

    /// Hashes the same tables and columns as `before` (columns added since are ignored; a column
    /// that is gone is an error naming it).
    pub async fn take_like(conn: &mut PgConnection, before: &DataSnapshot) -> anyhow::Result<DataSnapshot> {
        let mut tables = BTreeMap::new();
        for (table, data) in &before.tables {
            let rows = hash_rows(conn, table, &data.key, &data.columns).await?;
            tables.insert(table.clone(), TableData { rows, ..data.clone() });
        }
        Ok(DataSnapshot { tables })
    }

    pub fn row_count(&self) -> usize {
        self.tables.values().map(|t| t.rows.len()).sum()
    }

    pub fn compare(&self, after: &DataSnapshot) -> DataComparison {
        let mut out = DataComparison::default();
        for (table, before) in &self.tables {
            let empty = TableData::default();
            let now = after.tables.get(table).unwrap_or(&empty);
            for (key, hash) in &before.rows {
                match now.rows.get(key) {
                    None => out.missing.push((table.clone(), key.clone())),
                    Some(h) if h != hash => out.changed.push((table.clone(), key.clone())),
                    Some(_) => {}
                }
            }
            for key in now.rows.keys().filter(|k| !before.rows.contains_key(*k)) {
                out.added.push((table.clone(), key.clone()));
            }
        }
        out
    }
}

async fn hash_rows(
    conn: &mut PgConnection,
    table: &str,
    key: &[String],
    columns: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let row = format!("md5(ROW({})::text)", columns.join(", "));
    let key_expr = match key {
        [] => row.clone(),
        [one] => format!("{one}::text"),
        many => format!("ROW({})::text", many.join(", ")),
    };
    let sql = format!("SELECT {key_expr}, {row} FROM {table}");
    let rows: Vec<(String, String)> = sqlx::query_as(&sql)
        .fetch_all(&mut *conn)
        .await
        .with_context(|| format!("hashing the rows of {table} over columns {}", columns.join(", ")))?;
    let mut out = BTreeMap::new();
    for (k, h) in rows {
        // Without a primary key, identical rows share a key: number the duplicates.
        let mut k = k;
        let mut n = 1;
        while out.contains_key(&k) {
            n += 1;
            k = format!("{k}#{n}");
        }
        out.insert(k, h);
    }
    Ok(out)
}
