//! The rollback of one migration file, from what the catalog said before and after it: what it
//! added is dropped (dependents first), what it removed or changed is put back from the state
//! before (dependencies first), and what no statement can give back (rows, values, an enum label)
//! is said in the header. Pure: two snapshots and the previous function bodies in, SQL out.

use std::collections::{BTreeMap, BTreeSet};

mod data;
mod restore;

use data::{delete_added_rows, restore_data};
use restore::{restore_changed, restore_removed};

use crate::analysis::catalog::CatalogSnapshot;

type Attrs = BTreeMap<String, String>;

/// A generated script and what it cannot undo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    pub statements: Vec<String>,
    /// Irreversible parts, one sentence each: the script's header and the command's warnings.
    pub irreversible: Vec<String>,
}

/// What the file did to the rows (measured on the generated data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataChange {
    /// Columns (`public.t.c`) that held no value before the file and hold some after: a backfill.
    pub filled: Vec<String>,
    /// Rows changed or deleted per table, not explained by a filled column: (table, changed, deleted).
    pub rows: Vec<(String, usize, usize)>,
    /// Rows the file inserted into a table that existed before it: (table, key columns, key text).
    pub added: Vec<(String, Vec<String>, String)>,
    /// What else the measurement found that no statement undoes, in words.
    pub notes: Vec<String>,
}

/// An object name split as the catalog writes it: `policy p on public.t` → ("policy", "p", "public.t").
struct Name<'a> {
    kind: &'a str,
    object: &'a str,
    on: Option<&'a str>,
}

fn split(name: &str) -> Name<'_> {
    let (kind, rest) = name.split_once(' ').unwrap_or((name, ""));
    match rest.rsplit_once(" on ") {
        Some((object, on)) if matches!(kind, "policy" | "trigger" | "constraint") => {
            Name { kind, object, on: Some(on) }
        }
        _ => Name { kind, object: rest, on: None },
    }
}

/// `public.t.c` → (`public.t`, `c`).
fn column_parts(object: &str) -> (&str, &str) {
    object.rsplit_once('.').unwrap_or(("", object))
}

fn get<'a>(attrs: &'a Attrs, key: &str) -> &'a str {
    attrs.get(key).map_or("", String::as_str)
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The order objects are dropped in (dependents first) and created in (the reverse).
fn rank(kind: &str, attrs: &Attrs) -> u8 {
    match kind {
        "policy" => 0,
        "trigger" => 1,
        "table" if matches!(get(attrs, "kind"), "view" | "materialized view") => 2,
        "function" => 3,
        "constraint" if get(attrs, "definition").starts_with("FOREIGN KEY") => 4,
        "constraint" => 5,
        "index" => 6,
        "column" => 7,
        "table" => 8,
        "type" => 9,
        "extension" => 10,
        "schema" => 11,
        _ => 12,
    }
}

/// The rollback taking `after` back to `before`; `functions` holds each function's
/// `pg_get_functiondef` before the file.
pub fn rollback(
    before: &CatalogSnapshot,
    after: &CatalogSnapshot,
    functions: &BTreeMap<String, String>,
    data: &DataChange,
    concurrently: bool,
) -> Generated {
    let mut out = Generated::default();
    let added_tables = only_in(after, before);
    let removed_tables = only_in(before, after);
    let is_view = |table: &str| {
        let kind = |s: &CatalogSnapshot| s.objects.get(&format!("table {table}")).map(|a| get(a, "kind").to_string());
        [kind(before), kind(after)].into_iter().flatten().any(|k| k != "table")
    };

    // 0. Rows the file inserted (a bucket, a cron job, reference data), while the table is as
    // the file left it.
    delete_added_rows(data, &added_tables, &mut out);
    // 1. What the file added, dependents first; what lives on a table it added goes with it.
    let mut added: Vec<(&String, &Attrs)> =
        after.objects.iter().filter(|(n, _)| !before.objects.contains_key(*n)).collect();
    added.sort_by_key(|(n, a)| rank(split(n).kind, a));
    for (name, attrs) in added {
        let n = split(name);
        // An index names its table only in its definition (`… ON public.t USING …`).
        let index_on = (n.kind == "index")
            .then(|| get(attrs, "definition").split(" ON ").nth(1))
            .flatten()
            .and_then(|rest| rest.split_whitespace().next())
            .map(|t| t.trim_start_matches("ONLY "));
        let on_added = n.on.or(index_on).is_some_and(|t| added_tables.contains(t))
            || (n.kind == "column"
                && (added_tables.contains(column_parts(n.object).0) || is_view(column_parts(n.object).0)));
        if on_added || owned_sequence(&n, attrs, after) {
            continue;
        }
        let schema = n.on.and_then(|t| t.split_once('.')).map_or("", |(s, _)| s);
        let before_index = (n.kind == "constraint")
            .then(|| before.objects.get(&format!("index {schema}.{}", n.object)))
            .flatten()
            .map(|a| get(a, "definition"));
        drop_added(&n, attrs, before_index, concurrently, &mut out);
    }
    // 2. What it changed, and 3. what it removed, dependencies first.
    let mut back: Vec<(&String, &Attrs, Option<&Attrs>)> = before
        .objects
        .iter()
        .filter_map(|(n, b)| match after.objects.get(n) {
            None => Some((n, b, None)),
            Some(a) if a != b => Some((n, b, Some(a))),
            Some(_) => None,
        })
        .collect();
    // Columns in their old order: Postgres adds each at the end.
    back.sort_by_key(|(n, b, _)| {
        (std::cmp::Reverse(rank(split(n).kind, b)), get(b, "position").parse::<i64>().unwrap_or(0))
    });
    for (name, was, now) in back {
        let n = split(name);
        if n.kind == "column" && is_view(column_parts(n.object).0) {
            continue;
        }
        let recreated_table = n.kind == "column" && removed_tables.contains(column_parts(n.object).0);
        match now {
            None => restore_removed(&n, was, functions, recreated_table, concurrently, &mut out),
            Some(now) => restore_changed(&n, was, now, functions, concurrently, &mut out),
        }
    }
    restore_data(before, after, data, &mut out);
    out
}

/// A sequence an identity or serial column owns (`t_id_seq`): it goes with the column's identity,
/// the column or the table, and dropping it first is refused.
fn owned_sequence(n: &Name, attrs: &Attrs, after: &CatalogSnapshot) -> bool {
    if n.kind != "table" || get(attrs, "kind") != "sequence" {
        return false;
    }
    let (schema, sequence) = n.object.split_once('.').unwrap_or(("", n.object));
    after.objects.iter().any(|(name, a)| {
        let Some(column) = name.strip_prefix("column ") else { return false };
        let (table, c) = column_parts(column);
        let bare = table.split_once('.').map_or(table, |(_, t)| t);
        (!get(a, "identity").is_empty() && format!("{schema}.{bare}_{c}_seq") == n.object)
            || get(a, "default").contains(&format!("'{sequence}'"))
            || get(a, "default").contains(&format!("'{}'", n.object))
    })
}

/// Tables (`schema.name`) in `a` and not in `b`.
fn only_in<'a>(a: &'a CatalogSnapshot, b: &CatalogSnapshot) -> BTreeSet<&'a str> {
    a.objects.keys().filter(|n| !b.objects.contains_key(*n)).filter_map(|n| n.strip_prefix("table ")).collect()
}

fn drop_added(n: &Name, attrs: &Attrs, before_index: Option<&str>, concurrently: bool, out: &mut Generated) {
    let (object, on) = (n.object, n.on.unwrap_or_default());
    let sql = match n.kind {
        "policy" => format!("DROP POLICY IF EXISTS {object} ON {on};"),
        "trigger" => format!("DROP TRIGGER IF EXISTS {object} ON {on};"),
        "constraint" => {
            out.statements.push(format!("ALTER TABLE {on} DROP CONSTRAINT IF EXISTS {object};"));
            // `ADD CONSTRAINT … USING INDEX` took an index that existed before: dropping the
            // constraint drops it, so it is built again as it was.
            if let Some(index) = before_index {
                out.statements.push(format!("{};", index.replacen(" INDEX ", " INDEX IF NOT EXISTS ", 1)));
            }
            return;
        }
        "function" => format!("DROP ROUTINE IF EXISTS {object};"),
        // As the file built it: CONCURRENTLY, without blocking writes.
        "index" if concurrently => format!("DROP INDEX CONCURRENTLY IF EXISTS {object};"),
        "index" => format!("DROP INDEX IF EXISTS {object};"),
        "column" => {
            let (table, column) = column_parts(object);
            out.irreversible
                .push(format!("column {object}: dropped; values written into it after the push are lost with it"));
            format!("ALTER TABLE {table} DROP COLUMN IF EXISTS {column};")
        }
        "table" => {
            let kind = get(attrs, "kind");
            if kind == "table" {
                out.irreversible.push(format!("table {object}: dropped; rows written into it after the push are lost"));
            }
            let what = match kind {
                "view" => "VIEW",
                "materialized view" => "MATERIALIZED VIEW",
                "sequence" => "SEQUENCE",
                "foreign table" => "FOREIGN TABLE",
                _ => "TABLE",
            };
            format!("DROP {what} IF EXISTS {object};")
        }
        "type" => format!("DROP TYPE IF EXISTS {object};"),
        "extension" => format!("DROP EXTENSION IF EXISTS {object};"),
        "schema" => format!("DROP SCHEMA IF EXISTS {object};"),
        "default" => {
            restore::default_privileges(object, get(attrs, "grants"), "", out);
            return;
        }
        _ => {
            out.irreversible.push(format!("{} {object}: added by the file; not generated, drop it by hand", n.kind));
            return;
        }
    };
    out.statements.push(sql);
}

#[cfg(test)]
mod tests;
