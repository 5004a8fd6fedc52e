//! `CatalogSnapshot`: the schema objects of a database that migrations can change, as normalised
//! definitions (`pg_get_*def`, `format_type`, exploded ACLs), keyed by a readable name such as
//! `column public.messages.auth_user_id`. Deterministic (ordered maps) and cheap (a few catalog
//! queries), so two snapshots compare exactly and differences read as sentences.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};
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
    "tiger",
    "tiger_data",
    "topology",
];

/// Attributes as a catalog query returns them (`jsonb`).
type RawAttrs = sqlx::types::Json<BTreeMap<String, Option<serde_json::Value>>>;

/// Object name → attribute → normalised value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
                format!("{name} differs from before the migration: {}", describe_changes(changes))
            }
        }
    }

    /// A sentence, worded for "after" being a restore of the state "before" recorded.
    pub fn describe_after_restore(&self) -> String {
        match self {
            Difference::Added { name, .. } => format!("{name} exists in the restore but was not in the target"),
            Difference::Removed { name } => format!("{name} was in the target but is missing from the restore"),
            Difference::Changed { name, changes } => {
                format!("{name} differs in the restore: {}", describe_changes(changes))
            }
        }
    }
}

/// Attributes whose value is a `, `-separated list (what the catalog queries `string_agg`).
const LIST_ATTRS: [&str; 9] =
    ["grants", "execute_grants", "roles", "tables", "member_of", "labels", "tags", "config", "settings"];

/// `attr: before → after` for each change; comma-separated lists (grants, roles) as what was
/// added and removed, so the difference is never cut off.
fn describe_changes(changes: &[(String, String, String)]) -> String {
    let what: Vec<String> = changes
        .iter()
        .map(|(attr, before, after)| {
            let list = |v: &str| v.split(", ").filter(|x| !x.is_empty()).map(str::to_string).collect::<Vec<_>>();
            // Only attributes that are lists (a definition has commas too, and is not one).
            if LIST_ATTRS.contains(&attr.as_str()) && (before.contains(", ") || after.contains(", ")) {
                let (b, a) = (list(before), list(after));
                let added: Vec<&String> = a.iter().filter(|x| !b.contains(x)).collect();
                let removed: Vec<&String> = b.iter().filter(|x| !a.contains(x)).collect();
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!("now also {}", added.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")));
                }
                if !removed.is_empty() {
                    parts.push(format!(
                        "no longer {}",
                        removed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
                if !parts.is_empty() {
                    return format!("{attr}: {}", parts.join("; "));
                }
            }
            let (b, a) = around_difference(before, after);
            format!("{attr}: {b} → {a}")
        })
        .collect();
    what.join("; ")
}

/// Both values on one line; when long, the part around where they first differ, so a
/// difference is never cut off.
fn around_difference(before: &str, after: &str) -> (String, String) {
    let one_line = |v: &str| v.split_whitespace().collect::<Vec<_>>().join(" ");
    let (b, a) = (one_line(before), one_line(after));
    if b.chars().count() <= 120 && a.chars().count() <= 120 {
        return (short(&b), short(&a));
    }
    let first = b.chars().zip(a.chars()).take_while(|(x, y)| x == y).count();
    let start = first.saturating_sub(40);
    let window = |v: &str| {
        let tail: String = v.chars().skip(start).take(120).collect();
        let more = if v.chars().count() > start + 120 { "…" } else { "" };
        format!("{}{tail}{more}", if start > 0 { "…" } else { "" })
    };
    (window(&b), window(&a))
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
    /// The project's objects: every schema but Postgres's and the platform's own (what a backup
    /// holds and a restore must match).
    pub async fn take(conn: &mut PgConnection) -> anyhow::Result<CatalogSnapshot> {
        let excluded: Vec<String> = MANAGED_SCHEMAS.iter().map(|s| s.to_string()).collect();
        CatalogSnapshot::take_with(conn, &excluded, QUERIES.iter()).await
    }

    /// Everything a migration can change, platform schemas included (a trigger on auth.users, a
    /// policy on storage.objects), plus publications, default privileges, extensions, event
    /// triggers and roles: what a rollback must restore exactly.
    pub async fn take_everything(conn: &mut PgConnection) -> anyhow::Result<CatalogSnapshot> {
        let excluded = vec!["information_schema".to_string()];
        CatalogSnapshot::take_with(conn, &excluded, QUERIES.iter().chain(PLATFORM_QUERIES)).await
    }

    async fn take_with<'a>(
        conn: &mut PgConnection,
        excluded: &[String],
        queries: impl Iterator<Item = &'a (&'a str, &'a str)>,
    ) -> anyhow::Result<CatalogSnapshot> {
        let mut objects = BTreeMap::new();
        for (kind, query) in queries {
            let rows: Vec<(String, RawAttrs)> = sqlx::query_as(query)
                .bind(excluded)
                .fetch_all(&mut *conn)
                .await
                .with_context(|| format!("reading each {kind} from the catalog"))?;
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

/// One catalog query per kind of object, in `xtask/sql/catalog/<kind>.sql`: each returns
/// `(name text, attrs jsonb)` for the schemas not in `$1`.
macro_rules! catalog_query {
    ($kind:literal) => {
        ($kind, include_str!(concat!("../../sql/catalog/", $kind, ".sql")))
    };
}

const QUERIES: &[(&str, &str)] = &[
    catalog_query!("schema"),
    catalog_query!("table"),
    catalog_query!("column"),
    catalog_query!("constraint"),
    catalog_query!("index"),
    catalog_query!("policy"),
    catalog_query!("function"),
    catalog_query!("trigger"),
    catalog_query!("type"),
];

/// What belongs to no schema, or to the platform's, that migrations change too.
const PLATFORM_QUERIES: &[(&str, &str)] = &[
    catalog_query!("publication"),
    catalog_query!("default_privileges"),
    catalog_query!("extension"),
    catalog_query!("event_trigger"),
    catalog_query!("role"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(attr: &str, before: &str, after: &str) -> Difference {
        Difference::Changed {
            name: "function public.f()".into(),
            changes: vec![(attr.into(), before.into(), after.into())],
        }
    }

    #[test]
    fn differences_read_as_sentences_with_list_changes_spelled_out() {
        let long = (0..40).map(|i| format!("role{i}:SELECT")).collect::<Vec<_>>().join(", ");
        let cases = [
            (
                changed("execute_grants", "authenticated, service_role", "anon, authenticated, service_role"),
                "function public.f() differs in the restore: execute_grants: now also anon",
            ),
            (
                changed("grants", &long, &format!("{long}, anon:DELETE")),
                "function public.f() differs in the restore: grants: now also anon:DELETE",
            ),
            (changed("volatility", "v", "s"), "function public.f() differs in the restore: volatility: v → s"),
            (
                Difference::Removed { name: "index public.i".into() },
                "index public.i was in the target but is missing from the restore",
            ),
        ];
        for (d, expected) in cases {
            assert_eq!(d.describe_after_restore(), expected);
        }
        assert_eq!(
            changed("grants", "a, b", "a").describe_after_rollback(),
            "function public.f() differs from before the migration: grants: no longer b"
        );
    }
}

#[cfg(test)]
mod difference_tests {
    use super::around_difference;

    #[test]
    fn long_values_show_where_they_differ() {
        let before = format!("{} anon=r/postgres", "x".repeat(200));
        let after = format!("{} anon=rw/postgres", "x".repeat(200));
        let (b, a) = around_difference(&before, &after);
        assert!(b.ends_with("anon=r/postgres") && a.ends_with("anon=rw/postgres"), "{b} | {a}");
        assert!(b.starts_with('…'), "{b}");
        assert_eq!(around_difference("a", "b"), ("a".to_string(), "b".to_string()));
    }
}
