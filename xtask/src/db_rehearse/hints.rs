//! Judging a lock trace: which statements block the app longer than allowed, and what to do
//! instead. Hints are data (id, condition on the traced facts, effect, workaround, bad and good
//! example SQL in `xtask/sql/hints/`); the examples are traced by a test so each condition is
//! proven against what Postgres really locks.

use std::time::Duration;

use super::{lock_mode::LockMode, trace::Traced};
use crate::report::{Check, Status};

pub struct Hint {
    pub id: &'static str,
    /// Whether the hint explains this traced statement (facts only: its SQL and its locks).
    pub applies: fn(&Traced) -> bool,
    pub effect: &'static str,
    pub workaround: &'static str,
    pub bad: &'static str,
    pub good: &'static str,
}

fn has(t: &Traced, words: &str) -> bool {
    t.normalized_sql().contains(words)
}

fn takes(t: &Traced, mode: LockMode) -> bool {
    t.acquired.iter().any(|(_, m)| *m == mode)
}

/// Most specific first; the last one explains any lock that blocks the app.
pub const HINTS: &[Hint] = &[
    Hint {
        id: "validate-foreign-key-later",
        applies: |t| takes(t, LockMode::ShareRowExclusive) && has(t, "FOREIGN KEY") && !has(t, "NOT VALID"),
        effect: "checks every existing row while holding SHARE ROW EXCLUSIVE on both tables: their writes wait",
        workaround: "add the foreign key NOT VALID and VALIDATE CONSTRAINT it in a later file (VALIDATE takes only SHARE UPDATE EXCLUSIVE)",
        bad: include_str!("../../sql/hints/validate-foreign-key-later.bad.sql"),
        good: include_str!("../../sql/hints/validate-foreign-key-later.good.sql"),
    },
    Hint {
        id: "check-before-set-not-null",
        applies: |t| takes(t, LockMode::AccessExclusive) && has(t, "SET NOT NULL"),
        effect: "scans the whole table under ACCESS EXCLUSIVE: reads and writes wait",
        workaround: "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later file, then SET NOT NULL (it skips the scan)",
        bad: include_str!("../../sql/hints/check-before-set-not-null.bad.sql"),
        good: include_str!("../../sql/hints/check-before-set-not-null.good.sql"),
    },
    Hint {
        id: "create-index-concurrently",
        applies: |t| takes(t, LockMode::Share) && has(t, "INDEX") && !has(t, "CONCURRENTLY"),
        effect: "builds the index under SHARE: inserts, updates and deletes wait until it is done",
        workaround: "CREATE INDEX CONCURRENTLY in a file of its own (and ADD CONSTRAINT … USING INDEX for a unique key)",
        bad: include_str!("../../sql/hints/create-index-concurrently.bad.sql"),
        good: include_str!("../../sql/hints/create-index-concurrently.good.sql"),
    },
    Hint {
        id: "unique-constraint-using-index",
        applies: |t| {
            takes(t, LockMode::AccessExclusive)
                && (has(t, " UNIQUE") || has(t, "PRIMARY KEY"))
                && has(t, "ADD ")
                && !has(t, "USING INDEX")
        },
        effect: "builds the constraint's index under ACCESS EXCLUSIVE: reads and writes wait until it is done",
        workaround: "CREATE UNIQUE INDEX CONCURRENTLY in a file of its own, then ALTER TABLE … ADD CONSTRAINT … UNIQUE USING INDEX (a catalog change)",
        bad: include_str!("../../sql/hints/unique-constraint-using-index.bad.sql"),
        good: include_str!("../../sql/hints/unique-constraint-using-index.good.sql"),
    },
    Hint {
        id: "change-column-type",
        applies: |t| takes(t, LockMode::AccessExclusive) && has(t, "ALTER COLUMN") && has(t, " TYPE "),
        effect: "rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE: reads and writes wait",
        workaround: "add a column of the new type, fill new rows with a trigger, backfill in batches (-- xtask:backfill), then switch readers and drop the old column in later files",
        bad: include_str!("../../sql/hints/change-column-type.bad.sql"),
        good: include_str!("../../sql/hints/change-column-type.good.sql"),
    },
    Hint {
        id: "alter-table-alone",
        applies: |t| takes(t, LockMode::AccessExclusive) && has(t, "ALTER TABLE"),
        effect: "its ACCESS EXCLUSIVE lock lasts until the file's transaction commits, through every later statement",
        workaround: "keep the ALTER TABLE in a file of its own with only quick statements; fill new rows with a trigger and backfill in a later file",
        bad: include_str!("../../sql/hints/alter-table-alone.bad.sql"),
        good: include_str!("../../sql/hints/alter-table-alone.good.sql"),
    },
    Hint {
        id: "lock-held-too-long",
        applies: |t| t.acquired.iter().any(|(_, m)| !m.blocks().is_empty()),
        effect: "holds a lock the app's reads or writes wait for",
        workaround: "split the file so slow statements do not run while this lock is held; set lock_timeout",
        bad: include_str!("../../sql/hints/lock-held-too-long.bad.sql"),
        good: include_str!("../../sql/hints/lock-held-too-long.good.sql"),
    },
];

/// The first hint that explains `t`, if any.
pub fn hint_for(t: &Traced) -> Option<&'static Hint> {
    HINTS.iter().find(|h| (h.applies)(t))
}

/// What a hold is judged against: `--max-blocking`, and per table the rows the rehearsal had and
/// the rows the target has, when they are known (a statement's own time grows with its table).
#[derive(Debug, Clone, Default)]
pub struct Budget {
    pub max_blocking: Duration,
    /// Table (as `regclass` prints it) → (rows here, rows on the target).
    pub rows: std::collections::BTreeMap<String, (f64, f64)>,
}

impl Budget {
    pub fn flat(max_blocking: Duration) -> Budget {
        Budget { max_blocking, rows: Default::default() }
    }

    /// How long `t` would hold its locks at the target's size: its own time scaled by the
    /// largest growth among the tables it locks (the rest of its transaction as measured), and
    /// the words saying so.
    fn projected(&self, t: &Traced) -> (Duration, Option<String>) {
        let growth = t
            .acquired
            .iter()
            .filter_map(|(table, _)| self.rows.get(table).map(|&(here, there)| (table, here, there)))
            .filter(|(_, here, there)| *here > 0.0 && there > here)
            .max_by(|a, b| (a.2 / a.1).total_cmp(&(b.2 / b.1)));
        let Some((table, here, there)) = growth else { return (t.held, None) };
        let held = t.held + t.duration.mul_f64(there / here - 1.0);
        let words = format!(
            "{:.2} s on {table} at {here:.0} rows here, ≈ {:.1} s at the target's {there:.0} rows",
            t.held.as_secs_f64(),
            held.as_secs_f64()
        );
        (held, Some(words))
    }
}

/// A failed check for every lock a statement held (or would hold at the target's size) longer
/// than `--max-blocking` that blocks the app's reads or writes, with the hint that explains it.
pub fn judge(file_name: &str, version: &str, traced: &[Traced], budget: &Budget) -> Vec<Check> {
    let max_blocking = budget.max_blocking;
    let slowest = traced.iter().max_by_key(|t| t.duration).map(|t| crate::runner::excerpt(&t.sql)).unwrap_or_default();
    let mut checks = Vec::new();
    for measured in traced {
        let (held, projection) = budget.projected(measured);
        let scaled = Traced { held, ..measured.clone() };
        let t = &scaled;
        if t.held > max_blocking {
            for table in &t.rows_blocked {
                let check = row_blocking(file_name, version, t, table);
                checks.push(with_projection(check, &projection));
            }
        }
        // One finding per table a statement locks: its strongest lock there.
        let mut strongest: std::collections::BTreeMap<&str, LockMode> = std::collections::BTreeMap::new();
        for (table, mode) in &t.acquired {
            let m = strongest.entry(table.as_str()).or_insert(*mode);
            *m = (*m).max(*mode);
        }
        for (table, mode) in strongest {
            let blocks = mode.blocks();
            if blocks.is_empty() || t.held <= max_blocking {
                continue;
            }
            let ops: Vec<String> = blocks.iter().map(ToString::to_string).collect();
            let advice = match hint_for(t) {
                Some(h) => format!("{} [{}]: {}", h.effect, h.id, h.workaround),
                None => String::new(),
            };
            checks.push(with_projection(
                Check::new(
                    format!("rehearse.blocking.{version}.{}.{table}", t.line),
                    "no statement blocks the app longer than --max-blocking",
                    Status::Fail,
                )
                .value(format!("{:.1} s", t.held.as_secs_f64()))
                .detail(format!(
                    "{file_name}:{} `{}` holds {mode} on {table} for {:.1} s (until its transaction ends): it blocks {} there\n\
                     safe pattern: {advice}; the slowest statement in this transaction: `{slowest}`",
                    t.line,
                    crate::runner::excerpt(&t.sql),
                    t.held.as_secs_f64(),
                    ops.join(", "),
                )),
                &projection,
            ));
        }
    }
    checks
}

/// The projection to the target's size, first in the detail, when the verdict rests on it.
fn with_projection(check: Check, projection: &Option<String>) -> Check {
    match projection {
        Some(p) => {
            let detail = format!(
                "at the target's size: {p}: fails --max-blocking\n{}",
                check.detail.clone().unwrap_or_default()
            );
            check.detail(detail)
        }
        None => check,
    }
}

/// Row locks held past `--max-blocking`: the app's updates and deletes of existing rows wait
/// (and a signed-in user's request, under `authenticated`'s 8 s statement timeout, errors).
fn row_blocking(file_name: &str, version: &str, t: &Traced, table: &str) -> Check {
    let name = table.split(' ').next().unwrap_or(table);
    Check::new(
        format!("rehearse.row_blocking.{version}.{}.{name}", t.line),
        "no statement holds row locks the app waits on longer than --max-blocking",
        Status::Fail,
    )
    .value(format!("{:.1} s", t.held.as_secs_f64()))
    .detail(format!(
        "{file_name}:{} `{}`: updates and deletes of existing rows of {table} blocked for {:.1} s (its row locks \
         last until its transaction ends; no table lock shows them)\nsafe pattern: backfill in batches, each its \
         own short transaction (by primary key range), so no row stays locked for long",
        t.line,
        crate::runner::excerpt(&t.sql),
        t.held.as_secs_f64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_locked_past_the_budget_fail_and_name_the_table() {
        let mut t = traced("UPDATE public.notes SET a = 1", &[LockMode::RowExclusive], 5_000);
        t.rows_blocked = vec!["public.notes".into()];
        let checks = judge("f.sql", "1", &[t.clone()], &Budget::flat(Duration::from_secs(1)));
        let c = checks.iter().find(|c| c.id.starts_with("rehearse.row_blocking.")).expect("row check");
        assert_eq!(c.id, "rehearse.row_blocking.1.3.public.notes");
        assert!(c
            .detail
            .clone()
            .unwrap_or_default()
            .contains("updates and deletes of existing rows of public.notes blocked for 5.0 s"));
        assert!(judge("f.sql", "1", &[t], &Budget::flat(Duration::from_secs(10))).is_empty(), "within the budget");
    }

    fn traced(sql: &str, locks: &[LockMode], held_ms: u64) -> Traced {
        Traced {
            line: 3,
            sql: sql.to_string(),
            acquired: locks.iter().map(|m| ("notes".to_string(), *m)).collect(),
            held: Duration::from_millis(held_ms),
            duration: Duration::from_millis(held_ms),
            ..Traced::default()
        }
    }

    fn check(sql: &str, locks: &[LockMode], expected: Option<&str>) {
        assert_eq!(hint_for(&traced(sql, locks, 0)).map(|h| h.id), expected, "{sql}");
    }

    #[test]
    fn each_statement_gets_the_most_specific_hint() {
        use LockMode::*;
        check(
            "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id)",
            &[ShareRowExclusive],
            Some("validate-foreign-key-later"),
        );
        check(
            "alter table t add constraint f foreign key (a) references p (id) not valid",
            &[ShareRowExclusive],
            Some("lock-held-too-long"),
        );
        check("ALTER TABLE t ALTER COLUMN a SET NOT NULL", &[AccessExclusive], Some("check-before-set-not-null"));
        check("CREATE UNIQUE INDEX i ON t (a)", &[Share], Some("create-index-concurrently"));
        check("create index concurrently i on t (a)", &[ShareUpdateExclusive], None);
        check("ALTER TABLE t ADD COLUMN b int", &[AccessExclusive], Some("alter-table-alone"));
        check("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)", &[AccessExclusive], Some("unique-constraint-using-index"));
        check("alter table t add constraint u unique using index i", &[AccessExclusive], Some("alter-table-alone"));
        check("ALTER TABLE t ALTER COLUMN a TYPE bigint", &[AccessExclusive], Some("change-column-type"));
        check(
            "-- no need for NOT VALID here\nALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id)",
            &[ShareRowExclusive],
            Some("validate-foreign-key-later"),
        );
        check("UPDATE t SET a = 1", &[RowExclusive], None);
    }

    #[test]
    fn only_locks_that_block_and_outlast_the_limit_fail() {
        use LockMode::*;
        let limit = Duration::from_millis(100);
        let cases: &[(LockMode, u64, usize)] =
            &[(AccessExclusive, 500, 1), (AccessExclusive, 50, 0), (RowExclusive, 5_000, 0), (Share, 101, 1)];
        for &(mode, held, failures) in cases {
            let checks =
                judge("f.sql", "1", &[traced("ALTER TABLE t ADD COLUMN b int", &[mode], held)], &Budget::flat(limit));
            assert_eq!(checks.len(), failures, "{mode} held {held} ms");
        }
    }

    #[test]
    fn a_scan_that_passes_here_fails_at_the_targets_size() {
        // SET NOT NULL: 0.5 s at 5 M rows here; the target has 50 M.
        let t = traced("ALTER TABLE t ALTER COLUMN a SET NOT NULL", &[LockMode::AccessExclusive], 500);
        let limit = Duration::from_secs(1);
        assert!(
            judge("f.sql", "1", std::slice::from_ref(&t), &Budget::flat(limit)).is_empty(),
            "passes at rehearsal size"
        );
        let mut budget = Budget::flat(limit);
        budget.rows.insert("notes".into(), (5e6, 5e7));
        let checks = judge("f.sql", "1", std::slice::from_ref(&t), &budget);
        assert_eq!(checks.len(), 1, "{checks:#?}");
        let d = checks[0].detail.clone().unwrap_or_default();
        assert!(
            d.starts_with(
                "at the target's size: 0.50 s on notes at 5000000 rows here, ≈ 5.0 s at the target's 50000000 rows"
            ),
            "{d}"
        );
        budget.rows.insert("notes".into(), (5e6, 5e6));
        assert!(judge("f.sql", "1", &[t], &budget).is_empty(), "same size: as measured");
    }

    #[test]
    fn a_statement_with_two_locks_on_one_table_is_one_finding() {
        use LockMode::*;
        let t = traced(
            "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p (id)",
            &[ShareRowExclusive, AccessExclusive],
            2_000,
        );
        let checks = judge("f.sql", "1", &[t], &Budget::flat(Duration::from_secs(1)));
        assert_eq!(checks.len(), 1, "{checks:#?}");
        assert!(checks[0].detail.clone().unwrap_or_default().contains("AccessExclusiveLock on notes"));
    }

    #[test]
    fn the_detail_names_the_lock_what_it_blocks_and_the_fix() {
        let checks = judge(
            "f.sql",
            "1",
            &[traced("ALTER TABLE t ADD COLUMN b int", &[LockMode::AccessExclusive], 2_000)],
            &Budget::flat(Duration::from_secs(1)),
        );
        let detail = checks[0].detail.clone().unwrap_or_default();
        assert!(detail.contains("AccessExclusiveLock on notes") && detail.contains("SELECT, INSERT, UPDATE, DELETE"));
        assert!(detail.contains("safe pattern:") && detail.contains("[alter-table-alone]"), "{detail}");
        assert_eq!(checks[0].id, "rehearse.blocking.1.3.notes");
    }

    #[test]
    fn every_hint_has_both_examples() {
        for h in HINTS {
            assert!(!h.bad.trim().is_empty() && !h.good.trim().is_empty(), "{} lacks an example", h.id);
        }
    }
}
