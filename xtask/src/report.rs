//! The one report every command produces: checks with stable ids, phase timings, the backend and
//! the outcome; printed for people as it grows and written as JSON with `--json PATH`.

pub mod check_ids;
pub mod formats;
pub mod markdown;
pub mod render;
pub mod suppress;

use std::{
    io::Write as _,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::Context;
use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use render::Colors;

/// The check whose value (`N of M tables exercised`) the verdict line carries first.
pub const COVERAGE: &str = "proof.coverage";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Warn,
    Info,
    Skip,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable id, e.g. `pre.orphaned_messages` or `runner.apply_pending`.
    pub id: String,
    pub title: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The file and line it is about, when it is about one (annotations, code quality).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// A place in a project file: its path as the command was given it, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub path: String,
    pub line: usize,
    pub column: usize,
}

impl Check {
    pub fn new(id: impl Into<String>, title: impl Into<String>, status: Status) -> Check {
        Check { id: id.into(), title: title.into(), status, value: None, detail: None, location: None }
    }
    /// The file and line the check is about; a path under `$GITHUB_WORKSPACE` is made relative
    /// to it, as GitHub's annotations need.
    pub fn at(mut self, path: impl AsRef<Path>, line: usize, column: usize) -> Check {
        let path = path.as_ref();
        let relative = std::env::var_os("GITHUB_WORKSPACE")
            .and_then(|w| path.strip_prefix(w).ok().map(Path::to_path_buf))
            .unwrap_or_else(|| path.to_path_buf());
        self.location = Some(Location { path: relative.to_string_lossy().replace('\\', "/"), line, column });
        self
    }
    pub fn value(mut self, value: impl ToString) -> Check {
        self.value = Some(value.to_string());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Check {
        let detail = detail.into();
        self.detail = (!detail.is_empty()).then_some(detail);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    pub name: String,
    pub millis: u128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub command: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    pub checks: Vec<Check>,
    pub phases: Vec<Phase>,
    pub outcome: Outcome,
    /// Set when the command stopped on an environment or usage error (exit 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub total_millis: u128,
    /// How the report is printed at the end (`--format`), handed down from the command line.
    #[serde(skip)]
    pub format: formats::Format,
    /// The access matrix as text, when the command computed one (`db-rls --matrix PATH`).
    #[serde(skip)]
    pub rendered_matrix: Option<String>,
    /// `-- xtask:ignore <check-id> <reason>` comments of the files this command read.
    #[serde(skip)]
    pub suppressions: Vec<suppress::Suppression>,
    #[serde(skip)]
    started: Option<Instant>,
    #[serde(skip)]
    quiet: bool,
}

impl Report {
    pub fn new(command: &str) -> Report {
        Report {
            command: command.to_string(),
            backend: None,
            checks: Vec::new(),
            phases: Vec::new(),
            outcome: Outcome::Pass,
            error: None,
            total_millis: 0,
            rendered_matrix: None,
            suppressions: Vec::new(),
            format: formats::Format::default(),
            started: Some(Instant::now()),
            quiet: false,
        }
    }

    /// A report that records but prints nothing (used by tests and nested runs).
    pub fn quiet(command: &str) -> Report {
        Report { quiet: true, ..Report::new(command) }
    }

    /// A line for people, not a check (e.g. which backend was chosen and why).
    pub fn note(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{} {}", style("::").dim(), line.as_ref());
        }
    }

    pub fn push(&mut self, check: Check) {
        if check.status == Status::Fail {
            self.outcome = Outcome::Fail;
        }
        if !self.quiet {
            // As the sealed report will say it: a silenced finding streams as silenced.
            let shown = suppress::silenced(&check, &self.suppressions).map(|(_, c)| c);
            let shown = shown.as_ref().unwrap_or(&check);
            // Another --format owns stdout: the checks go to stderr as they happen.
            if self.format == formats::Format::Human {
                let colors = if console::Term::stdout().is_term() { Colors::On } else { Colors::Off };
                let _ = render::check(&mut std::io::stdout().lock(), shown, colors);
            } else {
                let colors = if console::Term::stderr().is_term() { Colors::On } else { Colors::Off };
                let _ = render::check(&mut std::io::stderr().lock(), shown, colors);
            }
        }
        self.checks.push(check);
    }

    /// Reads the `-- xtask:ignore` comments of `files` (the pending migrations): they apply when
    /// the report is sealed.
    /// The `-- xtask:ignore` silences of a file (its name, path and text).
    pub fn silences_from(&mut self, file_name: &str, path: &std::path::Path, text: &str) {
        self.suppressions.extend(suppress::parse(file_name, path, text));
    }

    pub fn extend(&mut self, checks: impl IntoIterator<Item = Check>) {
        for check in checks {
            self.push(check);
        }
    }

    /// Records that the command stopped on `error` (the caller exits 2).
    pub fn stopped_by(&mut self, error: &anyhow::Error) {
        self.outcome = Outcome::Fail;
        self.error = Some(format!("{error:#}"));
    }

    /// After checks were re-judged (a static finding dismissed by the database): a roll-up that
    /// failed only on children that fail no more fails no more, and the outcome follows.
    pub fn reseal_roll_ups(&mut self) {
        let ids: Vec<(String, Status)> = self.checks.iter().map(|c| (c.id.clone(), c.status)).collect();
        let child_of = |parent: &str, id: &str| id.strip_prefix(parent).is_some_and(|rest| rest.starts_with('.'));
        for check in self.checks.iter_mut().filter(|c| c.status == Status::Fail) {
            let children: Vec<&(String, Status)> = ids.iter().filter(|(id, _)| child_of(&check.id, id)).collect();
            if !children.is_empty() && children.iter().all(|(_, s)| *s != Status::Fail) {
                check.status = Status::Info;
                let original = check.detail.take().unwrap_or_default();
                check.detail = Some(
                    format!("failed only on findings that fail no more (dismissed by the database)\n{original}")
                        .trim_end()
                        .to_string(),
                );
            }
        }
        let failed = self.checks.iter().any(|c| c.status == Status::Fail) || self.error.is_some();
        self.outcome = if failed { Outcome::Fail } else { Outcome::Pass };
    }

    pub fn failed(&self) -> bool {
        self.outcome == Outcome::Fail
    }

    pub fn check(&self, id: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Starts a named phase with a spinner; call `done` on the returned guard to record its time.
    pub fn phase(&self, name: &str) -> PhaseTimer {
        let spinner = if self.quiet || !console::Term::stderr().is_term() {
            ProgressBar::hidden()
        } else {
            let pb = ProgressBar::new_spinner();
            pb.set_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.set_message(name.to_string());
            pb.enable_steady_tick(Duration::from_millis(100));
            pb
        };
        PhaseTimer { name: name.to_string(), started: Instant::now(), spinner }
    }

    pub fn record(&mut self, timer: PhaseTimer) -> Duration {
        timer.spinner.finish_and_clear();
        let elapsed = timer.started.elapsed();
        self.phases.push(Phase { name: timer.name, millis: elapsed.as_millis() });
        elapsed
    }

    /// Seals the report: total time, then the summary line and the JSON file if asked for.
    pub fn finish(&mut self, json: Option<&Path>) -> anyhow::Result<()> {
        let suppressions = std::mem::take(&mut self.suppressions);
        suppress::apply(self, &suppressions);
        if let Some(started) = self.started {
            self.total_millis = started.elapsed().as_millis();
        }
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(&self.json())?;
            std::fs::write(path, text + "\n")
                .with_context(|| format!("writing the JSON report to {}", path.display()))?;
        }
        if !self.quiet {
            self.print_where_people_look()?;
        }
        Ok(())
    }

    /// The report as its `--json` file says it: a run an environment or usage error stopped
    /// (exit 2) has `"outcome": "error"`, not `"fail"`.
    pub fn json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if self.error.is_some() {
            value["outcome"] = serde_json::Value::String("error".into());
        }
        value
    }

    /// The summary line, the `--format` rendering, and in GitHub Actions the step summary and
    /// the annotations.
    fn print_where_people_look(&self) -> anyhow::Result<()> {
        let format = self.format;
        match formats::render(self, format) {
            None => {
                let colors = if console::Term::stdout().is_term() { Colors::On } else { Colors::Off };
                let _ = render::summary(&mut std::io::stdout().lock(), self, colors);
                if std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
                    print!("{}", formats::github(self));
                }
            }
            Some(text) => {
                let colors = if console::Term::stderr().is_term() { Colors::On } else { Colors::Off };
                let _ = render::summary(&mut std::io::stderr().lock(), self, colors);
                print!("{text}");
            }
        }
        let _ = std::io::stdout().flush();
        if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
            let md = markdown::markdown(self, &format!("{} report", self.command), &[]);
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening $GITHUB_STEP_SUMMARY ({})", Path::new(&path).display()))?;
            file.write_all(md.as_bytes()).context("writing $GITHUB_STEP_SUMMARY")?;
        }
        Ok(())
    }
}

/// Runs a command's steps into a fresh report, then seals it (summary line, `--json` file). An
/// error still produces the report, marked as stopped; the caller maps it to exit status 2.
pub async fn run_command(
    command: &str,
    json: Option<&Path>,
    format: formats::Format,
    steps: impl AsyncFnOnce(&mut Report) -> anyhow::Result<()>,
) -> anyhow::Result<Outcome> {
    let mut report = Report { format, ..Report::new(command) };
    let result = steps(&mut report).await;
    if let Err(e) = &result {
        report.stopped_by(e);
    }
    report.finish(json)?;
    result.map(|()| report.outcome)
}

pub struct PhaseTimer {
    name: String,
    started: Instant,
    spinner: ProgressBar,
}

impl PhaseTimer {
    pub fn set_message(&self, msg: impl Into<String>) {
        self.spinner.set_message(format!("{}: {}", self.name, msg.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_outcome_of_a_stopped_run_is_error() {
        let mut report = Report::quiet("db-x");
        report.push(Check::new("lint.x", "x", Status::Fail));
        assert_eq!(report.json()["outcome"], "fail");
        report.stopped_by(&anyhow::anyhow!("no Postgres"));
        assert_eq!(report.json()["outcome"], "error", "exit 2 is an error, not a failed check");
        assert_eq!(report.json()["checks"][0]["id"], "lint.x", "the finding before it is kept");
    }
}
