//! What a project's `supabase/config.toml` says that the tool needs.

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

#[cfg(test)]
mod tests {
    use super::exposed_schemas;

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
