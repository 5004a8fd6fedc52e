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
}
