//! The rehearsal's facts as text for people: the lock trace of a file and the query-speed table.

use std::{collections::BTreeMap, fmt::Write as _};

use super::{timing::Timing, trace::Traced};

pub fn trace(file_name: &str, traced: &[Traced]) -> String {
    let mut out = format!("{file_name}\n");
    for t in traced {
        let _ = writeln!(
            out,
            "  :{:<4} {:>8.1} ms  rows {:>8}  WAL {:>10} B  held {:>7.1} ms  {}",
            t.line,
            t.duration.as_secs_f64() * 1000.0,
            t.rows,
            t.wal_bytes,
            t.held.as_secs_f64() * 1000.0,
            crate::runner::excerpt(&t.sql)
        );
        if let Some(n) = t.batches {
            let _ =
                writeln!(out, "         batched backfill: {n} batch(es), each its own transaction; held = the longest");
        }
        if !t.acquired.is_empty() {
            let locks: Vec<String> = t.acquired.iter().map(|(r, m)| format!("{m} on {r}")).collect();
            let _ = writeln!(out, "         takes {}", locks.join(", "));
        }
        if !t.rewrote.is_empty() {
            let _ = writeln!(out, "         rewrites {}", t.rewrote.join(", "));
        }
        if !t.blocked.is_empty() {
            let _ = writeln!(out, "         while held, a second session could not: {}", t.blocked.join("; "));
        }
        if !t.rows_blocked.is_empty() {
            let _ = writeln!(
                out,
                "         while held, existing rows could not be updated or deleted in: {}",
                t.rows_blocked.join("; ")
            );
        }
    }
    out
}

pub fn speed(before: &BTreeMap<String, Timing>, after: &BTreeMap<String, Timing>) -> String {
    let mut out = String::from("query | before (median) | after (median) | ratio | plan before → after\n");
    for (name, b) in before {
        let Some(a) = after.get(name) else { continue };
        let ratio = b.median.as_secs_f64() / a.median.as_secs_f64().max(1e-9);
        let ratio =
            if ratio >= 1.0 { format!("{ratio:.1}x faster") } else { format!("{:.2}x slower", 1.0 / ratio.max(1e-9)) };
        let _ = writeln!(
            out,
            "{name} | {:.2} ms | {:.2} ms | {ratio} | {} → {}",
            b.median.as_secs_f64() * 1000.0,
            a.median.as_secs_f64() * 1000.0,
            b.plan,
            a.plan
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::db_rehearse::lock_mode::LockMode;

    #[test]
    fn a_trace_shows_locks_rewrites_and_what_was_blocked() {
        let t = Traced {
            line: 5,
            sql: "ALTER TABLE t ADD COLUMN b int".into(),
            duration: Duration::from_millis(2),
            rows: 0,
            wal_bytes: 120,
            rewrote: vec!["t".into()],
            acquired: vec![("t".into(), LockMode::AccessExclusive)],
            blocked: vec!["SELECT on t".into()],
            rows_blocked: vec!["t".into()],
            held: Duration::from_millis(40),
            batches: None,
        };
        let text = trace("1_a.sql", &[t]);
        assert!(text.starts_with("1_a.sql\n  :5 "), "{text}");
        for part in ["takes AccessExclusiveLock on t", "rewrites t", "could not: SELECT on t", "held    40.0 ms"] {
            assert!(text.contains(part), "{part}\n{text}");
        }
    }

    #[test]
    fn the_speed_table_has_one_row_per_query_timed_twice() {
        let t =
            |ms, plan: &str| Timing { median: Duration::from_millis(ms), plan: plan.into(), facts: Default::default() };
        let before = BTreeMap::from([("q".to_string(), t(10, "Seq Scan (m)")), ("gone".to_string(), t(1, "x"))]);
        let after = BTreeMap::from([("q".to_string(), t(5, "Index Scan (i)")), ("gone".to_string(), t(1, "x"))]);
        let slower = speed(&after, &before);
        assert!(slower.contains("q | 5.00 ms | 10.00 ms | 2.00x slower"), "{slower}");
        let after = BTreeMap::from([("q".to_string(), t(5, "Index Scan (i)"))]);
        let text = speed(&before, &after);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("q | 10.00 ms | 5.00 ms | 2.0x faster | Seq Scan (m) → Index Scan (i)"), "{text}");
    }
}
