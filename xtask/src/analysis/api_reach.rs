//! Reachability through the Data API: whether `anon`, `authenticated` or `service_role` may touch
//! a table, view or function at all (schema usage and grants), before RLS decides which rows.
//! Since 2026-10-30 hosted Supabase grants nothing on new objects, so a table the migration
//! creates without a grant applies fine and the client gets 403 the first time it ships.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use sqlx::PgConnection;

use crate::report::{Check, Status};

/// The roles PostgREST switches to.
pub const API_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];

/// One object in an exposed schema and what each API role may do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// `schema.name`, or `schema.name(args)` for a function.
    pub object: String,
    /// The name the client uses: `.from('name')`, `.rpc('name')`.
    pub bare: String,
    pub function: bool,
    /// Per API role, its privileges (`select`, `insert`, … or `execute`); a role without usage
    /// on the schema has none.
    pub privileges: BTreeMap<String, Vec<String>>,
}

impl Reach {
    fn reachable(&self) -> bool {
        self.privileges.values().any(|p| !p.is_empty())
    }

    fn describe(&self) -> String {
        let roles: Vec<String> = self
            .privileges
            .iter()
            .filter(|(_, p)| !p.is_empty())
            .map(|(role, p)| format!("{role}: {}", p.join(", ")))
            .collect();
        if roles.is_empty() {
            "no API role".into()
        } else {
            roles.join("; ")
        }
    }
}

type Row = (String, String, bool, String, Vec<String>);

/// Every table, view and function in `exposed` schemas (extensions' own left out), with each API
/// role's privileges.
pub async fn measure(conn: &mut PgConnection, exposed: &[String]) -> sqlx::Result<Vec<Reach>> {
    let rows: Vec<Row> = sqlx::query_as(
        "WITH objects AS ( \
           SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS object, c.relname::text AS bare, \
                  false AS function, n.oid AS nsp, c.oid AS oid \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition \
             AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                             AND d.deptype = 'e') \
           UNION ALL \
           SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || \
                  pg_get_function_identity_arguments(p.oid) || ')', p.proname::text, true, n.oid, p.oid \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
           WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p') \
             AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) \
             AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid \
                             AND d.deptype = 'e')) \
         SELECT o.object, o.bare, o.function, r.rolname::text, \
                CASE WHEN NOT has_schema_privilege(r.oid, o.nsp, 'USAGE') THEN ARRAY[]::text[] \
                     WHEN o.function THEN array_remove(ARRAY[CASE WHEN has_function_privilege(r.oid, o.oid, 'EXECUTE') \
                                                             THEN 'execute' END], NULL) \
                     ELSE array_remove(ARRAY[ \
                       CASE WHEN has_table_privilege(r.oid, o.oid, 'SELECT') \
                              OR has_any_column_privilege(r.oid, o.oid, 'SELECT') THEN 'select' END, \
                       CASE WHEN has_table_privilege(r.oid, o.oid, 'INSERT') \
                              OR has_any_column_privilege(r.oid, o.oid, 'INSERT') THEN 'insert' END, \
                       CASE WHEN has_table_privilege(r.oid, o.oid, 'UPDATE') \
                              OR has_any_column_privilege(r.oid, o.oid, 'UPDATE') THEN 'update' END, \
                       CASE WHEN has_table_privilege(r.oid, o.oid, 'DELETE') THEN 'delete' END], NULL) END \
         FROM objects o CROSS JOIN pg_roles r WHERE r.rolname = ANY($2) ORDER BY 1, 4",
    )
    .bind(exposed)
    .bind(API_ROLES.as_slice())
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<Reach> = Vec::new();
    for (object, bare, function, role, privileges) in rows {
        if out.last().is_none_or(|r| r.object != object) {
            out.push(Reach { object, bare, function, privileges: BTreeMap::new() });
        }
        if let Some(last) = out.last_mut() {
            last.privileges.insert(role, privileges);
        }
    }
    Ok(out)
}

/// Where the project uses an object through the Data API or as an API role, by bare name.
#[derive(Debug, Clone, Default)]
pub struct Uses(pub BTreeMap<String, BTreeSet<String>>);

impl Uses {
    fn add(&mut self, name: &str, at: String) {
        self.0.entry(name.to_lowercase()).or_default().insert(at);
    }

    fn of(&self, bare: &str) -> Option<&BTreeSet<String>> {
        self.0.get(&bare.to_lowercase())
    }
}

/// Files the app is written in, where supabase-js (and its ports) call `.from('t')`/`.rpc('f')`.
const APP_EXTENSIONS: [&str; 12] =
    ["ts", "tsx", "js", "jsx", "mjs", "cjs", "vue", "svelte", "astro", "dart", "py", "swift"];
/// Folders that hold dependencies or build output, not the app.
const SKIPPED: [&str; 12] = [
    ".git",
    "node_modules",
    "target",
    "dist",
    "build",
    ".next",
    ".nuxt",
    ".svelte-kit",
    "vendor",
    "Pods",
    ".venv",
    "supabase",
];
/// A bound on what the scan reads, so a monorepo does not stall the run.
const MAX_FILES: usize = 20_000;
const MAX_BYTES: u64 = 1 << 20;

/// The project's uses: `.from('name')` and `.rpc('name')` in the app's code under `root`
/// (the folder holding `supabase/`), and the project's own queries and tests that act as an
/// API role (`supabase/queries/*.sql`, run as `authenticated`; `supabase/tests/**/*.sql` that
/// take the role `anon` or `authenticated`), which name the object.
pub fn uses(supabase_dir: &Path, objects: &[&str]) -> Uses {
    let mut uses = Uses::default();
    if let Some(root) = supabase_dir.parent() {
        let mut budget = MAX_FILES;
        scan_app(root, root, &mut uses, &mut budget);
    }
    for (folder, needs_role) in [("queries", false), ("tests", true)] {
        for path in sql_files(&supabase_dir.join(folder)) {
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let lower = text.to_lowercase();
            if needs_role && !(lower.contains("authenticated") || lower.contains("anon")) {
                continue;
            }
            let at = format!("supabase/{folder}/{}", path.file_name().unwrap_or_default().to_string_lossy());
            for name in objects.iter().filter(|n| crate::analysis::coverage::names(&lower, n)) {
                uses.add(name, at.clone());
            }
        }
    }
    uses
}

fn sql_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let pattern = dir.join("**").join("*.sql");
    let mut files: Vec<_> = glob::glob(&pattern.to_string_lossy()).into_iter().flatten().flatten().collect();
    files.sort();
    files
}

fn scan_app(root: &Path, dir: &Path, uses: &mut Uses, budget: &mut usize) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if *budget == 0 {
            return;
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            if !SKIPPED.contains(&name.as_str()) && !name.starts_with('.') {
                scan_app(root, &path, uses, budget);
            }
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !APP_EXTENSIONS.contains(&ext) || entry.metadata().map(|m| m.len()).unwrap_or(u64::MAX) > MAX_BYTES {
            continue;
        }
        *budget -= 1;
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let shown = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        for (line, name) in calls(&text) {
            uses.add(&name, format!("{shown}:{line}"));
        }
    }
}

/// `(line, name)` of each `.from('name')` / `.rpc('name')` call in `text`; a schema-qualified
/// `'schema.name'` counts by its name.
pub fn calls(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for method in [".from(", ".rpc("] {
            for (at, _) in line.match_indices(method) {
                let rest = line[at + method.len()..].trim_start();
                let Some(quote) = rest.chars().next().filter(|c| matches!(c, '\'' | '"' | '`')) else { continue };
                let Some(end) = rest[1..].find(quote) else { continue };
                let name = &rest[1..1 + end];
                let bare = name.rsplit('.').next().unwrap_or(name);
                if !bare.is_empty() && bare.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    out.push((i + 1, bare.to_string()));
                }
            }
        }
    }
    out
}

/// `api.reach.<object>` for each object the pending migrations created, or whose reach they
/// changed: reachable says by whom; unreachable fails where the project uses it (the client will
/// get 403) and warns where nothing does (private, on purpose or not).
pub fn judge(before: &[Reach], after: &[Reach], uses: &Uses) -> Vec<Check> {
    let before: BTreeMap<&str, &Reach> = before.iter().map(|r| (r.object.as_str(), r)).collect();
    let mut checks = Vec::new();
    for now in after {
        let was = before.get(now.object.as_str());
        if was.is_some_and(|was| was.privileges == now.privileges) {
            continue;
        }
        let kind = if now.function { "function" } else { "relation" };
        let check = Check::new(format!("api.reach.{}", now.object), "reachable through the Data API", Status::Pass)
            .value(now.describe());
        let lost = was.is_some_and(|was| was.reachable());
        let used = uses.of(&now.bare);
        let check = match (now.reachable(), used) {
            (true, _) => check.detail(format!(
                "{kind} {}: {}{}; RLS then decides which rows",
                now.object,
                now.describe(),
                was.map(|was| format!(" (before the pending migrations: {})", was.describe())).unwrap_or_default()
            )),
            (false, Some(at)) => Check { status: Status::Fail, ..check }.detail(format!(
                "{}no API role can reach {kind} {}, and the project uses it ({}): the client will get 403 \
                 (permission denied, 42501) — {}",
                if lost { "the pending migrations took every API role's access away: " } else { "" },
                now.object,
                at.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                remedy(now)
            )),
            (false, None) => Check { status: Status::Warn, ..check }.detail(format!(
                "{}no API role can reach {kind} {}: it is private to direct connections, and nothing in the \
                 project's code, queries or tests uses it through the Data API; if the app should, {}",
                if lost { "the pending migrations took every API role's access away: " } else { "" },
                now.object,
                remedy(now)
            )),
        };
        checks.push(check);
    }
    checks
}

fn remedy(reach: &Reach) -> String {
    if reach.function {
        format!("grant execute on function {} to authenticated (and anon, if signed-out callers use it)", reach.object)
    } else {
        format!(
            "grant select, insert, update, delete on {} to authenticated (and select to anon, if it is public); \
             hosted Supabase has granted nothing on new objects since 2026-10-30",
            reach.object
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(object: &str, function: bool, authenticated: &[&str]) -> Reach {
        let bare = object.split(['.', '(']).nth(1).unwrap_or_default().to_string();
        let mut privileges = BTreeMap::new();
        privileges.insert("anon".to_string(), Vec::new());
        privileges.insert("authenticated".to_string(), authenticated.iter().map(|p| p.to_string()).collect());
        Reach { object: object.into(), bare, function, privileges }
    }

    #[test]
    fn client_calls_are_found_by_name() {
        let text = "const { data } = await supabase.from('notes').select()\n\
                    await supabase\n  .rpc(\"add_note\", { body })\n\
                    supabase.schema('api').from(`api.orders`).insert(x)\n\
                    list.from(items) // not a call on a table\n";
        let found = calls(text);
        let found: Vec<(usize, &str)> = found.iter().map(|(l, n)| (*l, n.as_str())).collect();
        assert_eq!(found, vec![(1, "notes"), (3, "add_note"), (4, "orders")]);
    }

    type Case<'a> = (&'a str, Option<Reach>, Reach, bool, Option<Status>);

    #[test]
    fn unreachable_objects_fail_where_used_and_warn_where_not() {
        let crud = ["select", "insert", "update", "delete"];
        let cases: Vec<Case> = vec![
            ("new table with grants", None, reach("public.notes", false, &crud), true, Some(Status::Pass)),
            ("new table without grants, used", None, reach("public.notes", false, &[]), true, Some(Status::Fail)),
            ("new table without grants, unused", None, reach("public.notes", false, &[]), false, Some(Status::Warn)),
            (
                "new function without execute, used",
                None,
                reach("public.add_note()", true, &[]),
                true,
                Some(Status::Fail),
            ),
            (
                "grants taken away from a used table",
                Some(reach("public.notes", false, &crud)),
                reach("public.notes", false, &[]),
                true,
                Some(Status::Fail),
            ),
            (
                "unchanged: not judged",
                Some(reach("public.notes", false, &[])),
                reach("public.notes", false, &[]),
                true,
                None,
            ),
        ];
        for (name, before, after, used, expected) in cases {
            let mut uses = Uses::default();
            if used {
                uses.add(&after.bare, "app/src/notes.ts:3".into());
            }
            let before: Vec<Reach> = before.into_iter().collect();
            let checks = judge(&before, &[after], &uses);
            assert_eq!(checks.first().map(|c| c.status), expected, "{name}: {checks:?}");
            if expected == Some(Status::Fail) {
                let detail = checks[0].detail.clone().unwrap_or_default();
                assert!(
                    detail.contains("403") && detail.contains("app/src/notes.ts:3") && detail.contains("grant"),
                    "{detail}"
                );
            }
        }
    }
}
