//! The rows: a backfilled column emptied again, rows the file inserted deleted, the rest said.

use std::collections::BTreeSet;

use super::{column_parts, literal, DataChange, Generated};
use crate::analysis::catalog::CatalogSnapshot;

/// The data, once the structure is back: a backfilled column empty again, as before; what else
/// the file did to rows is said.
pub(super) fn restore_data(before: &CatalogSnapshot, after: &CatalogSnapshot, data: &DataChange, out: &mut Generated) {
    for column in &data.filled {
        if !before.objects.contains_key(&format!("column {column}"))
            || !after.objects.contains_key(&format!("column {column}"))
        {
            continue;
        }
        let (table, c) = column_parts(column);
        out.statements.push(format!("UPDATE {table} SET {c} = NULL WHERE {c} IS NOT NULL;"));
        out.irreversible.push(format!(
            "column {column}: the file filled it; emptied again here, values the app wrote into it since go too"
        ));
    }
    for (table, changed, deleted) in &data.rows {
        if *changed > 0 {
            out.irreversible.push(format!(
                "table {table}: the file changed {changed} row(s) of the generated data; their values before it come \
                 only from the backup db-push verified"
            ));
        }
        if *deleted > 0 {
            out.irreversible.push(format!(
                "table {table}: the file deleted {deleted} row(s) of the generated data; they come back only from the \
                 backup db-push verified"
            ));
        }
    }
}

pub(super) fn delete_added_rows(data: &DataChange, added_tables: &BTreeSet<&str>, out: &mut Generated) {
    out.irreversible.extend(data.notes.iter().cloned());
    for (table, key, text) in data.added.iter().rev() {
        if added_tables.contains(table.as_str()) {
            continue;
        }
        let expr = match key.as_slice() {
            [] => {
                out.irreversible.push(format!("table {table}: the file inserted a row it has no key to find again by"));
                continue;
            }
            [one] => format!("{one}::text"),
            many => format!("ROW({})::text", many.join(", ")),
        };
        match table.as_str() {
            "cron.job" => out.statements.push(format!("SELECT cron.unschedule({});", literal(text))),
            "storage.buckets" => {
                out.statements.push(format!("DELETE FROM storage.objects WHERE bucket_id = {};", literal(text)));
                out.statements.push(format!("DELETE FROM storage.buckets WHERE {expr} = {};", literal(text)));
                out.irreversible.push(format!(
                    "bucket {text}: created by the file; the rows of the files stored in it since go with it (their \
                     bytes stay in storage until removed through the Storage API)"
                ));
            }
            _ => out.statements.push(format!("DELETE FROM {table} WHERE {expr} = {};", literal(text))),
        }
    }
}
