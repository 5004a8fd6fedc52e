//! The CLI's folder rules: which files under `migrations/` are migrations (and in what order),
//! which look like rollbacks yet would be applied, the rollback scripts under `rollbacks/`, and
//! the plan that splits a folder into baseline and pending.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};

use super::sql_split::{self, Statement};

/// One file under `migrations/` the CLI would apply.
#[derive(Debug, Clone)]
pub struct MigrationFile {
    pub version: String,
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

impl MigrationFile {
    pub fn file_name(&self) -> String {
        format!("{}_{}.sql", self.version, self.name)
    }

    pub fn statements(&self) -> Vec<Statement> {
        sql_split::split(&self.text)
    }
}

/// What the CLI would do with each file of a migrations folder.
#[derive(Debug, Default)]
pub struct MigrationDir {
    /// Applied by the CLI, ordered by version.
    pub files: Vec<MigrationFile>,
    /// Skipped by the CLI: (file name, the CLI's reason).
    pub skipped: Vec<(String, String)>,
    /// Named like a rollback or down script, yet the CLI would apply it as a migration.
    pub dangerous: Vec<(String, String)>,
}

/// Reads `<supabase_dir>/migrations` like the supabase CLI: names matching
/// `^([0-9]+)_(.*)\.sql$`, ordered by version; everything else is skipped.
pub fn scan(supabase_dir: &Path) -> anyhow::Result<MigrationDir> {
    let dir = supabase_dir.join("migrations");
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!("reading {}; is --supabase-dir pointing at a Supabase project folder?", dir.display())
    })?;
    let mut out = MigrationDir::default();
    let mut by_version: BTreeMap<(u128, String), MigrationFile> = BTreeMap::new();
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().to_string();
        if entry.file_type()?.is_dir() {
            out.skipped.push((file_name, "directories are not read by the supabase CLI".into()));
            continue;
        }
        let Some((version, name)) = parse_file_name(&file_name) else {
            out.skipped.push((
                file_name,
                "file name must match pattern \"<timestamp>_name.sql\"; the supabase CLI skips it".into(),
            ));
            continue;
        };
        if let Some(why) = looks_like_rollback(&name) {
            out.dangerous.push((
                file_name.clone(),
                format!(
                    "named like a {why} script, but `supabase db push` would apply it as migration \
                     {version}; move it to supabase/rollbacks/"
                ),
            ));
        }
        let path = entry.path();
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let key = (version.parse::<u128>().unwrap_or(u128::MAX), version.clone());
        if let Some(prev) = by_version.insert(key, MigrationFile { version: version.clone(), name, path, text }) {
            bail!(
                "two migrations share version {version}: {} and {file_name}; the supabase CLI \
                 refuses this too, rename one",
                prev.file_name()
            );
        }
    }
    out.files = by_version.into_values().collect();
    out.skipped.sort();
    out.dangerous.sort();
    Ok(out)
}

fn parse_file_name(file_name: &str) -> Option<(String, String)> {
    let stem = file_name.strip_suffix(".sql")?;
    let (version, name) = stem.split_once('_')?;
    (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (version.to_string(), name.to_string()))
}

fn looks_like_rollback(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".down") || lower.ends_with("_down") || lower == "down" {
        return Some("down");
    }
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    ["rollback", "revert", "undo"].into_iter().find(|w| words.contains(w))
}

/// Baseline (already in production) and pending (under test) runner, with rollbacks.
#[derive(Debug)]
pub struct MigrationPlan {
    pub baseline: Vec<MigrationFile>,
    pub pending: Vec<MigrationFile>,
    /// Rollback script per pending version, when one exists under `rollbacks/`.
    pub rollbacks: BTreeMap<String, PathBuf>,
    /// How the pending set was chosen, for the report.
    pub rule: String,
}

impl MigrationPlan {
    /// Pending = versions >= `since` if given, else the trailing files that have a rollback script.
    pub fn new(supabase_dir: &Path, dir: &MigrationDir, since: Option<&str>) -> anyhow::Result<MigrationPlan> {
        let rollbacks = scan_rollbacks(supabase_dir)?;
        let split_at = match since {
            Some(since) => {
                if !dir.files.iter().any(|f| f.version == since) {
                    bail!(
                        "--since {since}: no migration has that version; versions are: {}",
                        dir.files.iter().map(|f| f.version.as_str()).collect::<Vec<_>>().join(", ")
                    );
                }
                dir.files.iter().position(|f| f.version == since).unwrap_or(dir.files.len())
            }
            None => {
                let trailing = dir.files.iter().rev().take_while(|f| rollbacks.contains_key(&f.version)).count();
                dir.files.len() - trailing
            }
        };
        let rule = match since {
            Some(v) => format!("--since {v}"),
            None => "the trailing migrations that have a rollback script in rollbacks/".to_string(),
        };
        let (baseline, pending) = dir.files.split_at(split_at);
        let rollbacks = rollbacks.into_iter().filter(|(v, _)| pending.iter().any(|f| &f.version == v)).collect();
        Ok(MigrationPlan { baseline: baseline.to_vec(), pending: pending.to_vec(), rollbacks, rule })
    }

    pub fn describe(files: &[MigrationFile]) -> String {
        if files.is_empty() {
            return "(none)".to_string();
        }
        files.iter().map(MigrationFile::file_name).collect::<Vec<_>>().join(", ")
    }
}

/// `rollbacks/<version>_<name>.sql`, keyed by version.
pub fn scan_rollbacks(supabase_dir: &Path) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let dir = supabase_dir.join("rollbacks");
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name().to_string_lossy().to_string();
        if let Some((version, _)) = parse_file_name(&file_name) {
            out.insert(version, entry.path());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_cli_pattern() {
        let cases = [
            ("20251116173500_add_x.sql", Some(("20251116173500", "add_x"))),
            ("1_a.sql", Some(("1", "a"))),
            ("rollback_migration.sql", None),
            ("validation_queries.sql", None),
            ("20251116_x.txt", None),
            ("20251116x_y.sql", None),
        ];
        for (name, expected) in cases {
            let got = parse_file_name(name);
            assert_eq!(got, expected.map(|(a, b)| (a.to_string(), b.to_string())), "{name}");
        }
    }

    #[test]
    fn names_like_rollbacks_are_flagged() {
        assert_eq!(looks_like_rollback("add_x.down"), Some("down"));
        assert_eq!(looks_like_rollback("rollback_add_x"), Some("rollback"));
        assert_eq!(looks_like_rollback("undo_thing"), Some("undo"));
        assert_eq!(looks_like_rollback("add_auth_user_id"), None);
        assert_eq!(looks_like_rollback("rollbacks_table"), None);
    }
}
