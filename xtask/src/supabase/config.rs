//! What a project's `supabase/config.toml` says that the tool needs.

use crate::pg::quote_ident;
use std::path::Path;

use anyhow::Context;

/// `[api] schemas` of `config.toml`, without Supabase's own (`graphql_public`); `public` when
/// the file or the key is absent.
pub fn exposed_schemas(supabase_dir: &Path) -> anyhow::Result<Vec<String>> {
    let path = supabase_dir.join("config.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(vec!["public".to_string()]) };
    let config: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let schemas: Vec<String> = config
        .get("api")
        .and_then(|api| api.get("schemas"))
        .and_then(|s| s.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let schemas: Vec<String> = schemas
        .into_iter()
        .filter(|s| !crate::analysis::catalog::MANAGED_SCHEMAS.contains(&s.as_str()) && s != "graphql_public")
        .collect();
    Ok(if schemas.is_empty() { vec!["public".to_string()] } else { schemas })
}

/// `[auth] enable_anonymous_sign_ins`: anonymous users (role `authenticated`, `is_anonymous` in
/// their token) exist in production, so policies must be proven against one.
pub fn anonymous_sign_ins(supabase_dir: &Path) -> anyhow::Result<bool> {
    let path = supabase_dir.join("config.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(false) };
    let config: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(config.get("auth").and_then(|a| a.get("enable_anonymous_sign_ins")).and_then(|e| e.as_bool()) == Some(true))
}

/// The custom access-token hook Supabase Auth calls before issuing a token:
/// `[auth.hook.custom_access_token]` with `enabled = true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessTokenHook {
    /// A `pg-functions://…` hook, as `schema.function`.
    Function(String),
    /// An HTTP hook: it cannot be called from the database.
    Http(String),
}

pub fn access_token_hook(supabase_dir: &Path) -> anyhow::Result<Option<AccessTokenHook>> {
    let path = supabase_dir.join("config.toml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let config: toml::Table = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let hook = config.get("auth").and_then(|a| a.get("hook")).and_then(|h| h.get("custom_access_token"));
    let Some(hook) = hook.filter(|h| h.get("enabled").and_then(|e| e.as_bool()) == Some(true)) else {
        return Ok(None);
    };
    let uri = hook.get("uri").and_then(|u| u.as_str()).unwrap_or_default();
    if uri.starts_with("http://") || uri.starts_with("https://") {
        return Ok(Some(AccessTokenHook::Http(uri.to_string())));
    }
    // pg-functions://<database>/<schema>/<function>
    let parts: Vec<&str> = uri.strip_prefix("pg-functions://").unwrap_or_default().split('/').collect();
    match parts.as_slice() {
        [_, schema, function] if !schema.is_empty() && !function.is_empty() => {
            Ok(Some(AccessTokenHook::Function(format!("{}.{}", quote_ident(schema), quote_ident(function)))))
        }
        _ => anyhow::bail!(
            "{}: [auth.hook.custom_access_token] uri {uri:?} is neither pg-functions://<database>/<schema>/<function> \
             nor an http(s) URL",
            path.display()
        ),
    }
}

/// The seed files `supabase db reset` loads, in its order: `[db.seed] sql_paths` (globs relative
/// to the project folder, each sorted, duplicates once), default `./seed.sql`; none when
/// `[db.seed] enabled = false`. The second value says where the list came from.
pub fn seed_files(supabase_dir: &Path) -> anyhow::Result<(Vec<std::path::PathBuf>, String)> {
    let path = supabase_dir.join("config.toml");
    let config: toml::Table = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?,
        Err(_) => toml::Table::new(),
    };
    let seed = config.get("db").and_then(|db| db.get("seed"));
    if seed.and_then(|s| s.get("enabled")).and_then(|e| e.as_bool()) == Some(false) {
        return Ok((Vec::new(), "[db.seed] enabled = false".into()));
    }
    let configured: Option<Vec<String>> = seed
        .and_then(|s| s.get("sql_paths"))
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    let (patterns, source) = match configured {
        Some(p) => (p, "[db.seed] sql_paths in config.toml".to_string()),
        None => (vec!["./seed.sql".to_string()], "the default ./seed.sql".to_string()),
    };
    let mut files = Vec::new();
    for pattern in &patterns {
        let full = supabase_dir.join(pattern.trim_start_matches("./"));
        let mut matched: Vec<std::path::PathBuf> = glob::glob(&full.to_string_lossy())
            .with_context(|| format!("reading the seed pattern {pattern} in {}", path.display()))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        matched.sort();
        for m in matched {
            if !files.contains(&m) {
                files.push(m);
            }
        }
    }
    Ok((files, source))
}

#[cfg(test)]
mod tests {
    use super::{exposed_schemas, seed_files};

    #[test]
    fn seed_files_follow_sql_paths_in_order_or_default_to_seed_sql() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path();
        std::fs::create_dir_all(p.join("seeds")).expect("mkdir");
        for f in ["seed.sql", "seeds/02_b.sql", "seeds/01_a.sql", "users.sql"] {
            std::fs::write(p.join(f), "select 1;").expect("write");
        }
        let names = |config: &str| {
            std::fs::write(p.join("config.toml"), config).expect("config");
            let (files, _) = seed_files(p).expect("seeds");
            files.iter().map(|f| f.strip_prefix(p).expect("inside").display().to_string()).collect::<Vec<_>>()
        };
        assert_eq!(names(""), ["seed.sql"]);
        assert_eq!(
            names("[db.seed]\nsql_paths = ['./users.sql', './seeds/*.sql', './users.sql']\n"),
            ["users.sql", "seeds/01_a.sql", "seeds/02_b.sql"]
        );
        assert!(names("[db.seed]\nenabled = false\n").is_empty());
        assert!(names("[db.seed]\nsql_paths = ['./missing.sql']\n").is_empty());
    }

    fn check(config: Option<&str>, expected: &[&str]) {
        let dir = tempfile::tempdir().expect("tmp");
        if let Some(text) = config {
            std::fs::write(dir.path().join("config.toml"), text).expect("write");
        }
        assert_eq!(exposed_schemas(dir.path()).expect("schemas"), expected, "{config:?}");
    }

    #[test]
    fn exposed_schemas_come_from_api_schemas_without_supabases_own() {
        check(None, &["public"]);
        check(Some("[db]\nport = 1\n"), &["public"]);
        check(Some("[api]\nschemas = [\"public\", \"graphql_public\"]\n"), &["public"]);
        check(Some("[api]\nschemas = [\"public\", \"basejump\"]\n"), &["public", "basejump"]);
        check(Some("[api]\nschemas = []\n"), &["public"]);
    }
}
