//! A cycle of foreign keys broken where it was met: the child was filled before its parent, its
//! nullable reference left NULL. Once the parent has rows, each child row gets its owner's parent
//! row, so a policy that follows the reference has something to follow.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{key_of, order, values, Generated, Table};

/// Fills the references [`order::back_references`] names, where they may be NULL and the parent
/// got rows; says in `out` what was filled, or why not.
pub(super) async fn fill_back_references(
    conn: &mut PgConnection,
    order: &[&Table],
    written: &BTreeMap<String, Vec<(Uuid, Value)>>,
    out: &mut Generated,
) -> anyhow::Result<()> {
    for (i, k) in order::back_references(order) {
        let table = order[i];
        let (columns, parent, parent_columns) = &table.foreign_keys[k];
        let facts: Vec<&values::ColumnFacts> =
            columns.iter().filter_map(|c| table.columns.iter().find(|f| &f.name == c)).collect();
        let (Some(rows), Some(parents)) = (written.get(&table.name), written.get(parent)) else { continue };
        if facts.iter().any(|f| f.not_null) || parents.is_empty() {
            continue;
        }
        let reference = format!("{}.({}) → {parent}", table.name, columns.join(", "));
        let mut tx = conn.begin().await?;
        let (mut filled, mut refused) = (0u64, None);
        for (n, (user, row)) in rows.iter().enumerate() {
            let own: Vec<&Value> = parents.iter().filter(|(o, _)| o == user).map(|(_, r)| r).collect();
            let pool: Vec<&Value> = if own.is_empty() { parents.iter().map(|(_, r)| r).collect() } else { own };
            let target = pool[n % pool.len()];
            let sets: Vec<String> = facts
                .iter()
                .zip(parent_columns)
                .map(|(f, pc)| {
                    let v = target.get(pc.trim_matches('"')).cloned().unwrap_or(Value::Null);
                    format!("{} = {}", f.name, values::literal_of(&v, &f.type_name))
                })
                .collect();
            let sql = format!("UPDATE {} AS t SET {} WHERE to_jsonb(t) @> $1::jsonb", table.name, sets.join(", "));
            let claims = serde_json::json!({ "sub": user.to_string(), "role": "authenticated" }).to_string();
            sqlx::query("SELECT set_config('request.jwt.claims', $1, true)").bind(&claims).execute(&mut *tx).await?;
            sqlx::raw_sql("SAVEPOINT back_reference").execute(&mut *tx).await?;
            match sqlx::query(&sql).bind(key_of(table, row)).execute(&mut *tx).await {
                Ok(done) => {
                    filled += done.rows_affected();
                    sqlx::raw_sql("RELEASE SAVEPOINT back_reference").execute(&mut *tx).await?;
                }
                Err(e) => {
                    refused = Some(e.to_string());
                    sqlx::raw_sql("ROLLBACK TO SAVEPOINT back_reference").execute(&mut *tx).await?;
                }
            }
        }
        let said = match (tx.commit().await, refused) {
            (Err(e), _) => format!("{reference}: a cycle, left NULL (the project refused the reference: {e})"),
            (Ok(()), Some(why)) if filled == 0 => format!("{reference}: a cycle, left NULL (refused: {why})"),
            (Ok(()), _) => format!("{reference}: a cycle, filled after {parent} ({filled} row(s))"),
        };
        out.back_references.push(said);
    }
    Ok(())
}
