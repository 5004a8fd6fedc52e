//! Data loss is its own finding: rows that existed before the pending migrations and are gone
//! after, per table, with the `ON DELETE CASCADE` that took them along, fail as
//! `data.loss.<table>` unless a migration declares it (`-- xtask:data-loss <table> <why>`). A
//! policy verdict never blames RLS for them: the matrix compares only rows present on both sides.

use std::collections::BTreeMap;

use super::data_snapshot::DataSnapshot;
use crate::report::{Check, Status};

/// The declarations `-- xtask:data-loss <table> <why>` in `texts`.
pub fn declared<'a>(texts: impl IntoIterator<Item = &'a str>) -> BTreeMap<String, String> {
    texts
        .into_iter()
        .flat_map(str::lines)
        .filter_map(|l| l.trim().strip_prefix("-- xtask:data-loss "))
        .map(|rest| {
            let (table, why) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
            (table.to_string(), why.trim().to_string())
        })
        .collect()
}

/// One check per table that lost rows (`data.loss.<table>`), or one passing `data.loss` when
/// none did. `cascades`: (child, parent) foreign keys with `ON DELETE CASCADE` as they were
/// before the migrations.
pub fn judge(
    before: &DataSnapshot,
    after: &DataSnapshot,
    declared: &BTreeMap<String, String>,
    cascades: &[(String, String)],
) -> Vec<Check> {
    let mut lost: BTreeMap<&str, (usize, usize, Option<&str>)> = BTreeMap::new();
    for (table, was) in &before.tables {
        let now = after.tables.get(table);
        let (gone, first) = match now {
            // Keyed by primary key: the rows whose key is gone.
            Some(now) if !was.key.is_empty() => {
                let gone: Vec<&String> = was.rows.keys().filter(|k| !now.rows.contains_key(*k)).collect();
                (gone.len(), gone.first().map(|k| k.as_str()))
            }
            // Without a key an update looks like a delete: only fewer rows count.
            Some(now) => (was.rows.len().saturating_sub(now.rows.len()), None),
            None => (was.rows.len(), was.rows.keys().next().map(String::as_str)),
        };
        if gone > 0 {
            lost.insert(table, (gone, was.rows.len(), first));
        }
    }
    if lost.is_empty() {
        let rows = before.row_count();
        let check =
            Check::new("data.loss", "every row present before the pending migrations is still there", Status::Pass);
        return vec![if rows == 0 {
            Check { status: Status::Warn, ..check }
                .value("not exercised: no rows before the migrations")
                .detail("no table had rows before the pending migrations, so no loss could be seen; seed some")
        } else {
            check.value(format!("{rows} row(s) in {} table(s) compared", before.tables.len()))
        }];
    }
    lost.iter()
        .map(|(table, (gone, of, first))| {
            let dropped = !after.tables.contains_key(*table);
            let mut line = if dropped {
                format!("{table} is gone, with its {of} row(s)")
            } else {
                format!("{gone} of {of} row(s) of {table} present before the pending migrations are gone")
            };
            if let Some(first) = first {
                line.push_str(&format!(" (first: {first})"));
            }
            let by: Vec<&str> = cascades
                .iter()
                .filter(|(child, parent)| child == table && lost.contains_key(parent.as_str()))
                .map(|(_, parent)| parent.as_str())
                .collect();
            if !by.is_empty() {
                line.push_str(&format!("; removed by ON DELETE CASCADE from {}", by.join(", ")));
            }
            let id = format!("data.loss.{table}");
            let title = format!("rows of {table} survive the pending migrations");
            match declared.get(*table) {
                Some(why) => Check::new(id, title, Status::Warn)
                    .value(format!("{gone} row(s)"))
                    .detail(format!("{line}; declared: {why}")),
                None => Check::new(id, title, Status::Fail).value(format!("{gone} row(s)")).detail(format!(
                    "{line}; if the migration means it, declare it: `-- xtask:data-loss {table} <why>`"
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::data_snapshot::TableData;

    fn snapshot(tables: &[(&str, bool, &[&str])]) -> DataSnapshot {
        let tables = tables
            .iter()
            .map(|(name, keyed, rows)| {
                let key = if *keyed { vec!["id".to_string()] } else { Vec::new() };
                let rows = rows.iter().map(|k| (k.to_string(), format!("h{k}"))).collect();
                (name.to_string(), TableData { key, columns: vec!["id".into()], rows })
            })
            .collect();
        DataSnapshot { tables }
    }

    #[test]
    fn rows_gone_fail_unless_declared_and_name_the_cascade() {
        let declared = declared(["-- xtask:data-loss public.old the catalogue is rebuilt"]);
        let cascades = vec![("public.likes".to_string(), "public.items".to_string())];
        // (before, after, expected (id, status))
        type Case<'a> =
            (&'a [(&'a str, bool, &'a [&'a str])], &'a [(&'a str, bool, &'a [&'a str])], &'a [(&'a str, Status)]);
        let cases: &[Case] = &[
            (
                &[("public.items", true, &["1", "2"])],
                &[("public.items", true, &["1", "2", "3"])],
                &[("data.loss", Status::Pass)],
            ),
            (&[("public.items", true, &[])], &[("public.items", true, &[])], &[("data.loss", Status::Warn)]),
            (
                &[("public.items", true, &["1", "2"]), ("public.likes", true, &["a"])],
                &[("public.items", true, &["3"]), ("public.likes", true, &[])],
                &[("data.loss.public.items", Status::Fail), ("data.loss.public.likes", Status::Fail)],
            ),
            (&[("public.old", true, &["1"])], &[], &[("data.loss.public.old", Status::Warn)]),
            // Without a key, an update is no loss; fewer rows are.
            (&[("public.log", false, &["x"])], &[("public.log", false, &["y"])], &[("data.loss", Status::Pass)]),
            (
                &[("public.log", false, &["x", "z"])],
                &[("public.log", false, &["y"])],
                &[("data.loss.public.log", Status::Fail)],
            ),
        ];
        for (before, after, expected) in cases {
            let checks = judge(&snapshot(before), &snapshot(after), &declared, &cascades);
            let got: Vec<(&str, Status)> = checks.iter().map(|c| (c.id.as_str(), c.status)).collect();
            assert_eq!(got, *expected, "{before:?} → {after:?}");
        }
        let checks = judge(
            &snapshot(&[("public.items", true, &["1"]), ("public.likes", true, &["a"])]),
            &snapshot(&[("public.items", true, &[]), ("public.likes", true, &[])]),
            &BTreeMap::new(),
            &cascades,
        );
        let likes = checks[1].detail.clone().unwrap_or_default();
        assert!(likes.contains("removed by ON DELETE CASCADE from public.items"), "{likes}");
    }
}
