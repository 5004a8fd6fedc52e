//! `CatalogSnapshot`: the schema objects of a database that migrations can change, as normalised
//! definitions (`pg_get_*def`, `format_type`, exploded ACLs), keyed by a readable name such as
//! `column public.messages.auth_user_id`. Deterministic (ordered maps) and cheap (a few catalog
//! queries), so two snapshots compare exactly and differences read as sentences.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgConnection;

/// Schemas that belong to Postgres or Supabase itself, never to a project's migrations.
pub const MANAGED_SCHEMAS: &[&str] = &[
    "pg_catalog",
    "information_schema",
    "pg_toast",
    "auth",
    "storage",
    "extensions",
    "graphql",
    "graphql_public",
    "realtime",
    "_realtime",
    "supabase_functions",
    "supabase_migrations",
    "pgbouncer",
    "pgsodium",
    "pgsodium_masks",
    "vault",
    "net",
    "cron",
    "_analytics",
    "pgtle",
];

/// Attributes as a catalog query returns them (`jsonb`).
type RawAttrs = sqlx::types::Json<BTreeMap<String, Option<serde_json::Value>>>;

/// Object name → attribute → normalised value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CatalogSnapshot {
    pub objects: BTreeMap<String, BTreeMap<String, String>>,
}

/// One difference between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Difference {
    /// In the second snapshot only.
    Added { name: String, summary: String },
    /// In the first snapshot only.
    Removed { name: String },
    /// In both, with attributes that differ: (attribute, before, after).
    Changed { name: String, changes: Vec<(String, String, String)> },
}

impl Difference {
    pub fn name(&self) -> &str {
        match self {
            Difference::Added { name, .. } | Difference::Removed { name } | Difference::Changed { name, .. } => name,
        }
    }

    /// A sentence, worded for "after" being a rollback of "before".
    pub fn describe_after_rollback(&self) -> String {
        match self {
            Difference::Added { name, summary } if summary.is_empty() => format!("{name} still exists"),
            Difference::Added { name, summary } => format!("{name} still exists ({summary})"),
            Difference::Removed { name } => format!("{name} is missing (it existed before the migration)"),
            Difference::Changed { name, changes } => {
                let what: Vec<String> = changes
                    .iter()
                    .map(|(attr, before, after)| format!("{attr}: {} → {}", short(before), short(after)))
                    .collect();
                format!("{name} differs from before the migration: {}", what.join("; "))
            }
        }
    }
}

fn short(value: &str) -> String {
    let one_line = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 120 {
        format!("{}…", one_line.chars().take(120).collect::<String>())
    } else if one_line.is_empty() {
        "(none)".to_string()
    } else {
        one_line
    }
}

impl CatalogSnapshot {
    pub async fn take(conn: &mut PgConnection) -> sqlx::Result<CatalogSnapshot> {
        let excluded: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| s.to_string()).collect();
        let mut objects = BTreeMap::new();
        for query in QUERIES {
            let rows: Vec<(String, RawAttrs)> = sqlx::query_as(query).bind(&excluded).fetch_all(&mut *conn).await?;
            for (name, attrs) in rows {
                let attrs = attrs
                    .0
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            None | Some(serde_json::Value::Null) => String::new(),
                            Some(serde_json::Value::String(s)) => s,
                            Some(other) => other.to_string(),
                        };
                        (k, v)
                    })
                    .collect();
                objects.insert(name, attrs);
            }
        }
        Ok(CatalogSnapshot { objects })
    }

    /// What changed from `self` to `after`, in name order.
    pub fn diff(&self, after: &CatalogSnapshot) -> Vec<Difference> {
        let mut out = Vec::new();
        for (name, before) in &self.objects {
            match after.objects.get(name) {
                None => out.push(Difference::Removed { name: name.clone() }),
                Some(now) if now != before => {
                    let keys: std::collections::BTreeSet<&String> = before.keys().chain(now.keys()).collect();
                    let changes = keys
                        .into_iter()
                        .filter_map(|k| {
                            let (b, a) =
                                (before.get(k).cloned().unwrap_or_default(), now.get(k).cloned().unwrap_or_default());
                            (b != a).then(|| (k.clone(), b, a))
                        })
                        .collect();
                    out.push(Difference::Changed { name: name.clone(), changes });
                }
                Some(_) => {}
            }
        }
        for (name, attrs) in &after.objects {
            if !self.objects.contains_key(name) {
                out.push(Difference::Added { name: name.clone(), summary: summary(name, attrs) });
            }
        }
        out.sort_by(|a, b| a.name().cmp(b.name()));
        out
    }

    /// Columns of `table` (`schema.name`) in table order.
    pub fn columns(&self, table: &str) -> Vec<String> {
        let prefix = format!("column {table}.");
        let mut cols: Vec<(i64, String)> = self
            .objects
            .iter()
            .filter_map(|(name, attrs)| {
                let col = name.strip_prefix(&prefix)?;
                Some((attrs.get("position").and_then(|p| p.parse().ok()).unwrap_or(0), col.to_string()))
            })
            .collect();
        cols.sort();
        cols.into_iter().map(|(_, c)| c).collect()
    }

    /// Ordinary tables (`schema.name`).
    pub fn tables(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|(_, attrs)| attrs.get("kind").is_some_and(|k| k == "table"))
            .filter_map(|(name, _)| name.strip_prefix("table ").map(str::to_string))
            .collect()
    }
}

fn summary(name: &str, attrs: &BTreeMap<String, String>) -> String {
    if name.starts_with("column ") {
        let nullable = if attrs.get("not_null").is_some_and(|v| v == "true") { "NOT NULL" } else { "nullable now" };
        return format!("{}, {nullable}", attrs.get("type").cloned().unwrap_or_default());
    }
    for key in ["definition", "command"] {
        if let Some(v) = attrs.get(key).filter(|v| !v.is_empty()) {
            return short(v);
        }
    }
    String::new()
}

/// Each query returns `(name text, attrs jsonb)` for the schemas not in `$1`.
const QUERIES: &[&str] = &[
    // Schemas.
    r#"SELECT 'schema ' || quote_ident(n.nspname),
         jsonb_build_object('owner', pg_get_userbyid(n.nspowner),
           'grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type AS g FROM aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) a WHERE a.grantee <> n.nspowner) s),
           'comment', obj_description(n.oid, 'pg_namespace'))
       FROM pg_namespace n
       WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'"#,
    // Tables, views, sequences: kind, RLS, grants, view definition, comment.
    r#"SELECT 'table ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
         jsonb_build_object(
           'kind', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                                  WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                                  WHEN 'f' THEN 'foreign table' END,
           'owner', pg_get_userbyid(c.relowner),
           'rls_enabled', c.relrowsecurity,
           'rls_forced', c.relforcerowsecurity,
           'grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type AS g FROM aclexplode(coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) a WHERE a.grantee <> c.relowner) s),
           'definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
           'comment', obj_description(c.oid, 'pg_class'))
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"#,
    // Columns: type, nullability, default, identity, generated, column grants, comment.
    r#"SELECT 'column ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(a.attname),
         jsonb_build_object(
           'position', a.attnum,
           'type', format_type(a.atttypid, a.atttypmod),
           'not_null', a.attnotnull,
           'default', pg_get_expr(d.adbin, d.adrelid),
           'identity', a.attidentity,
           'generated', a.attgenerated,
           'collation', CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END,
           'grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END || ':' || x.privilege_type AS g FROM aclexplode(a.attacl) x) s),
           'comment', col_description(c.oid, a.attnum))
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
         AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
         AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')"#,
    // Constraints (including foreign keys with their actions): the normalised definition.
    r#"SELECT 'constraint ' || quote_ident(con.conname) || ' on ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
         jsonb_build_object('definition', pg_get_constraintdef(con.oid), 'validated', con.convalidated,
                            'deferrable', con.condeferrable, 'deferred', con.condeferred,
                            'comment', obj_description(con.oid, 'pg_constraint'))
       FROM pg_constraint con
       JOIN pg_class c ON c.oid = con.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'"#,
    // Indexes.
    r#"SELECT 'index ' || quote_ident(n.nspname) || '.' || quote_ident(i.relname),
         jsonb_build_object('definition', pg_get_indexdef(x.indexrelid), 'valid', x.indisvalid,
                            'comment', obj_description(i.oid, 'pg_class'))
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
       JOIN pg_namespace n ON n.oid = i.relnamespace
       WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'"#,
    // Row-level security policies.
    r#"SELECT 'policy ' || quote_ident(p.polname) || ' on ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
         jsonb_build_object(
           'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                    WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
           'permissive', p.polpermissive,
           'roles', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END AS g FROM unnest(p.polroles) r) s),
           'using', pg_get_expr(p.polqual, p.polrelid),
           'with_check', pg_get_expr(p.polwithcheck, p.polrelid))
       FROM pg_policy p
       JOIN pg_class c ON c.oid = p.polrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'"#,
    // Functions and procedures: signature, body, language, volatility, security, config, owner,
    // EXECUTE grants, comment.
    r#"SELECT 'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')',
         jsonb_build_object(
           'returns', pg_get_function_result(p.oid),
           'arguments', pg_get_function_arguments(p.oid),
           'language', l.lanname,
           'volatility', p.provolatile,
           'strict', p.proisstrict,
           'security_definer', p.prosecdef,
           'leakproof', p.proleakproof,
           'parallel', p.proparallel,
           'config', array_to_string(p.proconfig, ', '),
           'owner', pg_get_userbyid(p.proowner),
           'body', p.prosrc,
           'execute_grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS g FROM aclexplode(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) a WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner) s),
           'comment', obj_description(p.oid, 'pg_proc'))
       FROM pg_proc p
       JOIN pg_namespace n ON n.oid = p.pronamespace
       JOIN pg_language l ON l.oid = p.prolang
       WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"#,
    // Triggers (not the internal ones behind foreign keys).
    r#"SELECT 'trigger ' || quote_ident(t.tgname) || ' on ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
         jsonb_build_object('definition', pg_get_triggerdef(t.oid), 'enabled', t.tgenabled,
                            'comment', obj_description(t.oid, 'pg_trigger'))
       FROM pg_trigger t
       JOIN pg_class c ON c.oid = t.tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE NOT t.tgisinternal AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'"#,
    // Enums and domains.
    r#"SELECT 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname),
         jsonb_build_object(
           'kind', CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' END,
           'labels', (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
           'base', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
           'owner', pg_get_userbyid(t.typowner),
           'comment', obj_description(t.oid, 'pg_type'))
       FROM pg_type t
       JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE t.typtype IN ('e', 'd') AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'"#,
];
