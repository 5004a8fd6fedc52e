//! Judging the workload's requests file by file: requests, p50/p99/max latency, errors by
//! SQLSTATE; a file during which any request stalled longer than `--max-blocking` fails. And
//! the plot: request latency over time with the files as bands (SVG). Pure.

use std::{collections::BTreeMap, fmt::Write, time::Duration};

use super::workload::Sample;
use crate::report::{Check, Status};

/// When a pending file ran, since the workload began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub version: String,
    pub file: String,
    pub from: Duration,
    pub to: Duration,
}

/// The file a request belongs to: the one it overlapped most (a request that waits on a file's
/// lock spends its wait inside that file's run, whatever the next file does when it returns).
fn owner(s: &Sample, windows: &[Window]) -> Option<usize> {
    let end = s.at + s.took;
    let overlap = |w: &Window| w.to.min(end).saturating_sub(w.from.max(s.at));
    let (i, best) = windows.iter().enumerate().max_by_key(|(_, w)| overlap(w))?;
    // A request shorter than a millisecond inside one window overlaps it by less than a tick.
    (overlap(best) > Duration::ZERO || (best.from..best.to).contains(&s.at)).then_some(i)
}

/// The requests that belong to window `i`, each with its latency less the time the tracer's
/// second session spent probing meanwhile (`probes`: production has no tracer).
fn during(samples: &[Sample], windows: &[Window], i: usize, probes: &[(Duration, Duration)]) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| owner(s, windows) == Some(i))
        .map(|s| {
            let end = s.at + s.took;
            let probing: Duration = probes.iter().map(|(a, b)| (*b).min(end).saturating_sub((*a).max(s.at))).sum();
            Sample { took: s.took.saturating_sub(probing), ..s.clone() }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One check per file: `rehearse.latency.<version>`.
pub fn judge(
    samples: &[Sample],
    windows: &[Window],
    probes: &[(Duration, Duration)],
    max_blocking: Duration,
) -> Vec<Check> {
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let hit = during(samples, windows, i, probes);
            let check = Check::new(
                format!("rehearse.latency.{}", w.version),
                format!("the app's requests during {} stay under --max-blocking", w.file),
                Status::Pass,
            );
            let ran = w.to.saturating_sub(w.from);
            if hit.is_empty() {
                return Check { status: Status::Info, ..check }.value("no request").detail(format!(
                    "the file ran for {} ms, shorter than one request's turn: nothing was measured",
                    ran.as_millis()
                ));
            }
            let mut took: Vec<Duration> = hit.iter().map(|s| s.took).collect();
            took.sort();
            let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
            for s in &hit {
                if let Some(e) = &s.error {
                    *errors.entry(e.as_str()).or_default() += 1;
                }
            }
            let max = *took.last().unwrap_or(&Duration::ZERO);
            let worst = hit.iter().max_by_key(|s| s.took).map(|s| s.what).unwrap_or("request");
            let value = format!(
                "{} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                hit.len(),
                percentile(&took, 0.5).as_secs_f64() * 1000.0,
                percentile(&took, 0.99).as_secs_f64() * 1000.0,
                max.as_secs_f64() * 1000.0
            );
            let errs: Vec<String> = errors.iter().map(|(c, n)| format!("{n} × {c}")).collect();
            let mut detail = format!("while the file ran ({:.2} s)", ran.as_secs_f64());
            if !errs.is_empty() {
                let _ = write!(detail, "; errors by SQLSTATE: {}", errs.join(", "));
            }
            let stalled = max > max_blocking || errors.keys().any(|c| matches!(*c, "57014" | "55P03" | "40P01"));
            if stalled {
                let _ = write!(
                    detail,
                    "\nthe worst stall: a signed-in user's {worst} waited {:.1} s (budget --max-blocking {:.1} s)",
                    max.as_secs_f64(),
                    max_blocking.as_secs_f64()
                );
            }
            Check { status: if stalled { Status::Fail } else { Status::Pass }, ..check }.value(value).detail(detail)
        })
        .collect()
}

/// Request latency over time (one dot per request, errors in red), the files as bands.
pub fn svg(samples: &[Sample], windows: &[Window]) -> String {
    let (w, h, left, bottom) = (900.0, 320.0, 60.0, 40.0);
    let end = windows.iter().map(|w| w.to).chain(samples.iter().map(|s| s.at + s.took)).max().unwrap_or_default();
    let end = end.as_secs_f64().max(0.001);
    let top_ms = samples.iter().map(|s| s.took.as_secs_f64() * 1000.0).fold(1.0, f64::max) * 1.1;
    let x = |t: f64| left + (w - left - 10.0) * t / end;
    let y = |ms: f64| (h - bottom) - (h - bottom - 10.0) * ms / top_ms;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"10\">\n"
    );
    for (i, win) in windows.iter().enumerate() {
        let (x0, x1) = (x(win.from.as_secs_f64()), x(win.to.as_secs_f64()));
        let fill = if i % 2 == 0 { "#e8eef8" } else { "#f4f4f4" };
        let _ = writeln!(
            out,
            "<rect x=\"{x0:.1}\" y=\"10\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\"><title>{}</title></rect>",
            (x1 - x0).max(0.5),
            h - bottom - 10.0,
            win.file
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{}</text>",
            x0 + 2.0,
            h - bottom + 12.0 + 10.0 * (i % 2) as f64,
            &win.version[win.version.len().saturating_sub(4)..]
        );
    }
    for s in samples {
        let color = if s.error.is_some() { "#c00" } else { "#1f5fbf" };
        let _ = writeln!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"1.6\" fill=\"{color}\"/>",
            x(s.at.as_secs_f64()),
            y(s.took.as_secs_f64() * 1000.0)
        );
    }
    let _ = writeln!(
        out,
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#000\"/>",
        h - bottom,
        w - 10.0,
        h - bottom
    );
    let _ = writeln!(out, "<line x1=\"{left}\" y1=\"10\" x2=\"{left}\" y2=\"{:.1}\" stroke=\"#000\"/>", h - bottom);
    let _ =
        writeln!(out, "<text x=\"4\" y=\"16\">{top_ms:.0} ms</text><text x=\"4\" y=\"{:.1}\">0 ms</text>", h - bottom);
    let _ = writeln!(out, "<text x=\"{:.1}\" y=\"{:.1}\">{end:.1} s</text>", w - 50.0, h - 4.0);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn sample(at: u64, took: u64, error: Option<&str>) -> Sample {
        Sample { at: ms(at), took: ms(took), error: error.map(str::to_string), what: "edit" }
    }

    fn window(version: &str, from: u64, to: u64) -> Window {
        Window { version: version.into(), file: format!("{version}_f.sql"), from: ms(from), to: ms(to) }
    }

    #[test]
    fn a_file_that_stalls_a_request_fails_and_a_quiet_one_passes() {
        let samples = [
            sample(0, 2, None),
            sample(50, 3, None),
            sample(120, 9_000, Some("57014")),
            sample(9_200, 2, None),
            sample(9_300, 4, None),
        ];
        let windows =
            [window("1", 0, 100), window("2", 110, 9_150), window("3", 9_150, 9_400), window("4", 9_400, 9_401)];
        let checks = judge(&samples, &windows, &[], ms(1_000));
        let status: Vec<(String, Status)> = checks.iter().map(|c| (c.id.clone(), c.status)).collect();
        assert_eq!(
            status,
            [
                ("rehearse.latency.1".to_string(), Status::Pass),
                ("rehearse.latency.2".to_string(), Status::Fail),
                ("rehearse.latency.3".to_string(), Status::Pass),
                ("rehearse.latency.4".to_string(), Status::Info),
            ]
        );
        assert_eq!(checks[0].value.as_deref(), Some("2 requests, p50 3.0 ms, p99 3.0 ms, max 3.0 ms"));
        let d = checks[1].detail.clone().unwrap_or_default();
        assert!(d.contains("1 × 57014") && d.contains("waited 9.0 s"), "{d}");
    }

    #[test]
    fn time_the_tracer_spent_probing_is_not_the_apps_wait() {
        // A 1.2 s request of which 1 s overlapped the tracer's probes: 0.2 s is what a user feels.
        let checks = judge(&[sample(0, 1_200, None)], &[window("1", 0, 1_300)], &[(ms(100), ms(1_100))], ms(1_000));
        assert_eq!(checks[0].status, Status::Pass);
        assert_eq!(checks[0].value.as_deref(), Some("1 requests, p50 200.0 ms, p99 200.0 ms, max 200.0 ms"));
    }

    #[test]
    fn the_plot_has_a_band_per_file_and_a_dot_per_request() {
        let text = svg(&[sample(0, 2, None), sample(10, 30, Some("55P03"))], &[window("1", 0, 5), window("2", 5, 40)]);
        assert_eq!(text.matches("<rect").count(), 2);
        assert_eq!(text.matches("<circle").count(), 2);
        assert_eq!(text.matches("#c00").count(), 1);
    }
}
