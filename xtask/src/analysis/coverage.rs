//! What the proof exercised, as the first line of the verdict: of the project's tables after the
//! pending migrations, how many had rows to prove anything on. A table a pending migration names
//! that has no rows is a failure of the proof, not a warning buried mid-report.

use super::data_snapshot::DataSnapshot;
use crate::report::{Check, Status};

use crate::report::COVERAGE as ID;

/// `after`: the data after the pending migrations; `pending`: (file name, text) of each pending
/// migration.
pub fn judge(after: &DataSnapshot, pending: &[(String, String)]) -> Check {
    let total = after.tables.len();
    let empty: Vec<&String> = after.tables.iter().filter(|(_, t)| t.rows.is_empty()).map(|(name, _)| name).collect();
    let exercised = total - empty.len();
    let value = format!("{exercised} of {total} tables exercised");
    let check = Check::new(ID, "the proof had rows in the tables it judges", Status::Pass).value(&value);
    if total == 0 {
        return Check { status: Status::Warn, ..check }
            .detail("the project has no tables: nothing was exercised; the access proof covers storage only");
    }
    let unproven: Vec<String> = empty
        .iter()
        .filter_map(|table| {
            let file = pending.iter().find(|(_, text)| names(text, table))?;
            Some(format!("not exercised: {table}, which {} changes, has no rows", file.0))
        })
        .collect();
    let mut lines = unproven.clone();
    if !empty.is_empty() {
        lines.push(format!(
            "without rows: {} (seed them, or see data.generate for why the generator could not)",
            empty.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    let status = if !unproven.is_empty() {
        Status::Fail
    } else if exercised == 0 {
        Status::Warn
    } else {
        Status::Pass
    };
    Check { status, ..check }.detail(lines.join("\n"))
}

/// Whether a migration's text names `table` (`schema.name`, or the bare name as a word).
pub(crate) fn names(text: &str, table: &str) -> bool {
    let text = text.to_lowercase();
    let table = table.replace('"', "").to_lowercase();
    let bare = table.rsplit('.').next().unwrap_or(&table);
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(bare).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + bare.len()..].chars().next();
        !word(before) && !word(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::data_snapshot::TableData;

    fn data(tables: &[(&str, usize)]) -> DataSnapshot {
        let tables = tables
            .iter()
            .map(|(name, n)| {
                let rows = (0..*n).map(|i| (i.to_string(), String::new())).collect();
                (name.to_string(), TableData { rows, ..TableData::default() })
            })
            .collect();
        DataSnapshot { tables }
    }

    #[test]
    fn a_named_table_without_rows_fails_the_proof() {
        let file = |text: &str| vec![("20260318100001_x.sql".to_string(), text.to_string())];
        // (tables and rows, pending text, status, value)
        type Case<'a> = (&'a [(&'a str, usize)], &'a str, Status, &'a str);
        let cases: &[Case] = &[
            (&[("public.a", 2), ("public.b", 1)], "alter table public.a add c int", Status::Pass, "2 of 2"),
            (&[("public.a", 2), ("public.b", 0)], "alter table public.a add c int", Status::Pass, "1 of 2"),
            (&[("public.a", 2), ("public.b", 0)], "alter table b add c int", Status::Fail, "1 of 2"),
            (&[("public.a", 0)], "select 1", Status::Warn, "0 of 1"),
            // `b` inside another word is not the table b.
            (&[("public.a", 1), ("public.b", 0)], "alter table public.ab add c int", Status::Pass, "1 of 2"),
        ];
        for (tables, text, status, value) in cases {
            let c = judge(&data(tables), &file(text));
            assert_eq!((c.status, c.value.as_deref().unwrap_or_default().starts_with(value)), (*status, true), "{c:?}");
        }
        let c = judge(&data(&[("public.b", 0)]), &file("alter table public.b add c int"));
        assert!(c.detail.unwrap_or_default().contains("not exercised: public.b, which 20260318100001_x.sql changes"));
    }
}
