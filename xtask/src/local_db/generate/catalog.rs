//! The project's tables as the generator sees them: every ordinary table of its schemas that no
//! extension owns, with columns, primary key and foreign keys.

use anyhow::Context;
use sqlx::PgConnection;

use super::{values, Table};
use crate::analysis::catalog::MANAGED_SCHEMAS;

/// Every ordinary table of the project's schemas that no extension owns.
pub async fn project_tables(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    Ok(table_oids(conn).await?.into_iter().map(|(_, name)| name).collect())
}

async fn table_oids(conn: &mut PgConnection) -> anyhow::Result<Vec<(i64, String)>> {
    let platform: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| s.to_string()).collect();
    sqlx::query_as(
        "SELECT c.oid::bigint, quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname <> ALL($1) \
           AND n.nspname NOT LIKE 'pg\\_%' \
           AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                           AND d.deptype = 'e') \
         ORDER BY 2",
    )
    .bind(&platform)
    .fetch_all(&mut *conn)
    .await
    .context("listing the project's tables")
}

/// The project's tables with their columns and foreign keys.
pub(super) async fn load(conn: &mut PgConnection) -> anyhow::Result<Vec<Table>> {
    let mut tables = Vec::new();
    for (oid, name) in table_oids(conn).await? {
        let columns = values::column_facts(conn, oid).await?;
        let foreign_keys: Vec<(Vec<String>, String, Vec<String>)> = sqlx::query_as(
            "SELECT (SELECT array_agg(quote_ident(a.attname) ORDER BY k.n) FROM unnest(con.conkey) WITH ORDINALITY \
                       k(attnum, n) JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum), \
                    (SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname) FROM pg_class pc \
                       JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE pc.oid = con.confrelid), \
                    (SELECT array_agg(quote_ident(a.attname) ORDER BY k.n) FROM unnest(con.confkey) WITH ORDINALITY \
                       k(attnum, n) JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) \
             FROM pg_constraint con WHERE con.conrelid = $1::oid AND con.contype = 'f' ORDER BY con.conname",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
        let key: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid \
               AND a.attnum = ANY (x.indkey) WHERE x.indrelid = $1::oid AND x.indisprimary",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
        tables.push(Table { name, key, columns, foreign_keys });
    }
    Ok(tables)
}
