//! The CLI's folder rules: which files under `migrations/` are migrations (and in what order),
//! which look like rollbacks yet would be applied, and the rollback scripts under `rollbacks/`.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context;

use super::sql_split::{self, Statement};
use crate::report::{Check, Status};

/// One file under `migrations/` the CLI would apply.
#[derive(Debug, Clone, Default)]
pub struct MigrationFile {
    pub version: String,
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

impl MigrationFile {
    /// The file's name as the user sees it (a seed is `seed.sql`, not a made-up version).
    pub fn file_name(&self) -> String {
        match self.path.file_name() {
            Some(name) if name.to_string_lossy().ends_with(".sql") => name.to_string_lossy().to_string(),
            _ => format!("{}_{}.sql", self.version, self.name),
        }
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
    /// Named like a rollback or down script, yet the CLI would apply it as a migration: (file, why,
    /// a failure where the name says it undoes something, a warning where it only carries the word).
    pub dangerous: Vec<(String, String, Status)>,
    /// Set when file-name order (the CLI's) and numeric version order disagree.
    pub order_note: Option<String>,
    /// A later file (in name order) with the version of an earlier one: left out of `files`.
    pub duplicates: Vec<(MigrationFile, String)>,
}

impl MigrationDir {
    /// What the folder's rules say about it, as checks: files the CLI skips, rollback-like names
    /// it would apply, versions used twice (on the file, as the CLI refuses them), order.
    pub fn checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        if let Some(note) = &self.order_note {
            checks.push(
                Check::new("runner.order", "file-name order and version order agree", Status::Warn)
                    .detail(note.clone()),
            );
        }
        for (file, why) in &self.skipped {
            checks.push(
                Check::new(format!("runner.skipped.{file}"), "file the supabase CLI skips", Status::Warn)
                    .detail(why.clone()),
            );
        }
        for (file, why, status) in &self.dangerous {
            checks.push(
                Check::new(format!("runner.dangerous_name.{file}"), "rollback-like file the CLI would apply", *status)
                    .detail(why.clone()),
            );
        }
        for (file, first) in &self.duplicates {
            checks.push(
                Check::new(
                    format!("runner.duplicate_version.{}", file.file_name()),
                    "every migration has a version of its own",
                    Status::Fail,
                )
                .detail(format!(
                    "{} has version {}, as {first} has: `supabase db push` records each version once (the primary \
                     key of supabase_migrations.schema_migrations), so one of them never applies (duplicate key \
                     value violates unique constraint \"schema_migrations_pkey\"); rename it with a new 14-digit \
                     timestamp (`supabase migration new` makes one). Left out of this run.",
                    file.file_name(),
                    file.version
                ))
                .at(&file.path, 1, 1),
            );
        }
        checks
    }
}

/// Reads `<supabase_dir>/migrations` like the supabase CLI: names matching
/// `^([0-9]+)_(.*)\.sql$`, ordered by version; everything else is skipped.
pub fn scan(supabase_dir: &Path) -> anyhow::Result<MigrationDir> {
    let dir = supabase_dir.join("migrations");
    // A Supabase folder without migrations (a project keeping one schema.sql, seen on a public
    // project): say that, not "is this a Supabase folder?".
    if !dir.exists() && supabase_dir.join("config.toml").is_file() {
        anyhow::bail!(
            "{} has no migrations/ folder: this tool tests migrations as `supabase db push` applies them; write \
             the schema as migrations (`supabase migration new <name>`, or `supabase db diff -f <name>` from a \
             running database) and point --supabase-dir here again",
            supabase_dir.display()
        );
    }
    let entries = std::fs::read_dir(&dir).with_context(|| {
        format!("reading {}; is --supabase-dir pointing at a Supabase project folder?", dir.display())
    })?;
    let mut out = MigrationDir::default();
    // As the CLI: files in file-name order (versions must still be unique).
    let mut by_name: BTreeMap<String, MigrationFile> = BTreeMap::new();
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
            let why = format!(
                "named like a {why} script, but `supabase db push` would apply it as migration {version}; move it \
                 to supabase/rollbacks/"
            );
            out.dangerous.push((file_name.clone(), why, Status::Fail));
        }
        let path = entry.path();
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        by_name.insert(file_name, MigrationFile { version: version.clone(), name, path, text });
    }
    // A version used twice: the first file in name order keeps it, the later one is a finding.
    for file in by_name.into_values() {
        match out.files.iter().find(|f| f.version == file.version) {
            Some(first) => {
                let first = first.file_name();
                out.duplicates.push((file, first));
            }
            None => out.files.push(file),
        }
    }
    let mut numeric: Vec<&MigrationFile> = out.files.iter().collect();
    numeric.sort_by_key(|f| f.version.parse::<u128>().unwrap_or(u128::MAX));
    if numeric.iter().map(|f| &f.version).ne(out.files.iter().map(|f| &f.version)) {
        out.order_note = Some(format!(
            "the supabase CLI runs migrations in file-name order ({}), which here differs from the order of \
             their versions as numbers ({}); name every file with a 14-digit timestamp",
            out.files.iter().map(MigrationFile::file_name).collect::<Vec<_>>().join(", "),
            numeric.iter().map(|f| f.file_name()).collect::<Vec<_>>().join(", ")
        ));
    }
    let names: Vec<&str> = out.files.iter().map(|f| f.name.as_str()).collect();
    for (file, why, status) in &mut out.dangerous {
        let name = parse_file_name(file).map(|(_, n)| n).unwrap_or_default();
        if !undoes_something(&name, &names) {
            *status = Status::Warn;
            *why = format!(
                "{why} if it undoes another migration; its name only carries the word (no migration is named as \
                 what it would undo), so if it is a forward migration it can stay — rename it to end this warning"
            );
        }
    }
    out.skipped.sort();
    out.dangerous.sort_by(|a, b| a.0.cmp(&b.0));
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

/// Whether a rollback-like `name` says it undoes something: a down script, a name that starts with
/// the word (`rollback_add_x`), or one that is another migration's name plus the word
/// (`import_batch_rollback` beside `import_batch`). A forward migration that only carries the word
/// (`055_import_batch_rollback` adding a `rolled_back_at` column, seen on a public project) does not.
fn undoes_something(name: &str, names: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    if looks_like_rollback(name) == Some("down") {
        return true;
    }
    let words: Vec<&str> = lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let undo = |w: &&str| ["rollback", "revert", "undo"].contains(w);
    if words.first().is_some_and(undo) {
        return true;
    }
    let rest: Vec<&str> = words.iter().filter(|w| !undo(w)).copied().collect();
    names.iter().any(|n| {
        let theirs: Vec<String> = n
            .to_ascii_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
        !rest.is_empty() && theirs == rest
    })
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

    #[test]
    fn a_rollback_like_name_fails_only_where_it_says_it_undoes_something() {
        // (the file's name, the other migrations' names, whether it undoes something)
        let cases: &[(&str, &[&str], bool)] = &[
            ("add_x.down", &[], true),
            ("rollback_add_x", &[], true),
            ("revert-add-x", &[], true),
            ("import_batch_rollback", &["import_batch"], true),
            // Seen on a public project: a forward migration adding `rolled_back_at`.
            ("import_batch_rollback", &["import_batch_v2", "payments"], false),
            ("undo_support", &[], true),
            ("order_undo_window", &["orders"], false),
        ];
        for (name, names, expected) in cases {
            assert_eq!(undoes_something(name, names), *expected, "{name} beside {names:?}");
        }
    }
}
