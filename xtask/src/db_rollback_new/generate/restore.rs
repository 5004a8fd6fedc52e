//! Putting back what a file removed or changed, from the catalog before it.

use std::collections::{BTreeMap, BTreeSet};

use super::{column_parts, get, literal, Attrs, Generated, Name};

/// `CREATE POLICY` from its catalog attributes.
fn policy(n: &Name, was: &Attrs) -> String {
    let permissive = if get(was, "permissive") == "false" { "RESTRICTIVE" } else { "PERMISSIVE" };
    let mut sql = format!(
        "CREATE POLICY {} ON {} AS {permissive} FOR {} TO {}",
        n.object,
        n.on.unwrap_or_default(),
        get(was, "command"),
        get(was, "roles")
    );
    if !get(was, "using").is_empty() {
        sql.push_str(&format!(" USING ({})", get(was, "using")));
    }
    if !get(was, "with_check").is_empty() {
        sql.push_str(&format!(" WITH CHECK ({})", get(was, "with_check")));
    }
    sql + ";"
}

pub(super) fn restore_removed(
    n: &Name,
    was: &Attrs,
    functions: &BTreeMap<String, String>,
    recreated_table: bool,
    concurrently: bool,
    out: &mut Generated,
) {
    let (object, on) = (n.object, n.on.unwrap_or_default());
    let name = format!("{} {object}{}", n.kind, n.on.map(|t| format!(" on {t}")).unwrap_or_default());
    match n.kind {
        "policy" => out.statements.push(policy(n, was)),
        "trigger" | "index" => {
            let how = if concurrently && n.kind == "index" {
                " INDEX CONCURRENTLY IF NOT EXISTS "
            } else {
                " INDEX IF NOT EXISTS "
            };
            let def = get(was, "definition").replacen(" INDEX ", how, 1);
            out.statements.push(format!("{def};"));
        }
        "constraint" => {
            let definition = get(was, "definition");
            out.statements.push(format!("ALTER TABLE {on} ADD CONSTRAINT {object} {definition};"));
            if !definition.contains("NOT VALID") && !definition.starts_with("PRIMARY KEY") {
                out.irreversible.push(format!(
                    "constraint {object} on {on}: put back as it was ({definition}); rows written since the push that \
                     break it stop the rollback there: find them first, or add it NOT VALID and VALIDATE it later"
                ));
            }
        }
        "function" => {
            if function_def(&name, functions, out) {
                execute_grants(object, "", get(was, "execute_grants"), true, out);
            }
        }
        "column" => add_column(object, was, recreated_table, out),
        "table" => match get(was, "kind") {
            "view" => out.statements.push(format!("CREATE VIEW {object} AS {}", get(was, "definition"))),
            "materialized view" => {
                out.statements.push(format!("CREATE MATERIALIZED VIEW {object} AS {}", get(was, "definition")));
            }
            "table" => {
                out.statements.push(format!("CREATE TABLE {object} ();"));
                out.irreversible.push(format!(
                    "table {object}: dropped by the file; its structure is restored here, its rows only from the backup \
                     db-push verified (reversible instead: rename it in this file, drop it in a later one once the push \
                     has held)"
                ));
                table_attrs(object, &Attrs::new(), was, out);
            }
            "sequence" => {
                out.statements.push(format!("CREATE SEQUENCE {object};"));
                out.irreversible
                    .push(format!("sequence {object}: dropped by the file; restored, counting from 1 again"));
                table_attrs(object, &Attrs::new(), was, out);
            }
            other => out.irreversible.push(format!("{name} ({other}): removed by the file; not generated")),
        },
        "extension" => {
            let schema = get(was, "schema");
            let with = if schema.is_empty() { String::new() } else { format!(" WITH SCHEMA {schema}") };
            out.statements.push(format!("CREATE EXTENSION IF NOT EXISTS {object}{with};"));
        }
        "type" => restore_type(object, was, out),
        _ => out.irreversible.push(format!("{name}: removed by the file; not generated, restore it by hand")),
    }
}

/// An enum or a domain the file dropped.
fn restore_type(object: &str, was: &Attrs, out: &mut Generated) {
    match get(was, "kind") {
        "enum" => {
            let labels: Vec<String> = get(was, "labels").split(", ").filter(|l| !l.is_empty()).map(literal).collect();
            out.statements.push(format!("CREATE TYPE {object} AS ENUM ({});", labels.join(", ")));
        }
        "domain" => {
            out.statements.push(format!("CREATE DOMAIN {object} AS {};", get(was, "base")));
            out.irreversible.push(format!(
                "domain {object}: dropped by the file; restored on its base type, without the CHECKs it had (add them \
                 by hand)"
            ));
        }
        other => out.irreversible.push(format!("type {object} ({other}): removed by the file; not generated")),
    }
}

/// The function as it was (`CREATE OR REPLACE`, from `pg_get_functiondef`); false, said, when
/// its definition was not read.
fn function_def(name: &str, functions: &BTreeMap<String, String>, out: &mut Generated) -> bool {
    match functions.get(name) {
        Some(def) => {
            out.statements.push(format!("{};", def.trim_end().trim_end_matches(';')));
            true
        }
        None => {
            out.irreversible.push(format!("{name}: its definition before the file was not read; restore it by hand"));
            false
        }
    }
}

fn add_column(object: &str, was: &Attrs, recreated_table: bool, out: &mut Generated) {
    let (table, column) = column_parts(object);
    let mut sql = format!("ALTER TABLE {table} ADD COLUMN {column} {}", get(was, "type"));
    if !get(was, "default").is_empty() {
        sql.push_str(&format!(" DEFAULT {}", get(was, "default")));
    }
    let not_null = get(was, "not_null") == "true";
    if not_null && (recreated_table || !get(was, "default").is_empty()) {
        sql.push_str(" NOT NULL");
    }
    out.statements.push(sql + ";");
    if !recreated_table {
        let mut words =
            format!("column {object}: dropped by the file; restored empty, its values only from the backup");
        if not_null && get(was, "default").is_empty() {
            words.push_str(" (then SET NOT NULL, as it was)");
        }
        words.push_str(
            "; reversible instead: stop using it in this release, drop it in a later migration once the push has held",
        );
        out.irreversible.push(words);
    }
}

/// RLS flags, owner, grants and comment of a table from `now` back to `was`.
fn table_attrs(object: &str, now: &Attrs, was: &Attrs, out: &mut Generated) {
    for (flag, on, off) in [
        ("rls_enabled", "ENABLE ROW LEVEL SECURITY", "DISABLE ROW LEVEL SECURITY"),
        ("rls_forced", "FORCE ROW LEVEL SECURITY", "NO FORCE ROW LEVEL SECURITY"),
    ] {
        if get(now, flag) != get(was, flag) && (get(was, flag) == "true" || !now.is_empty()) {
            let what = if get(was, flag) == "true" { on } else { off };
            out.statements.push(format!("ALTER TABLE {object} {what};"));
        }
    }
    if !get(was, "owner").is_empty() && get(now, "owner") != get(was, "owner") {
        out.statements.push(format!("ALTER TABLE {object} OWNER TO {};", get(was, "owner")));
    }
    grants("TABLE", object, get(now, "grants"), get(was, "grants"), out);
    comment("TABLE", object, now, was, out);
}

fn comment(what: &str, object: &str, now: &Attrs, was: &Attrs, out: &mut Generated) {
    if get(now, "comment") != get(was, "comment") {
        let text = if get(was, "comment").is_empty() { "NULL".to_string() } else { literal(get(was, "comment")) };
        out.statements.push(format!("COMMENT ON {what} {object} IS {text};"));
    }
}

/// GRANT/REVOKE taking `now`'s `role:PRIVILEGE` list back to `was`'s.
fn grants(what: &str, object: &str, now: &str, was: &str, out: &mut Generated) {
    let list = |v: &str| v.split(", ").filter(|x| !x.is_empty()).map(str::to_string).collect::<BTreeSet<_>>();
    let (now, was) = (list(now), list(was));
    for (verb, set, other, word) in [("REVOKE", &now, &was, "FROM"), ("GRANT", &was, &now, "TO")] {
        for g in set.difference(other) {
            let Some((role, privilege)) = g.rsplit_once(':') else { continue };
            out.statements.push(format!("{verb} {privilege} ON {what} {object} {word} {role};"));
        }
    }
}

/// `ALTER DEFAULT PRIVILEGES` taking `now`'s grants back to `was`'s; `object` as the catalog
/// names it: `privileges for postgres in public on tables`.
pub(super) fn default_privileges(object: &str, now: &str, was: &str, out: &mut Generated) {
    let Some(rest) = object.strip_prefix("privileges for ") else { return };
    let Some((role, rest)) = rest.split_once(" in ") else { return };
    let Some((schema, kind)) = rest.rsplit_once(" on ") else { return };
    let scope = if schema == "every schema" { String::new() } else { format!(" IN SCHEMA {schema}") };
    let mut alter = Generated::default();
    grants(&kind.to_uppercase(), "", now, was, &mut alter);
    for statement in alter.statements {
        // `GRANT SELECT ON TABLES  TO anon;` → the default-privileges form.
        let statement = statement.replacen("  ", " ", 1);
        out.statements.push(format!("ALTER DEFAULT PRIVILEGES FOR ROLE {role}{scope} {statement}"));
    }
}

/// EXECUTE back to `was` (role names); `recreated`: the function was created again, with the
/// default grants to PUBLIC.
fn execute_grants(function: &str, now: &str, was: &str, recreated: bool, out: &mut Generated) {
    let list = |v: &str| v.split(", ").filter(|x| !x.is_empty()).map(str::to_string).collect::<BTreeSet<_>>();
    let (mut now, was) = (list(now), list(was));
    if recreated {
        now.insert("PUBLIC".into());
    }
    for role in now.difference(&was) {
        out.statements.push(format!("REVOKE EXECUTE ON ROUTINE {function} FROM {role};"));
    }
    for role in was.difference(&now) {
        out.statements.push(format!("GRANT EXECUTE ON ROUTINE {function} TO {role};"));
    }
}

pub(super) fn restore_changed(
    n: &Name,
    was: &Attrs,
    now: &Attrs,
    functions: &BTreeMap<String, String>,
    concurrently: bool,
    out: &mut Generated,
) {
    let (object, on) = (n.object, n.on.unwrap_or_default());
    let changed = |key: &str| get(was, key) != get(now, key);
    match n.kind {
        "policy" => {
            out.statements.push(format!("DROP POLICY IF EXISTS {object} ON {on};"));
            out.statements.push(policy(n, was));
        }
        "trigger" | "index" | "constraint" => {
            let drop = match n.kind {
                "trigger" => format!("DROP TRIGGER IF EXISTS {object} ON {on};"),
                "index" if concurrently => format!("DROP INDEX CONCURRENTLY IF EXISTS {object};"),
                "index" => format!("DROP INDEX IF EXISTS {object};"),
                _ => format!("ALTER TABLE {on} DROP CONSTRAINT IF EXISTS {object};"),
            };
            out.statements.push(drop);
            restore_removed(n, was, functions, false, concurrently, out);
        }
        "function" => {
            let body = ["returns", "arguments", "language", "volatility", "strict", "security_definer", "leakproof"]
                .into_iter()
                .chain(["parallel", "config", "body"])
                .any(changed);
            let signature = changed("returns") || changed("arguments");
            if signature {
                out.statements.push(format!("DROP ROUTINE IF EXISTS {object};"));
            }
            if body {
                function_def(&format!("function {object}"), functions, out);
            }
            // Created again: the default grants; replaced: the grants it had.
            let now_grants = if signature { "" } else { get(now, "execute_grants") };
            execute_grants(object, now_grants, get(was, "execute_grants"), signature, out);
            if changed("owner") {
                out.statements.push(format!("ALTER ROUTINE {object} OWNER TO {};", get(was, "owner")));
            }
            comment("ROUTINE", object, now, was, out);
        }
        "column" => restore_column(object, was, now, out),
        "table" => {
            if changed("definition") {
                let what = if get(was, "kind") == "view" { "OR REPLACE VIEW" } else { "MATERIALIZED VIEW" };
                out.statements.push(format!("CREATE {what} {object} AS {}", get(was, "definition")));
            }
            table_attrs(object, now, was, out);
        }
        "schema" => grants("SCHEMA", object, get(now, "grants"), get(was, "grants"), out),
        "default" => default_privileges(object, get(now, "grants"), get(was, "grants"), out),
        "extension" if changed("version") => {
            out.statements.push(format!("ALTER EXTENSION {object} UPDATE TO {};", literal(get(was, "version"))));
        }
        "type" if changed("labels") => out.irreversible.push(format!(
            "type {object}: the file added enum value(s) ({} → {}); Postgres cannot drop an enum value: rows using \
             it keep it, and it stays",
            get(was, "labels"),
            get(now, "labels")
        )),
        "publication" => publication(object, now, was, out),
        _ => out
            .irreversible
            .push(format!("{} {object}: changed by the file; not generated, restore it by hand", n.kind)),
    }
}

fn restore_column(object: &str, was: &Attrs, now: &Attrs, out: &mut Generated) {
    let (table, column) = column_parts(object);
    let alter = |what: String| format!("ALTER TABLE {table} ALTER COLUMN {column} {what};");
    if get(was, "type") != get(now, "type") {
        let ty = get(was, "type");
        out.statements.push(alter(format!("TYPE {ty} USING {column}::{ty}")));
    }
    if get(was, "default") != get(now, "default") {
        out.statements.push(alter(match get(was, "default") {
            "" => "DROP DEFAULT".to_string(),
            d => format!("SET DEFAULT {d}"),
        }));
    }
    if get(was, "not_null") != get(now, "not_null") {
        out.statements
            .push(alter(if get(was, "not_null") == "true" { "SET NOT NULL" } else { "DROP NOT NULL" }.into()));
    }
    identity(object, was, now, out);
    // Column grants: `GRANT UPDATE (c) ON TABLE t TO role`.
    let list = |v: &str| v.split(", ").filter(|x| !x.is_empty()).map(str::to_string).collect::<BTreeSet<_>>();
    let (now_g, was_g) = (list(get(now, "grants")), list(get(was, "grants")));
    for (verb, set, other, word) in [("REVOKE", &now_g, &was_g, "FROM"), ("GRANT", &was_g, &now_g, "TO")] {
        for g in set.difference(other) {
            let Some((role, privilege)) = g.rsplit_once(':') else { continue };
            out.statements.push(format!("{verb} {privilege} ({column}) ON TABLE {table} {word} {role};"));
        }
    }
    comment("COLUMN", object, now, was, out);
}

/// Identity (`a` always, `d` by default) and generation back to what they were.
fn identity(object: &str, was: &Attrs, now: &Attrs, out: &mut Generated) {
    let (table, column) = column_parts(object);
    let how = |c: &str| if c == "a" { "ALWAYS" } else { "BY DEFAULT" };
    match (get(was, "identity"), get(now, "identity")) {
        (w, n) if w == n => {}
        ("", _) => out.statements.push(format!("ALTER TABLE {table} ALTER COLUMN {column} DROP IDENTITY IF EXISTS;")),
        (w, "") => {
            out.statements
                .push(format!("ALTER TABLE {table} ALTER COLUMN {column} ADD GENERATED {} AS IDENTITY;", how(w)));
            out.irreversible.push(format!(
                "column {object}: an identity again, its sequence starting at 1: move it past the rows' values \
                 (setval) before the app inserts"
            ));
        }
        (w, _) => out.statements.push(format!("ALTER TABLE {table} ALTER COLUMN {column} SET GENERATED {};", how(w))),
    }
    if get(was, "generated") != get(now, "generated") {
        out.irreversible.push(format!(
            "column {object}: its generation changed; Postgres cannot put a generated column back in place: drop it \
             and add it again with its expression by hand"
        ));
    }
}

fn publication(object: &str, now: &Attrs, was: &Attrs, out: &mut Generated) {
    let list = |v: &str| v.split(", ").filter(|x| !x.is_empty()).map(str::to_string).collect::<BTreeSet<_>>();
    let (now_t, was_t) = (list(get(now, "tables")), list(get(was, "tables")));
    for t in now_t.difference(&was_t) {
        out.statements.push(format!("ALTER PUBLICATION {object} DROP TABLE {t};"));
    }
    for t in was_t.difference(&now_t) {
        out.statements.push(format!("ALTER PUBLICATION {object} ADD TABLE {t};"));
    }
}
