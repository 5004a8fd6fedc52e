//! Linked mode around batched backfills: the supabase CLI pushes what comes before a backfill
//! file (from a staging copy of the project that holds only those migrations), our runner runs
//! the backfill in batches over the SQL connection and writes its history row as the CLI would,
//! and the CLI pushes the rest. Without a backfill file, one `supabase db push`, as before.

use std::path::Path;

use anyhow::Context;

use crate::{
    production::Target,
    report::{Check, Report, Status},
    runner::{self, backfill::Backfill, MigrationFile},
    supabase::cli::{copy_tree, SupabaseCli},
};

/// One step of a linked push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// `supabase db push` of the project's migrations up to and including `through` (all when
    /// `None`).
    Cli { through: Option<String> },
    /// A backfill file, through our runner.
    Backfill(String),
}

/// The stages for `files` (the pending migrations, in order): pure.
pub fn stages(files: &[MigrationFile]) -> Vec<Stage> {
    let mut stages = Vec::new();
    let mut before: Option<String> = None;
    for (i, file) in files.iter().enumerate() {
        if Backfill::of(&file.text).is_some() {
            if let Some(v) = before.take() {
                stages.push(Stage::Cli { through: Some(v) });
            }
            stages.push(Stage::Backfill(file.version.clone()));
        } else {
            before = Some(file.version.clone());
        }
        if i + 1 == files.len() && before.is_some() {
            stages.push(Stage::Cli { through: None });
        }
    }
    if stages.is_empty() {
        stages.push(Stage::Cli { through: None });
    }
    stages
}

/// Runs the stages; false at the first that fails (a failed check says which and what stayed).
pub async fn push(
    dir: &Path,
    target: &Target,
    files: &[MigrationFile],
    lock_timeout: std::time::Duration,
    run: runner::Run<'_>,
    report: &mut Report,
) -> anyhow::Result<bool> {
    let stages = stages(files);
    if stages == [Stage::Cli { through: None }] {
        return Ok(cli_stage(dir, "push.apply", "supabase db push", report));
    }
    report.note(format!(
        "{} batched backfill(s) among the files: the supabase CLI pushes around them, our runner runs them",
        stages.iter().filter(|s| matches!(s, Stage::Backfill(_))).count()
    ));
    for (n, stage) in stages.iter().enumerate() {
        let ok = match stage {
            Stage::Cli { through: None } => {
                cli_stage(dir, &format!("push.stage.{}", n + 1), "supabase db push", report)
            }
            Stage::Cli { through: Some(v) } => {
                let staging = staging_copy(dir, v)?;
                let title = format!("supabase db push, migrations through {v}");
                cli_stage(&staging.path().join("supabase"), &format!("push.stage.{}", n + 1), &title, report)
            }
            Stage::Backfill(v) => {
                let Some(file) = files.iter().find(|f| &f.version == v) else { continue };
                backfill_stage(target, file, lock_timeout, run, report).await?
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn cli_stage(dir: &Path, id: &str, title: &str, report: &mut Report) -> bool {
    let result = SupabaseCli::new(dir).and_then(|cli| cli.push());
    let ok = result.is_ok();
    report.push(match result {
        Ok(out) => Check::new(id, title, Status::Pass).detail(out.trim().to_string()),
        Err(e) => Check::new(id, title, Status::Fail).detail(format!("{e:#}")),
    });
    ok
}

async fn backfill_stage(
    target: &Target,
    file: &MigrationFile,
    lock_timeout: std::time::Duration,
    run: runner::Run<'_>,
    report: &mut Report,
) -> anyhow::Result<bool> {
    let mut conn = target.connect_for_changes(lock_timeout).await?;
    let id = format!("push.apply.{}", file.version);
    let title = format!("{} applies (batched backfill, history row as the CLI writes it)", file.file_name());
    Ok(match runner::apply_as(&mut conn, file, run).await {
        Ok(applied) => {
            report.push(runner::applied_check(id, title, &applied));
            true
        }
        Err(e) => {
            let recorded = runner::applied_versions(&mut conn).await?.iter().any(|(v, _, _)| v == &file.version);
            report.push(runner::failed_check(id, title, &e, recorded, None));
            false
        }
    })
}

/// A copy of the project's `supabase/` folder whose `migrations/` holds only the files up to and
/// including `through`, for the CLI to push from (the link in `.temp/` comes along).
fn staging_copy(dir: &Path, through: &str) -> anyhow::Result<tempfile::TempDir> {
    let staging =
        tempfile::Builder::new().prefix("xtask-push-stage-").tempdir().context("creating a staging folder")?;
    let to = staging.path().join("supabase");
    copy_tree(dir, &to, &|rel: &Path| {
        let Ok(rest) = rel.strip_prefix("migrations") else { return true };
        let name = rest.to_string_lossy();
        let version = name.split('_').next().unwrap_or_default();
        version.is_empty() || version <= through
    })
    .with_context(|| format!("copying {} into a staging folder", dir.display()))?;
    Ok(staging)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn file(version: &str, text: &str) -> MigrationFile {
        MigrationFile { version: version.into(), name: "f".into(), path: PathBuf::new(), text: text.into() }
    }

    #[test]
    fn the_cli_pushes_around_each_backfill() {
        let plain = |v: &str| file(v, "select 1;");
        let backfill = |v: &str| file(v, "-- xtask:backfill\nupdate t set a = 1 where a is null;");
        let cli = |v: Option<&str>| Stage::Cli { through: v.map(str::to_string) };
        let cases: Vec<(Vec<MigrationFile>, Vec<Stage>)> = vec![
            (vec![plain("1"), plain("2")], vec![cli(None)]),
            (vec![plain("1"), backfill("2"), plain("3")], vec![cli(Some("1")), Stage::Backfill("2".into()), cli(None)]),
            (vec![backfill("1")], vec![Stage::Backfill("1".into())]),
            (
                vec![backfill("1"), plain("2"), backfill("3")],
                vec![Stage::Backfill("1".into()), cli(Some("2")), Stage::Backfill("3".into())],
            ),
        ];
        for (files, expected) in cases {
            assert_eq!(stages(&files), expected);
        }
    }

    #[test]
    fn the_staging_copy_holds_the_link_and_only_the_earlier_migrations() {
        let dir = tempfile::tempdir().expect("tmp");
        for (rel, text) in [
            ("migrations/1_a.sql", "a"),
            ("migrations/2_b.sql", "b"),
            ("migrations/3_c.sql", "c"),
            (".temp/project-ref", "ref"),
            ("config.toml", ""),
        ] {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let staging = staging_copy(dir.path(), "2").expect("copy");
        let root = staging.path().join("supabase");
        let mut migrations: Vec<String> = std::fs::read_dir(root.join("migrations"))
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        migrations.sort();
        assert_eq!(migrations, ["1_a.sql", "2_b.sql"]);
        assert_eq!(std::fs::read_to_string(root.join(".temp/project-ref")).expect("link"), "ref");
        assert!(root.join("config.toml").is_file());
    }
}
