//! Which migrations are pending: the one place that chooses. Under test (db-local-test, db-lint,
//! db-rls …) the rule is the trailing files with a rollback script, `--since`, or what the branch
//! adds compared with `--base` ([`plan`]); against a target it is what the target's history has
//! not applied ([`on_target`]).

use std::path::{Path, PathBuf};

use anyhow::bail;
use std::collections::BTreeMap;

use super::{branch, scan_rollbacks, MigrationDir, MigrationFile};
use crate::report::{Check, Report, Status};

/// Against a target: the local files its history has not applied, split by whether they are
/// newer than its newest applied version (`supabase db push` pushes those) or older (the CLI
/// refuses them without `--include-all`).
#[derive(Debug, Clone, Default)]
pub struct OnTarget {
    pub pending: Vec<MigrationFile>,
    pub out_of_order: Vec<MigrationFile>,
}

/// What `dir` holds that the target's history (`applied` versions) does not.
pub fn on_target(dir: &MigrationDir, applied: &[String]) -> OnTarget {
    let number = |v: &str| v.parse::<u128>().unwrap_or(0);
    let newest = applied.iter().map(|v| number(v)).max();
    let (out_of_order, pending) = dir
        .files
        .iter()
        .filter(|f| !applied.contains(&f.version))
        .cloned()
        .partition(|f| newest.is_some_and(|n| number(&f.version) < n));
    OnTarget { pending, out_of_order }
}

/// How the pending set under test is chosen (from `--since` / `--base`, or the pull request's
/// base branch in GitHub Actions).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Choice {
    /// The trailing migrations that have a rollback script.
    #[default]
    Trailing,
    /// Versions from this one on.
    Since(String),
    /// The migration files the branch adds compared with this git ref.
    Base(String),
}

/// The plan of a command: from `--base` (or the pull request's base) when given, with its checks
/// in `report`; else from `--since` or the rollback-script rule.
pub fn plan(
    supabase_dir: &Path,
    dir: &MigrationDir,
    choice: &Choice,
    report: &mut Report,
) -> anyhow::Result<MigrationPlan> {
    let base = match choice {
        Choice::Trailing => return MigrationPlan::new(supabase_dir, dir, None),
        Choice::Since(v) => return MigrationPlan::new(supabase_dir, dir, Some(v)),
        Choice::Base(base) => base,
    };
    let branch = branch::read(supabase_dir, base)?;
    let (first, checks) = branch::judge(&branch, dir);
    report.extend(checks);
    MigrationPlan::from_branch(supabase_dir, dir, first.as_deref(), base)
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
            Some(since) => since_index(supabase_dir, dir, since)?,
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

    /// `plan.pending`: what is under test and how it was chosen, failed when nothing is (a warning
    /// for a branch that adds no migration) or when files silently became baseline.
    pub fn check(&self, supabase_dir: &Path) -> Check {
        let plan = self;
        let pending_status = match (&plan.branch, plan.pending.is_empty()) {
            // A branch that adds no migration has nothing here to test: said, not failed.
            (Some(_), true) => Status::Warn,
            (None, true) => Status::Fail,
            _ if !plan.gaps.is_empty() => Status::Fail,
            _ => Status::Info,
        };
        let mut pending = Check::new("plan.pending", "pending migrations (under test)", pending_status)
            .value(plan.pending.len())
            .detail(format!("{} (chosen as {})", MigrationPlan::describe(&plan.pending), plan.rule));
        if let (Some(base), true) = (&plan.branch, plan.pending.is_empty()) {
            pending = pending.detail(format!(
                "nothing to test: this branch adds no migration compared with {base}; the checks below ran on the \
                 base's migrations only"
            ));
        } else if plan.pending.is_empty() {
            pending = pending.detail(format!(
                "nothing to test: no trailing migration has a rollback script in {}; add \
                 rollbacks/<version>_<name>.sql for the migrations under test (`cargo xtask db-rollback-new` writes \
                 and proves them), or pass --since VERSION",
                supabase_dir.join("rollbacks").display()
            ));
        }
        if !plan.gaps.is_empty() {
            pending = pending.detail(format!(
                "{} (chosen as {})\nnot trusted: {} ha(s) no rollback script but sit(s) among migrations that have one, \
                 so it silently became baseline; write rollbacks/<version>_<name>.sql for it (`cargo xtask \
                 db-rollback-new VERSION` writes and proves one), or pass --since VERSION \
                 to say where the pending migrations start",
                MigrationPlan::describe(&plan.pending),
                plan.rule,
                plan.gaps.join(", ")
            ));
        }
        pending
    }

    pub fn describe(files: &[MigrationFile]) -> String {
        if files.is_empty() {
            return "(none)".to_string();
        }
        files.iter().map(MigrationFile::file_name).collect::<Vec<_>>().join(", ")
    }
}

/// Where `--since` splits the folder: the index of its version, or why it names no migration.
fn since_index(supabase_dir: &Path, dir: &MigrationDir, since: &str) -> anyhow::Result<usize> {
    if !dir.files.iter().any(|f| f.version == since) {
        let skipped = dir.skipped.iter().find(|(name, _)| name.starts_with(since));
        if let Some((name, why)) = skipped {
            bail!(
                "--since {since}: {name} has that version, but the supabase CLI skips it ({why}), so it \
                 is no migration; rename it `<version>_<name>.sql`"
            );
        }
        if dir.files.is_empty() {
            bail!(
                "--since {since}: the supabase CLI would apply no file of {}: {} file(s) there are \
                 skipped (see runner.skipped.* in the report); name them `<version>_<name>.sql`",
                supabase_dir.join("migrations").display(),
                dir.skipped.len()
            );
        }
        bail!(
            "--since {since}: no migration has that version; versions are: {}",
            dir.files.iter().map(|f| f.version.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(dir.files.iter().position(|f| f.version == since).unwrap_or(dir.files.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::scan;

    #[test]
    fn on_a_target_pending_is_what_its_history_lacks_after_its_newest() {
        let dir = MigrationDir {
            files: ["1", "2", "3", "4"]
                .iter()
                .map(|v| MigrationFile { version: v.to_string(), ..MigrationFile::default() })
                .collect(),
            ..MigrationDir::default()
        };
        let versions = |fs: &[MigrationFile]| fs.iter().map(|f| f.version.clone()).collect::<Vec<_>>();
        // (applied, pending, out of order)
        let cases: &[(&[&str], &[&str], &[&str])] = &[
            (&[], &["1", "2", "3", "4"], &[]),
            (&["1", "2"], &["3", "4"], &[]),
            (&["1", "3"], &["4"], &["2"]),
            (&["1", "2", "3", "4"], &[], &[]),
            (&["9"], &[], &["1", "2", "3", "4"]),
        ];
        for (applied, pending, out_of_order) in cases {
            let applied: Vec<String> = applied.iter().map(|s| s.to_string()).collect();
            let got = on_target(&dir, &applied);
            assert_eq!(versions(&got.pending), *pending, "{applied:?}");
            assert_eq!(versions(&got.out_of_order), *out_of_order, "{applied:?}");
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
    fn since_a_file_the_cli_skips_says_why_it_is_no_migration() {
        let dir = MigrationDir {
            files: Vec::new(),
            skipped: vec![("20250714031359-hero.sql".into(), "file name must match pattern".into())],
            dangerous: Vec::new(),
            order_note: None,
            duplicates: Vec::new(),
        };
        let root = std::path::Path::new("/nonexistent/supabase");
        let err = MigrationPlan::new(root, &dir, Some("20250714031359")).expect_err("no such migration").to_string();
        assert!(err.contains("20250714031359-hero.sql") && err.contains("skips it"), "{err}");
        let err = MigrationPlan::new(root, &dir, Some("2024")).expect_err("no migration at all").to_string();
        assert!(err.contains("would apply no file") && err.contains("1 file(s)"), "{err}");
    }
}
