//! The order tables are filled in: parents before children, across schemas, whatever their names.

use std::collections::{BTreeMap, BTreeSet};

use super::Table;

/// Parents before children; a cycle is broken where it is met (its foreign key is then filled
/// from rows already there, or left NULL when it may be).
pub(super) fn foreign_key_order(tables: &[Table]) -> Vec<&Table> {
    let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    fn visit<'a>(
        t: &'a Table,
        by_name: &BTreeMap<&str, &'a Table>,
        visiting: &mut BTreeSet<&'a str>,
        done: &mut BTreeSet<&'a str>,
        order: &mut Vec<&'a Table>,
    ) {
        if done.contains(t.name.as_str()) || !visiting.insert(t.name.as_str()) {
            return;
        }
        for (_, parent, _) in &t.foreign_keys {
            if let Some(p) = by_name.get(parent.as_str()) {
                visit(p, by_name, visiting, done, order);
            }
        }
        done.insert(t.name.as_str());
        order.push(t);
    }
    for t in tables {
        visit(t, &by_name, &mut BTreeSet::new(), &mut done, &mut order);
    }
    order
}

/// The foreign keys of `order` that point at a table filled later (a cycle broken there), as
/// (child's index in `order`, the foreign key's index in the child): filled afterwards where
/// they may be NULL.
pub(super) fn back_references(order: &[&Table]) -> Vec<(usize, usize)> {
    let position: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();
    let mut out = Vec::new();
    for (i, t) in order.iter().enumerate() {
        for (k, (_, parent, _)) in t.foreign_keys.iter().enumerate() {
            if position.get(parent.as_str()).is_some_and(|&p| p > i) {
                out.push((i, k));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, parents: &[&str]) -> Table {
        let foreign_keys =
            parents.iter().map(|p| (vec!["p".to_string()], p.to_string(), vec!["id".to_string()])).collect();
        Table { name: name.into(), key: vec!["id".into()], columns: Vec::new(), foreign_keys }
    }

    #[test]
    fn parents_come_before_children_whatever_their_names() {
        // (tables with their parents, the order expected)
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], &'a [&'a str]);
        let cases: &[Case] = &[
            (&[("public.achild", &["public.zparent"]), ("public.zparent", &[])], &["public.zparent", "public.achild"]),
            (
                &[("app.a", &["public.b"]), ("public.b", &["private.c"]), ("private.c", &["auth.users"])],
                &["private.c", "public.b", "app.a"],
            ),
            // A cycle is broken where it is met; each table comes once.
            (&[("public.a", &["public.b"]), ("public.b", &["public.a"])], &["public.b", "public.a"]),
            (&[("public.self", &["public.self"])], &["public.self"]),
        ];
        for (tables, expected) in cases {
            let tables: Vec<Table> = tables.iter().map(|(n, ps)| table(n, ps)).collect();
            let order: Vec<&str> = foreign_key_order(&tables).iter().map(|t| t.name.as_str()).collect();
            assert_eq!(order, *expected);
        }
    }

    #[test]
    fn a_broken_cycle_is_filled_afterwards_where_it_points_forward() {
        // (tables with their parents, the back references expected as (child, parent))
        type Case<'a> = (&'a [(&'a str, &'a [&'a str])], &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (&[("public.achild", &["public.zparent"]), ("public.zparent", &[])], &[]),
            (&[("public.a", &["public.b"]), ("public.b", &["public.a"])], &[("public.b", "public.a")]),
            // A table referencing itself fills from its own earlier rows: nothing afterwards.
            (&[("public.self", &["public.self"])], &[]),
            (
                &[("public.x", &["public.y"]), ("public.y", &["public.z"]), ("public.z", &["public.x"])],
                &[("public.z", "public.x")],
            ),
        ];
        for (tables, expected) in cases {
            let tables: Vec<Table> = tables.iter().map(|(n, ps)| table(n, ps)).collect();
            let order = foreign_key_order(&tables);
            let back: Vec<(&str, &str)> = back_references(&order)
                .into_iter()
                .map(|(i, k)| (order[i].name.as_str(), order[i].foreign_keys[k].1.as_str()))
                .collect();
            assert_eq!(back, *expected);
        }
    }
}
