//! The record of a push or rollback, written into the project (`supabase/migration-log/`) for
//! review in a pull request: when, who, the target (redacted), the versions, and the whole
//! report — backup, per-file durations, lock-timeout attempts, backfill rows, verification — as
//! Markdown and as JSON. The runbook's "update the validation document", written by the tool.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::{
    production::{Target, TargetIdentity},
    report::{markdown::markdown, Report},
};

/// `--log-dir`, else `<supabase-dir>/migration-log`.
pub fn log_dir(flag: Option<&Path>, supabase_dir: &Path) -> PathBuf {
    flag.map_or_else(|| supabase_dir.join("migration-log"), Path::to_path_buf)
}

/// Who ran it: git's user, else the login name.
fn who() -> String {
    let git = |key: &str| {
        std::process::Command::new("git")
            .args(["config", key])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    match (git("user.name"), git("user.email")) {
        (Some(n), Some(e)) => format!("{n} <{e}>"),
        (Some(n), None) => n,
        _ => std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_else(|_| "unknown".into()),
    }
}

/// The versions the report applied or rolled back (`<command>.apply.<version>`), in order.
fn versions(report: &Report) -> Vec<String> {
    let mut v: Vec<String> = report
        .checks
        .iter()
        .filter_map(|c| c.id.strip_prefix("push.apply.").or_else(|| c.id.strip_prefix("rollback.apply.")))
        .map(str::to_string)
        .collect();
    v.dedup();
    v
}

/// Writes the record of a run that reached `target` (an error ends up in it too), then says
/// where as check `<id>`; a record that cannot be written is a warning, never the run's failure.
pub fn keep(log_dir: &Path, report: &mut Report, target: &Target, id: &str, result: &anyhow::Result<()>) {
    if let Err(e) = result {
        report.stopped_by(e);
    }
    let check = crate::report::Check::new(id, "the record of this run, in the project", crate::report::Status::Info);
    match write(log_dir, report, target) {
        Ok(path) => report.push(check.value(path.display())),
        Err(e) => report.push(
            crate::report::Check { status: crate::report::Status::Warn, ..check }
                .detail(format!("{e:#}; the report above is all there is of this run")),
        ),
    }
}

/// `_<first>-<last>`, `_<only>`, or nothing: the versions part of a record's name.
fn span(versions: &[String]) -> String {
    match (versions.first(), versions.last()) {
        (Some(a), Some(b)) if a == b => format!("_{a}"),
        (Some(a), Some(b)) => format!("_{a}-{b}"),
        _ => String::new(),
    }
}

/// Writes `<log_dir>/<UTC>_<command>[_<first>-<last>].md` and `.json`; the Markdown file's path.
pub fn write(log_dir: &Path, report: &Report, target: &Target) -> anyhow::Result<PathBuf> {
    let now = chrono::Utc::now();
    let versions = versions(report);
    let command = report.command.trim_start_matches("db-");
    let span = span(&versions);
    let dir = log_dir.to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!("{}_{command}{span}", now.format("%Y%m%dT%H%M%SZ"));
    let preamble = [
        format!("when: {}", now.format("%Y-%m-%d %H:%M:%S UTC")),
        format!("who: {}", who()),
        format!("target: {}", target.describe()),
        format!("database: {}", target.known_identity().map_or("never reached".to_string(), TargetIdentity::to_string)),
        format!("versions: {}", if versions.is_empty() { "none".to_string() } else { versions.join(", ") }),
    ];
    let md = dir.join(format!("{stem}.md"));
    std::fs::write(&md, markdown(report, &format!("{} record", report.command), &preamble))
        .with_context(|| format!("writing {}", md.display()))?;
    let json = serde_json::json!({
        "when": now, "who": who(), "target": target.describe(), "identity": target.known_identity(),
        "versions": versions, "report": report,
    });
    let path = dir.join(format!("{stem}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(md)
}

/// Adds `report` (a watch after a push of `versions`) to the newest push record of those versions
/// made on this same database in `log_dir`, Markdown and JSON; with no such record, writes one of
/// its own. The Markdown file's path.
pub fn append(log_dir: &Path, versions: &[String], report: &Report, target: &Target) -> anyhow::Result<PathBuf> {
    if versions.is_empty() {
        return write(log_dir, report, target);
    }
    let span = format!("_push{}", span(versions));
    let newest = std::fs::read_dir(log_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| p.file_stem().and_then(|s| s.to_str()).is_some_and(|s| s.ends_with(&span)))
        .filter(|p| target.known_identity().is_some_and(|ours| recorded_identity(p).is_some_and(|i| i.same_as(ours))))
        .max();
    let Some(md) = newest else { return write(log_dir, report, target) };
    let now = chrono::Utc::now();
    let preamble = [format!("when: {}", now.format("%Y-%m-%d %H:%M:%S UTC")), format!("who: {}", who())];
    let mut text = std::fs::read_to_string(&md).with_context(|| format!("reading {}", md.display()))?;
    text.push_str("\n---\n\n");
    text.push_str(&markdown(report, &format!("{} after this push", report.command), &preamble));
    std::fs::write(&md, text).with_context(|| format!("writing {}", md.display()))?;
    let json_path = md.with_extension("json");
    if let Ok(old) = std::fs::read_to_string(&json_path) {
        let mut json: serde_json::Value =
            serde_json::from_str(&old).with_context(|| format!("reading {}", json_path.display()))?;
        let entry = serde_json::json!({ "when": now, "who": who(), "report": report });
        match json.get_mut("watches").and_then(|w| w.as_array_mut()) {
            Some(list) => list.push(entry),
            None => json["watches"] = serde_json::json!([entry]),
        }
        std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
            .with_context(|| format!("writing {}", json_path.display()))?;
    }
    Ok(md)
}

/// The database a record (by its Markdown path) says it was made on, from its JSON twin.
fn recorded_identity(md: &Path) -> Option<TargetIdentity> {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(md.with_extension("json")).ok()?).ok()?;
    serde_json::from_value(json.get("identity")?.clone()).ok()
}
