//! Pending from git (`--base REF`): in a pull request, what is under review is what the branch
//! adds compared with its base. The migration files the branch adds are pending; a file the base
//! already has that the branch edits or deletes fails ("edited after merge": `supabase db push`
//! never runs a version twice, so the edit would never reach a database that has it); an added
//! file older than the base's newest fails as the CLI treats it. Git facts (`read`), then a pure
//! judgement (`judge`).

use std::{collections::BTreeSet, path::Path, process::Command};

use anyhow::{bail, Context};

use super::MigrationDir;
use crate::report::{Check, Status};

/// What git says about the migrations folder against the base.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Branch {
    /// The base as given (`origin/main`) and the merge base's short hash.
    pub base: String,
    pub merge_base: String,
    /// File names under `migrations/` at the merge base.
    pub in_base: BTreeSet<String>,
    /// Of those, the ones the working tree has with other contents.
    pub modified: BTreeSet<String>,
}

fn git(dir: &Path, args: &[&str]) -> anyhow::Result<Option<String>> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .context("running git (--base reads the branch from git: install git, or pass --since VERSION instead)")?;
    Ok(out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()))
}

/// Reads the base's migration files and the branch's edits of them.
pub fn read(supabase_dir: &Path, base: &str) -> anyhow::Result<Branch> {
    if git(supabase_dir, &["rev-parse", "--show-toplevel"])?.is_none() {
        bail!("--base {base}: {} is not in a git checkout; pass --since VERSION instead", supabase_dir.display());
    }
    if git(supabase_dir, &["rev-parse", "--verify", "--quiet", &format!("{base}^{{commit}}")])?.is_none() {
        bail!(
            "--base {base}: git knows no such commit or branch here; fetch it (`git fetch origin`; in GitHub Actions, \
             actions/checkout with fetch-depth: 0)"
        );
    }
    let Some(merge_base) = git(supabase_dir, &["merge-base", base, "HEAD"])? else {
        bail!("--base {base}: it has no commit in common with HEAD; fetch the whole history (fetch-depth: 0)");
    };
    let names = |text: String| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.rsplit(['/', '\t']).next())
            .filter(|n| n.ends_with(".sql"))
            .map(str::to_string)
            .collect()
    };
    let in_base = git(supabase_dir, &["ls-tree", "--name-only", &merge_base, "--", "migrations/"])?.map(names);
    let modified = git(
        supabase_dir,
        &["diff", "--name-only", "--no-renames", "--diff-filter=M", &merge_base, "--", "migrations/"],
    )?
    .map(names);
    let short = merge_base.chars().take(10).collect();
    Ok(Branch {
        base: base.to_string(),
        merge_base: short,
        in_base: in_base.unwrap_or_default(),
        modified: modified.unwrap_or_default(),
    })
}

/// The judgement: the first version that is pending, and the checks to report.
pub fn judge(branch: &Branch, dir: &MigrationDir) -> (Option<String>, Vec<Check>) {
    let mut checks = Vec::new();
    let now: BTreeSet<String> = dir.files.iter().map(|f| f.file_name()).collect();
    let base_newest =
        dir.files.iter().filter(|f| branch.in_base.contains(&f.file_name())).map(|f| f.version.clone()).max();
    let version = |name: &str| name.split('_').next().unwrap_or(name).to_string();
    for name in &branch.in_base {
        let how = if !now.contains(name) {
            "deletes it"
        } else if branch.modified.contains(name) {
            "edits it"
        } else {
            continue;
        };
        checks.push(
            Check::new(
                format!("branch.edited.{}", version(name)),
                "no merged migration is edited after merge",
                Status::Fail,
            )
            .value(name)
            .detail(format!(
                "{name} is in {} (merged), and this branch {how}: a database that ran it will not run it again \
                     (supabase db push skips versions in its history), so the change would never reach production; \
                     keep the file as {} has it and put the change in a new migration",
                branch.base, branch.base
            )),
        );
    }
    let added: Vec<_> = dir.files.iter().filter(|f| !branch.in_base.contains(&f.file_name())).collect();
    let mut first = None;
    for f in &added {
        match &base_newest {
            Some(newest) if f.version <= *newest => checks.push(
                Check::new(
                    format!("branch.out_of_order.{}", f.version),
                    "added migrations come after the base's",
                    Status::Fail,
                )
                .value(f.file_name())
                .detail(format!(
                    "{} is added with a version older than {newest}, the newest migration in {}: `supabase db push` \
                         stops (\"Found local migration files to be inserted before the last migration on remote \
                         database\") unless run with --include-all, and then runs it after newer ones; rename it to a \
                         version after {newest} (`supabase migration new` does)",
                    f.file_name(),
                    branch.base
                )),
            ),
            _ => {
                first.get_or_insert_with(|| f.version.clone());
            }
        }
    }
    let names: Vec<String> = added.iter().map(|f| f.file_name()).collect();
    checks.insert(
        0,
        Check::new("branch.base", "the migrations this branch adds", Status::Info)
            .value(format!("{} (merge base {}): {} added", branch.base, branch.merge_base, added.len()))
            .detail(if names.is_empty() { "none".to_string() } else { names.join("\n") }),
    );
    (first, checks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::MigrationFile;

    fn dir(names: &[&str]) -> MigrationDir {
        let files = names
            .iter()
            .map(|n| MigrationFile {
                version: n.split('_').next().unwrap_or(n).to_string(),
                path: n.into(),
                ..MigrationFile::default()
            })
            .collect();
        MigrationDir { files, ..MigrationDir::default() }
    }

    #[test]
    fn what_the_branch_adds_is_pending_and_edits_of_merged_files_fail() {
        let branch = |base: &[&str], modified: &[&str]| Branch {
            base: "origin/main".into(),
            merge_base: "abc".into(),
            in_base: base.iter().map(|s| s.to_string()).collect(),
            modified: modified.iter().map(|s| s.to_string()).collect(),
        };
        let ids = |checks: &[Check]| checks.iter().skip(1).map(|c| c.id.clone()).collect::<Vec<_>>();
        type Case<'a> = (&'a [&'a str], &'a [&'a str], &'a [&'a str], Option<&'a str>, &'a [&'a str]);
        let cases: &[Case] = &[
            // (base, modified, now, first pending, failed checks)
            (&["1_a.sql"], &[], &["1_a.sql", "2_b.sql", "3_c.sql"], Some("2"), &[]),
            (&["1_a.sql", "2_b.sql"], &[], &["1_a.sql", "2_b.sql"], None, &[]),
            (
                &["1_a.sql", "2_b.sql"],
                &["1_a.sql"],
                &["1_a.sql", "2_b.sql", "3_c.sql"],
                Some("3"),
                &["branch.edited.1"],
            ),
            (&["1_a.sql", "2_b.sql"], &[], &["2_b.sql"], None, &["branch.edited.1"]),
            (
                &["1_a.sql", "3_c.sql"],
                &[],
                &["1_a.sql", "2_b.sql", "3_c.sql", "4_d.sql"],
                Some("4"),
                &["branch.out_of_order.2"],
            ),
        ];
        for (base, modified, now, first, failed) in cases {
            let (got, checks) = judge(&branch(base, modified), &dir(now));
            assert_eq!(got.as_deref(), *first, "{now:?}");
            assert_eq!(ids(&checks), *failed, "{now:?}");
            assert_eq!(checks[0].id, "branch.base");
        }
        let (_, checks) = judge(&branch(&["1_a.sql"], &["1_a.sql"]), &dir(&["1_a.sql"]));
        let d = checks[1].detail.clone().unwrap_or_default();
        assert!(d.starts_with("1_a.sql is in origin/main (merged), and this branch edits it"), "{d}");
    }
}
