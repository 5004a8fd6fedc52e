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
    /// Named like a rollback or down script, yet the CLI would apply it as a migration.
    pub dangerous: Vec<(String, String)>,
    /// Set when file-name order (the CLI's) and numeric version order disagree.
    pub order_note: Option<String>,
}

/// Reads `<supabase_dir>/migrations` like the supabase CLI: names matching
/// `^([0-9]+)_(.*)\.sql$`, ordered by version; everything else is skipped.
pub fn scan(supabase_dir: &Path) -> anyhow::Result<MigrationDir> {
    let dir = supabase_dir.join("migrations");
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
        if let Some(prev) = by_name.values().find(|f| f.version == version) {
            bail!(
                "two migrations share version {version}: {} and {file_name}; the supabase CLI \
                 refuses this too, rename one",
                prev.file_name()
            );
        }
        by_name.insert(file_name, MigrationFile { version: version.clone(), name, path, text });
    }
    out.files = by_name.into_values().collect();
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
    /// Files without a rollback script that sit among files that have one (so they silently
    /// became baseline): the plan cannot be trusted until they have one or `--since` says.
    pub gaps: Vec<String>,
    /// Why each file is baseline or pending, one line each.
    pub reasons: Vec<String>,
    /// `--base`: the branch's base, when pending is what the branch adds.
    pub branch: Option<String>,
}

impl MigrationPlan {
    /// Pending = the files from `first` on (the ones a branch adds, `branch::plan`), or none.
    pub fn from_branch(
        supabase_dir: &Path,
        dir: &MigrationDir,
        first: Option<&str>,
        base: &str,
    ) -> anyhow::Result<MigrationPlan> {
        let mut plan = Self::new(supabase_dir, dir, first)?;
        if first.is_none() {
            plan.baseline = dir.files.clone();
            plan.pending.clear();
            plan.rollbacks.clear();
        }
        plan.gaps.clear();
        plan.rule = format!("--base {base}: the migrations this branch adds");
        plan.branch = Some(base.to_string());
        plan.reasons = dir
            .files
            .iter()
            .map(|f| {
                let pending = plan.pending.iter().any(|p| p.version == f.version);
                let why = if pending { "pending (this branch adds it)" } else { "baseline (in the base branch)" };
                format!("{}: {why} compared with {base}", f.file_name())
            })
            .collect();
        Ok(plan)
    }

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
        let first_with_script = dir.files.iter().position(|f| rollbacks.contains_key(&f.version));
        let gaps = match (since, first_with_script) {
            (None, Some(first)) if first < split_at => baseline[first..]
                .iter()
                .filter(|f| !rollbacks.contains_key(&f.version))
                .map(MigrationFile::file_name)
                .collect(),
            _ => Vec::new(),
        };
        let reasons = dir
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let script = rollbacks.contains_key(&f.version);
                let why = match (i >= split_at, since, script) {
                    (true, Some(v), _) => format!("pending (at or after --since {v})"),
                    (true, None, _) => "pending (it and every later file have a rollback script)".to_string(),
                    (false, Some(v), _) => format!("baseline (before --since {v})"),
                    (false, None, false) => "baseline (no rollback script)".to_string(),
                    (false, None, true) => "baseline (has a rollback script, but a later file has none)".to_string(),
                };
                let digits = if f.version.len() == 14 {
                    String::new()
                } else {
                    format!(
                        "; its version has {} digits where the CLI writes 14, and the CLI orders files by name",
                        f.version.len()
                    )
                };
                format!("{}: {why}{digits}", f.file_name())
            })
            .collect();
        let rollbacks = rollbacks.into_iter().filter(|(v, _)| pending.iter().any(|f| &f.version == v)).collect();
        Ok(MigrationPlan {
            baseline: baseline.to_vec(),
            pending: pending.to_vec(),
            rollbacks,
            rule,
            gaps,
            reasons,
            branch: None,
        })
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

    fn plan(files: &[&str], scripts: &[&str], since: Option<&str>) -> MigrationPlan {
        let project = tempfile::tempdir().expect("tmp");
        for (dir, names) in [("migrations", files), ("rollbacks", scripts)] {
            std::fs::create_dir_all(project.path().join(dir)).expect("mkdir");
            for v in names {
                std::fs::write(project.path().join(dir).join(format!("{v}_x.sql")), "select 1;").expect("write");
            }
        }
        let dir = scan(project.path()).expect("scan");
        MigrationPlan::new(project.path(), &dir, since).expect("plan")
    }

    #[test]
    fn a_file_without_a_rollback_between_files_with_one_is_a_gap() {
        // (files, rollback scripts, --since, gaps, pending count)
        type Case<'a> = (&'a [&'a str], &'a [&'a str], Option<&'a str>, &'a [&'a str], usize);
        let cases: &[Case] = &[
            (&["1", "2", "3"], &["2", "3"], None, &[], 2),
            (&["1", "2", "3", "4"], &["2", "4"], None, &["3_x.sql"], 1),
            (&["1", "2", "3", "4"], &["2", "4"], Some("3"), &[], 2),
            (&["1", "2"], &[], None, &[], 0),
        ];
        for (files, scripts, since, gaps, pending) in cases {
            let p = plan(files, scripts, *since);
            assert_eq!(
                (p.gaps.clone(), p.pending.len()),
                (gaps.iter().map(|g| g.to_string()).collect::<Vec<_>>(), *pending),
                "{files:?} {scripts:?} {since:?}"
            );
            assert_eq!(p.reasons.len(), files.len());
        }
        // Regression: a short version silently became baseline. The CLI orders by file name, so
        // `2025_x.sql` runs last; without a rollback it breaks the trailing pending set.
        let p = plan(&["2025", "20251101000000", "20251102000000"], &["20251102000000"], None);
        assert_eq!(p.gaps, ["2025_x.sql"]);
        assert!(
            p.reasons[2].starts_with("2025_x.sql: baseline (no rollback script); its version has 4 digits"),
            "{:?}",
            p.reasons
        );
        let p = plan(&["20251101000000", "20251102000000"], &["20251102000000"], None);
        assert_eq!(p.reasons[1], "20251102000000_x.sql: pending (it and every later file have a rollback script)");
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
