//! A row a multi-column CHECK refused, adjusted: the database names the violated constraint, its
//! columns are read from the catalog, and these pure rules give the variants to try next — each
//! column filled, exactly one filled, all left NULL, values rising or falling across the columns
//! (`ends_at > starts_at`, `lo <= hi - 5`).

use uuid::Uuid;

use super::values::{ColumnFacts, Fill};

/// A row as (column, SQL literal).
pub(super) type Row = Vec<(String, String)>;

/// How far apart rising values are: numbers by this much per column…
const NUMBER_STEP: i64 = 10;
/// …times and dates by this many days.
const DAY_STEP: i64 = 1;

/// The variants of `row` to try when the CHECK over `constrained` (column names as in the row,
/// quoted as needed) refused it; the first that the database accepts is kept.
pub(super) fn variants(row: &Row, columns: &[ColumnFacts], constrained: &[String], user: Uuid, n: usize) -> Vec<Row> {
    let facts: Vec<&ColumnFacts> =
        constrained.iter().filter_map(|c| columns.iter().find(|f| &f.name == c && !f.computed)).collect();
    if facts.is_empty() {
        return Vec::new();
    }
    let forced: Vec<(String, String)> = facts.iter().map(|f| (f.name.clone(), forced_value(f, row, user, n))).collect();
    let mut out = vec![with(row, &forced)];
    // Exactly one of them (`num_nonnulls(a, b) = 1`), where the others may be NULL.
    if facts.len() > 1 {
        for (i, (name, value)) in forced.iter().enumerate() {
            let others_nullable = facts.iter().enumerate().all(|(j, f)| j == i || !f.not_null);
            if others_nullable {
                let mut one: Row = row.iter().filter(|(c, _)| !constrained.contains(c)).cloned().collect();
                one.push((name.clone(), value.clone()));
                out.push(one);
            }
        }
    }
    // None of them, where all may be NULL (`a IS NULL OR b > 0`).
    if facts.iter().all(|f| !f.not_null) {
        out.push(row.iter().filter(|(c, _)| !constrained.contains(c)).cloned().collect());
    }
    // Rising, then falling across the columns in the constraint's order.
    for sign in [1, -1] {
        let shifted: Vec<(String, String)> = facts
            .iter()
            .zip(&forced)
            .enumerate()
            .map(|(k, (f, (name, value)))| (name.clone(), shift(f, value, sign * k as i64)))
            .collect();
        out.push(with(row, &shifted));
    }
    out.dedup();
    out.retain(|v| v != row);
    out
}

/// The row with `values` set (added where the row left the column out).
fn with(row: &Row, values: &[(String, String)]) -> Row {
    let mut out: Row = row.iter().filter(|(c, _)| !values.iter().any(|(v, _)| v == c)).cloned().collect();
    out.extend(values.iter().cloned());
    out
}

/// The column's value in the row, or one of its type where the row left it out (NULL or default).
fn forced_value(f: &ColumnFacts, row: &Row, user: Uuid, n: usize) -> String {
    if let Some((_, v)) = row.iter().find(|(c, _)| c == &f.name) {
        if v != "NULL" {
            return v.clone();
        }
    }
    let required = ColumnFacts { not_null: true, default: None, ..f.clone() };
    match required.fill(user, n) {
        Fill::Value(v) => v,
        Fill::Omit => "NULL".into(),
    }
}

/// `value` moved `k` steps along the column's type; unchanged for types without an order we
/// can step (text, uuid …).
fn shift(f: &ColumnFacts, value: &str, k: i64) -> String {
    if k == 0 || value == "NULL" {
        return value.to_string();
    }
    let base = f.base_type.split('(').next().unwrap_or(&f.base_type);
    let ty = &f.type_name;
    match base {
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => {
            format!("(({value}) + {})::{ty}", k * NUMBER_STEP)
        }
        "date" => format!("(({value}) + {})::{ty}", k * DAY_STEP),
        b if b.starts_with("timestamp") || b == "interval" => {
            format!("(({value}) + interval '{} days')::{ty}", k * DAY_STEP)
        }
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_db::generate::values::tests::column;

    fn row(pairs: &[(&str, &str)]) -> Row {
        pairs.iter().map(|(c, v)| (c.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_refused_row_gets_the_variants_its_check_may_need() {
        let user = Uuid::nil();
        // (columns, the refused row, the constrained columns, a variant that must be among those tried)
        type Case<'a> = (Vec<ColumnFacts>, Row, &'a [&'a str], Row);
        let cases: Vec<Case> = vec![
            // `email IS NOT NULL OR phone IS NOT NULL`: both were left NULL; filling both is tried.
            (
                vec![column("id", "bigint", true), column("email", "text", false), column("phone", "text", false)],
                row(&[("id", "'1'::bigint")]),
                &["email", "phone"],
                row(&[
                    ("id", "'1'::bigint"),
                    ("email", "'email-00000000-3'::text"),
                    ("phone", "'phone-00000000-3'::text"),
                ]),
            ),
            // `num_nonnulls(a, b) = 1`: exactly one is tried.
            (
                vec![column("a", "integer", false), column("b", "integer", false)],
                row(&[("a", "'1'::integer"), ("b", "'2'::integer")]),
                &["a", "b"],
                row(&[("b", "'2'::integer")]),
            ),
            // `ends_at > starts_at`: both now(); the later column rises a day.
            (
                vec![column("starts_at", "timestamptz", true), column("ends_at", "timestamptz", true)],
                row(&[("starts_at", "now()::timestamptz"), ("ends_at", "now()::timestamptz")]),
                &["starts_at", "ends_at"],
                row(&[
                    ("starts_at", "now()::timestamptz"),
                    ("ends_at", "((now()::timestamptz) + interval '1 days')::timestamptz"),
                ]),
            ),
            // `lo >= hi`: falling across the columns.
            (
                vec![column("lo", "smallint", true), column("hi", "smallint", true)],
                row(&[("lo", "'5'::smallint"), ("hi", "'5'::smallint")]),
                &["lo", "hi"],
                row(&[("lo", "'5'::smallint"), ("hi", "(('5'::smallint) + -10)::smallint")]),
            ),
        ];
        for (columns, refused, constrained, expected) in cases {
            let constrained: Vec<String> = constrained.iter().map(|c| c.to_string()).collect();
            let tried = variants(&refused, &columns, &constrained, user, 3);
            assert!(tried.contains(&expected), "{expected:?} not among {tried:#?}");
            assert!(!tried.contains(&refused), "the refused row is not tried again");
        }
    }

    #[test]
    fn a_constraint_on_columns_that_cannot_be_written_gives_nothing_to_try() {
        let mut computed = column("total", "integer", true);
        computed.computed = true;
        let tried = variants(&row(&[]), &[computed], &["total".to_string()], Uuid::nil(), 0);
        assert!(tried.is_empty());
    }
}
