//! The TAP a pgTAP file prints (`1..N`, `ok N - …`, `not ok N - …`, `# …`), read into facts and
//! judged: every failing assertion with its number, description and diagnostics, and a plan the
//! run did not meet.

/// One assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub number: usize,
    pub ok: bool,
    pub description: String,
    /// `# TODO`: a failure that does not count.
    pub todo: bool,
    /// The `#` lines that followed it.
    pub diagnostics: Vec<String>,
}

/// What one file printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapRun {
    pub planned: Option<usize>,
    pub assertions: Vec<Assertion>,
    /// The statement that stopped the file, with the database's words.
    pub error: Option<String>,
}

impl TapRun {
    /// Reads the lines the file's statements returned, in order.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> TapRun {
        let mut run = TapRun::default();
        for line in lines.into_iter().flat_map(str::lines) {
            let line = line.trim_end();
            if let Some(n) = line.strip_prefix("1..").and_then(|n| n.split_whitespace().next()?.parse().ok()) {
                run.planned = Some(n);
            } else if let Some(rest) =
                line.strip_prefix("ok ").map(|r| (true, r)).or(line.strip_prefix("not ok ").map(|r| (false, r)))
            {
                let (ok, rest) = rest;
                let (number, text) = rest.split_once(' ').unwrap_or((rest, ""));
                let Ok(number) = number.parse() else { continue };
                let text = text.trim_start_matches("- ").trim();
                let (description, directive) = text.split_once(" # ").unwrap_or((text, ""));
                run.assertions.push(Assertion {
                    number,
                    ok,
                    description: description.to_string(),
                    todo: directive.to_ascii_uppercase().starts_with("TODO"),
                    diagnostics: Vec::new(),
                });
            } else if let Some(diag) = line.strip_prefix('#') {
                if let Some(last) = run.assertions.last_mut() {
                    last.diagnostics.push(diag.trim().to_string());
                }
            }
        }
        run
    }

    /// What is wrong with the run, one sentence each: failed assertions, a plan not met, an error.
    pub fn problems(&self, file: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .assertions
            .iter()
            .filter(|a| !a.ok && !a.todo)
            .map(|a| {
                let mut line = format!("{file}: not ok {} - {}", a.number, a.description);
                let diags: Vec<&String> = a.diagnostics.iter().filter(|d| !d.starts_with("Looks like")).collect();
                if !diags.is_empty() {
                    line.push_str(&format!(" ({})", diags.iter().map(|d| d.as_str()).collect::<Vec<_>>().join("; ")));
                }
                line
            })
            .collect();
        if let Some(error) = &self.error {
            out.push(format!("{file}: stopped by an error after {} assertion(s): {error}", self.assertions.len()));
        }
        match self.planned {
            Some(n) if n != self.assertions.len() => {
                out.push(format!("{file}: planned {n} assertion(s) but ran {}", self.assertions.len()))
            }
            None if self.error.is_none() => out.push(format!("{file}: no plan (call plan(n) or finish())")),
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lines: &[&str], expected: &[&str]) {
        let run = TapRun::parse(lines.iter().copied());
        assert_eq!(run.problems("t.sql"), expected, "{run:#?}");
    }

    #[test]
    fn failures_plans_and_diagnostics_are_read_as_pgtap_prints_them() {
        check(&["1..2", "ok 1 - schema exists", "ok 2"], &[]);
        check(
            &[
                "1..2",
                "ok 1 - a",
                "not ok 2 - owners only\n#   Failed test 2: \"owners only\"\n#         have: 3\n#         want: 1",
            ],
            &["t.sql: not ok 2 - owners only (Failed test 2: \"owners only\"; have: 3; want: 1)"],
        );
        check(&["1..3", "ok 1 - a", "ok 2 - b"], &["t.sql: planned 3 assertion(s) but ran 2"]);
        check(&["ok 1 - a"], &["t.sql: no plan (call plan(n) or finish())"]);
        check(&["1..1", "not ok 1 - later # TODO not built yet"], &[]);
        // finish() prints the plan last.
        check(&["ok 1 - a", "1..1"], &[]);
    }

    #[test]
    fn an_error_stops_the_file_and_is_said() {
        let mut run = TapRun::parse(["1..2", "ok 1 - a"]);
        run.error = Some("line 9: ERROR 42501: permission denied".into());
        assert_eq!(
            run.problems("t.sql"),
            [
                "t.sql: stopped by an error after 1 assertion(s): line 9: ERROR 42501: permission denied",
                "t.sql: planned 2 assertion(s) but ran 1"
            ]
        );
    }
}
