//! The rollback of one migration file, from what the catalog said before and after it: what it
//! added is dropped (dependents first), what it removed or changed is put back from the state
//! before (dependencies first), and what no statement can give back (rows, values, an enum label)
//! is said in the header. Pure: two snapshots and the previous function bodies in, SQL out.

use std::collections::{BTreeMap, BTreeSet};

mod restore;

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
    let added_tables: BTreeSet<&str> = after
        .objects
        .iter()
        .filter(|(n, _)| !before.objects.contains_key(*n) && n.starts_with("table "))
        .map(|(n, _)| &n["table ".len()..])
        .collect();
    let removed_tables: BTreeSet<&str> = before
        .objects
        .iter()
        .filter(|(n, _)| !after.objects.contains_key(*n) && n.starts_with("table "))
        .map(|(n, _)| &n["table ".len()..])
        .collect();
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
        if on_added {
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

/// The data, once the structure is back: a backfilled column empty again, as before; what else
/// the file did to rows is said.
fn restore_data(before: &CatalogSnapshot, after: &CatalogSnapshot, data: &DataChange, out: &mut Generated) {
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

fn delete_added_rows(data: &DataChange, added_tables: &BTreeSet<&str>, out: &mut Generated) {
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
            "cron.job" => out.statements.push(format!("SELECT cron.unschedule({}::bigint);", literal(text))),
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
        _ => {
            out.irreversible.push(format!("{} {object}: added by the file; not generated, drop it by hand", n.kind));
            return;
        }
    };
    out.statements.push(sql);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(objects: &[(&str, &[(&str, &str)])]) -> CatalogSnapshot {
        CatalogSnapshot {
            objects: objects
                .iter()
                .map(|(n, attrs)| (n.to_string(), attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
                .collect(),
        }
    }

    const TABLE: (&str, &[(&str, &str)]) = ("table public.t", &[("kind", "table"), ("rls_enabled", "true")]);
    const ID: (&str, &[(&str, &str)]) = ("column public.t.id", &[("type", "uuid"), ("not_null", "true")]);

    #[test]
    fn each_kind_of_change_is_undone_or_said() {
        let policy = |using: &str| -> (&'static str, Vec<(&'static str, String)>) {
            (
                "policy own on public.t",
                vec![("command", "SELECT".into()), ("roles", "authenticated".into()), ("using", using.into())],
            )
        };
        let (p_name, p_old) = policy("(owner = auth.uid())");
        let p_old: Vec<(&str, &str)> = p_old.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (_, p_new) = policy("true");
        let p_new: Vec<(&str, &str)> = p_new.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let idx =
            ("index public.t_key", &[("definition", "CREATE UNIQUE INDEX t_key ON public.t USING btree (id)")][..]);
        type Objects<'a> = Vec<(&'a str, &'a [(&'a str, &'a str)])>;
        type Case<'a> = (&'a str, Objects<'a>, Objects<'a>, DataChange, Vec<&'a str>, usize);
        let mut cases: Vec<Case> = vec![
            (
                "an added column is dropped, and its values said lost",
                vec![TABLE, ID],
                vec![TABLE, ID, ("column public.t.note", &[("type", "text")])],
                DataChange::default(),
                vec!["ALTER TABLE public.t DROP COLUMN IF EXISTS note;"],
                1,
            ),
            (
                "a changed policy is created again as it was",
                vec![TABLE, (p_name, &p_old)],
                vec![TABLE, (p_name, &p_new)],
                DataChange::default(),
                vec![
                    "DROP POLICY IF EXISTS own ON public.t;",
                    "CREATE POLICY own ON public.t AS PERMISSIVE FOR SELECT TO authenticated USING ((owner = auth.uid()));",
                ],
                0,
            ),
            (
                "a dropped index is built again",
                vec![TABLE, idx],
                vec![TABLE],
                DataChange::default(),
                vec!["CREATE UNIQUE INDEX IF NOT EXISTS t_key ON public.t USING btree (id);"],
                0,
            ),
            (
                "a constraint that took an existing index gives it back",
                vec![TABLE, idx],
                vec![TABLE, idx, ("constraint t_key on public.t", &[("definition", "UNIQUE (id)")])],
                DataChange::default(),
                vec![
                    "ALTER TABLE public.t DROP CONSTRAINT IF EXISTS t_key;",
                    "CREATE UNIQUE INDEX IF NOT EXISTS t_key ON public.t USING btree (id);",
                ],
                0,
            ),
            (
                "a new default, NOT NULL and RLS off are put back",
                vec![("table public.t", &[("kind", "table"), ("rls_enabled", "true")]), ID],
                vec![
                    ("table public.t", &[("kind", "table"), ("rls_enabled", "false")]),
                    ("column public.t.id", &[("type", "uuid"), ("not_null", "false"), ("default", "gen_random_uuid()")]),
                ],
                DataChange::default(),
                vec![
                    "ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;",
                    "ALTER TABLE public.t ALTER COLUMN id DROP DEFAULT;",
                    "ALTER TABLE public.t ALTER COLUMN id SET NOT NULL;",
                ],
                0,
            ),
            (
                "a new table goes with what lives on it",
                vec![],
                vec![TABLE, ID, (p_name, &p_new)],
                DataChange::default(),
                vec!["DROP TABLE IF EXISTS public.t;"],
                1,
            ),
            (
                "an enum label cannot be dropped: said",
                vec![("type public.mood", &[("kind", "enum"), ("labels", "sad, ok")])],
                vec![("type public.mood", &[("kind", "enum"), ("labels", "sad, ok, happy")])],
                DataChange::default(),
                vec![],
                1,
            ),
            (
                "a backfilled column is emptied again; other changed rows are said",
                vec![TABLE, ID, ("column public.t.owner", &[("type", "uuid")])],
                vec![TABLE, ID, ("column public.t.owner", &[("type", "uuid")])],
                DataChange {
                    filled: vec!["public.t.owner".into()],
                    rows: vec![("public.u".into(), 3, 0)],
                    ..DataChange::default()
                },
                vec!["UPDATE public.t SET owner = NULL WHERE owner IS NOT NULL;"],
                2,
            ),
        ];
        cases.push((
            "a new table's key and unique indexes go with it",
            vec![],
            vec![
                TABLE,
                ("constraint t_pkey on public.t", &[("definition", "PRIMARY KEY (id)")]),
                ("index public.t_pkey", &[("definition", "CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)")]),
            ],
            DataChange::default(),
            vec!["DROP TABLE IF EXISTS public.t;"],
            1,
        ));
        cases.push((
            "a row the file inserted is deleted, a cron job unscheduled",
            vec![TABLE, ID],
            vec![TABLE, ID],
            DataChange {
                added: vec![
                    ("cron.job".into(), vec!["jobid".into()], "3".into()),
                    ("storage.buckets".into(), vec!["id".into()], "avatars".into()),
                ],
                ..DataChange::default()
            },
            vec![
                "DELETE FROM storage.objects WHERE bucket_id = 'avatars';",
                "DELETE FROM storage.buckets WHERE id::text = 'avatars';",
                "SELECT cron.unschedule('3'::bigint);",
            ],
            1,
        ));
        for (what, before, after, data, statements, irreversible) in cases {
            let g = rollback(&snapshot(&before), &snapshot(&after), &BTreeMap::new(), &data, false);
            assert_eq!(g.statements, statements, "{what}");
            assert_eq!(g.irreversible.len(), irreversible, "{what}: {:?}", g.irreversible);
        }
    }

    #[test]
    fn a_dropped_table_or_column_comes_back_empty_and_says_what_would_have_kept_it() {
        let note = ("column public.t.a_note", &[("type", "text"), ("not_null", "true"), ("position", "2")][..]);
        const ID: (&str, &[(&str, &str)]) = ("column public.t.id", &[("type", "uuid"), ("position", "1")]);
        let none = DataChange::default();
        let g = rollback(&snapshot(&[TABLE, ID, note]), &snapshot(&[]), &BTreeMap::new(), &none, false);
        assert_eq!(g.statements[0], "CREATE TABLE public.t ();");
        // In their old order (id before a_note), not by name.
        assert_eq!(
            g.statements[2..4],
            ["ALTER TABLE public.t ADD COLUMN id uuid;", "ALTER TABLE public.t ADD COLUMN a_note text NOT NULL;"]
        );
        assert!(g.statements.contains(&"ALTER TABLE public.t ENABLE ROW LEVEL SECURITY;".to_string()), "{g:?}");
        assert!(g.irreversible.len() == 1 && g.irreversible[0].contains("rename it in this file"), "{g:?}");
        // A column of a table that stays: restored empty, nullable, and said.
        let g = rollback(&snapshot(&[TABLE, ID, note]), &snapshot(&[TABLE, ID]), &BTreeMap::new(), &none, false);
        assert_eq!(g.statements, ["ALTER TABLE public.t ADD COLUMN a_note text;"]);
        assert!(g.irreversible[0].contains("then SET NOT NULL") && g.irreversible[0].contains("reversible instead"));
    }

    #[test]
    fn a_replaced_function_gets_its_body_back_and_keeps_its_grants() {
        let name = "function public.f()";
        let was: &[(&str, &str)] = &[("returns", "integer"), ("body", "select 1"), ("execute_grants", "authenticated")];
        let now: &[(&str, &str)] =
            &[("returns", "integer"), ("body", "select 2"), ("execute_grants", "anon, authenticated")];
        let def =
            "CREATE OR REPLACE FUNCTION public.f()\n RETURNS integer\n LANGUAGE sql\nAS $function$select 1$function$\n";
        let functions = BTreeMap::from([(name.to_string(), def.to_string())]);
        let g =
            rollback(&snapshot(&[(name, was)]), &snapshot(&[(name, now)]), &functions, &DataChange::default(), false);
        assert_eq!(
            g.statements,
            [format!("{};", def.trim_end()), "REVOKE EXECUTE ON ROUTINE public.f() FROM anon;".into()]
        );
        // Dropped by the file: created again, and the default EXECUTE for PUBLIC taken back.
        let g = rollback(&snapshot(&[(name, was)]), &snapshot(&[]), &functions, &DataChange::default(), true);
        assert_eq!(
            g.statements[1..],
            [
                "REVOKE EXECUTE ON ROUTINE public.f() FROM PUBLIC;",
                "GRANT EXECUTE ON ROUTINE public.f() TO authenticated;"
            ]
        );
    }
}
