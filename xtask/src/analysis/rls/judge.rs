//! Judging two access matrices: any widening fails unless it only reaches the persona's own rows
//! and is declared in the migration (`-- xtask:rls-widens`); narrowing fails unless declared.

use std::collections::BTreeMap;

use super::{AccessMatrix, Op, Persona, Probe};
use crate::report::{Check, Status};

/// What the pending migrations declare about access changes:
/// `-- xtask:rls-widens <table> <why>` and `-- xtask:rls-narrows <table> <why>`.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub widens: BTreeMap<String, String>,
    pub narrows: BTreeMap<String, String>,
}

impl Declared {
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>) -> Declared {
        let mut d = Declared::default();
        for text in texts {
            for line in text.lines() {
                let line = line.trim();
                for (prefix, map) in
                    [("-- xtask:rls-widens ", &mut d.widens), ("-- xtask:rls-narrows ", &mut d.narrows)]
                {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let (table, why) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
                        map.insert(table.to_string(), why.trim().to_string());
                    }
                }
            }
        }
        d
    }
}

/// Sentences about one table: what fails, and what is declared (warns).
#[derive(Default)]
pub(super) struct Findings {
    pub(super) fails: Vec<String>,
    pub(super) warns: Vec<String>,
}

impl Findings {
    /// A change the migration may declare under `declarations` (widens or narrows).
    pub(super) fn declarable(&mut self, line: String, declared: Option<&String>, directive: &str, table: &str) {
        match declared {
            Some(why) => self.warns.push(format!("{line}; declared: {why}")),
            None => self.fails.push(format!("{line}; undeclared (add `-- xtask:{directive} {table} <why>`)")),
        }
    }
}

/// Whether the API serves `table` (`schema.name`) directly: its schema is in `[api] schemas`, or it
/// is storage's (storage-api serves buckets and objects under the user's JWT).
pub fn exposed(table: &str, exposed_schemas: &[String]) -> bool {
    let schema = table.split('.').next().unwrap_or_default().trim_matches('"');
    table == "storage.objects" || table == "storage.buckets" || exposed_schemas.iter().any(|s| s == schema)
}

/// Compares two matrices: any widening fails unless it only reaches the persona's own rows and
/// is declared; narrowing fails unless declared. A table the migrations create is compared with
/// "did not exist"; a table no persona could reach a row of, before or after, was not exercised
/// and warns. In a schema the API does not expose, what would fail warns. Ids `<prefix>.<table>`.
pub fn compare(
    before: &AccessMatrix,
    after: &AccessMatrix,
    declared: &Declared,
    prefix: &str,
    exposed_schemas: &[String],
) -> Vec<Check> {
    let mut checks = Vec::new();
    for table in &after.tables {
        let mut found = Findings::default();
        let rows =
            |m: &AccessMatrix| m.reach.get(&(Persona::ServiceRole, table.clone(), Op::Select)).map_or(0, |r| r.len());
        let is_new = !before.tables.contains(table);
        if is_new {
            compare_new_table(after, declared, table, &mut found);
        } else {
            compare_reach(before, after, declared, table, &mut found);
            super::fresh::compare_fresh(before, after, declared, table, &mut found);
            compare_probes(before, after, declared, table, &mut found);
        }
        let exercised = rows(after) > 0 || (!is_new && rows(before) > 0);
        let has_policies = |m: &AccessMatrix| m.policies.get(table).is_some_and(|n| *n > 0);
        if !exercised && table.starts_with("storage.") && !has_policies(before) && !has_policies(after) {
            continue; // the project does not use storage: nothing of its own to judge there
        }
        if !exposed(table, exposed_schemas) && !found.fails.is_empty() {
            let why = format!(
                "not exposed through the API ([api] schemas: {}): reachable only through views, functions or \
                 triggers, so this warns",
                exposed_schemas.join(", ")
            );
            found.warns.extend(found.fails.drain(..).map(|f| format!("{f} ({why})")));
        }
        let id = format!("{prefix}.{table}");
        let title = if is_new {
            format!("who can read and write {table} (new) is what its policies intend")
        } else {
            format!("who can read and write {table} is unchanged")
        };
        let Findings { mut fails, warns } = found;
        let check = if !fails.is_empty() {
            fails.extend(warns);
            Check::new(id, title, Status::Fail).value(format!("{} change(s)", fails.len())).detail(fails.join("\n"))
        } else if !warns.is_empty() {
            Check::new(id, title, Status::Warn)
                .value(format!("{} declared change(s)", warns.len()))
                .detail(warns.join("\n"))
        } else if !exercised {
            Check::new(id, title, Status::Warn).value("not exercised: no data").detail(format!(
                "{table} has no rows {}: no persona could reach anything, so nothing was compared; seed rows (or let \
                 the generator fill it: it names the tables it could not)",
                if is_new { "after the migration" } else { "before or after the migration" }
            ))
        } else {
            Check::new(id, title, Status::Pass).value(format!(
                "{} personas, {} row(s){}",
                after.personas.len(),
                rows(after),
                if is_new { ", each user reaching only its own" } else { "" }
            ))
        };
        checks.push(check);
    }
    for table in before.tables.iter().filter(|t| !after.tables.contains(t)) {
        checks.push(
            Check::new(format!("{prefix}.{table}"), format!("{table} keeps row-level security"), Status::Fail)
                .detail(format!("{table} no longer has RLS enabled (or no longer exists)")),
        );
    }
    checks
}

/// A table the migrations create, against "did not exist": anon reaching any row, or a user
/// reaching rows that are not its own, must be declared (`-- xtask:rls-widens`); a write probe
/// that lets one user write into another's rows fails.
fn compare_new_table(after: &AccessMatrix, declared: &Declared, table: &str, found: &mut Findings) {
    for persona in after.personas.iter().filter(|p| !matches!(p, Persona::ServiceRole)) {
        for op in [Op::Select, Op::Update, Op::Delete] {
            let Some(reach) = after.reach.get(&(persona.clone(), table.to_string(), op)) else { continue };
            let owned = after.owned.get(&(persona.clone(), table.to_string())).cloned().unwrap_or_default();
            let other: Vec<&String> = reach.iter().filter(|k| !owned.contains(*k)).collect();
            if let Some(first) = other.first() {
                let line = format!(
                    "{} can {} {} row(s) of the new table {table} that are not its own (first: {first})",
                    persona.label(),
                    op.verb(),
                    other.len()
                );
                found.declarable(line, declared.widens.get(table), "rls-widens", table);
            }
        }
    }
    for probe in Probe::ALL.into_iter().filter(|p| *p != Probe::InsertOwn) {
        if let Some((outcome, ctx)) = after.probes.get(&(table.to_string(), probe)) {
            if outcome.allowed() {
                found.fails.push(format!("probe {}: allowed on the new table {table} {ctx}", probe.id()));
            }
        }
    }
}

/// Rows each persona reaches now and did not (or no longer reaches).
fn compare_reach(before: &AccessMatrix, after: &AccessMatrix, declared: &Declared, table: &str, found: &mut Findings) {
    // Rows written since `before` (app smoke, probes) and users signed up since are not part of
    // the comparison: only what existed before can widen or narrow.
    let universe = before.reach.get(&(Persona::ServiceRole, table.to_string(), Op::Select));
    for persona in after.personas.iter().filter(|p| before.personas.contains(p)) {
        for op in [Op::Select, Op::Update, Op::Delete] {
            let key = (persona.clone(), table.to_string(), op);
            let (Some(b), Some(a)) = (before.reach.get(&key), after.reach.get(&key)) else { continue };
            let widened: Vec<&String> = a.difference(b).filter(|k| universe.is_none_or(|u| u.contains(*k))).collect();
            // A row deleted by the migration is data loss (`data.loss`), not a narrowing.
            let survivors = after.reach.get(&(Persona::ServiceRole, table.to_string(), Op::Select));
            let narrowed: Vec<&String> = b.difference(a).filter(|k| survivors.is_none_or(|s| s.contains(*k))).collect();
            let (who, verb) = (persona.label(), op.verb());
            if !widened.is_empty() {
                let owned = after.owned.get(&(persona.clone(), table.to_string())).cloned().unwrap_or_default();
                let (own, other): (Vec<&String>, Vec<&String>) = widened.iter().partition(|k| owned.contains(**k));
                if matches!(persona, Persona::Anon) {
                    // anon owns nothing: what it newly reaches is public on purpose or a hole, and
                    // only the migration's declaration can say which.
                    let line =
                        format!("anon can now {verb} {} row(s) of {table} (first: {})", widened.len(), widened[0]);
                    found.declarable(line, declared.widens.get(table), "rls-widens", table);
                } else if let Some(first) = other.first() {
                    found.fails.push(format!(
                        "{who} can now {verb} {} row(s) of {table} that are not its own (first: {first})",
                        other.len()
                    ));
                }
                if let Some(first) = own.first() {
                    let line =
                        format!("{who} can now {verb} {} of its own row(s) of {table} (first: {first})", own.len());
                    found.declarable(line, declared.widens.get(table), "rls-widens", table);
                }
            }
            if let Some(first) = narrowed.first() {
                let line = format!("{who} can no longer {verb} {} row(s) of {table} (first: {first})", narrowed.len());
                found.declarable(line, declared.narrows.get(table), "rls-narrows", table);
            }
        }
    }
}

/// Write probes allowed now and refused before (or the other way round).
fn compare_probes(before: &AccessMatrix, after: &AccessMatrix, declared: &Declared, table: &str, found: &mut Findings) {
    for probe in Probe::ALL {
        let key = (table.to_string(), probe);
        let (Some((b, _)), Some((a, ctx))) = (before.probes.get(&key), after.probes.get(&key)) else {
            continue;
        };
        if a.allowed() && !b.allowed() && probe != Probe::InsertOwn {
            found.fails.push(format!("probe {}: now allowed on {table} {ctx} (before: {})", probe.id(), b.describe()));
        }
        if b.allowed() && a.applicable() && !a.allowed() {
            let line = format!("probe {}: no longer allowed on {table} ({})", probe.id(), a.describe());
            match declared.narrows.get(table) {
                Some(why) => found.warns.push(format!("{line}; declared: {why}")),
                None if probe == Probe::InsertOwn => found.fails.push(line),
                None => found.warns.push(line),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use uuid::Uuid;

    use super::*;
    use crate::analysis::rls::ProbeOutcome;

    const T: &str = "public.notes";

    fn user(n: u8) -> Persona {
        Persona::User { email: format!("u{n}@x.test"), auth_id: Uuid::from_bytes([n; 16]), token: Default::default() }
    }

    /// A matrix where `user(1)` selects `rows`, service_role sees rows 1..=4, user 1 owns 1 and 2.
    fn matrix(rows: &[&str], insert_other: ProbeOutcome) -> AccessMatrix {
        let set = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let mut m = AccessMatrix {
            personas: vec![Persona::ServiceRole, user(1)],
            tables: vec![T.into()],
            ..Default::default()
        };
        m.reach.insert((Persona::ServiceRole, T.into(), Op::Select), set(&["1", "2", "3", "4"]));
        m.reach.insert((user(1), T.into(), Op::Select), set(rows));
        m.owned.insert((user(1), T.into()), set(&["1", "2"]));
        m.probes.insert((T.into(), Probe::InsertIntoOtherParent), (insert_other, "as u1".into()));
        m
    }

    fn check(after_rows: &[&str], probe: ProbeOutcome, declarations: &str, expected: Status, says: &str) {
        let before = matrix(&["1"], ProbeOutcome::DeniedByPolicy);
        let after = matrix(after_rows, probe);
        let checks = compare(&before, &after, &Declared::parse([declarations]), "rls", &exposed());
        let c = &checks[0];
        assert_eq!((c.id.as_str(), c.status), ("rls.public.notes", expected), "{c:#?}");
        assert!(c.detail.clone().unwrap_or_default().contains(says), "{says:?} in {c:#?}");
    }

    #[test]
    fn access_changes_are_judged_by_whose_rows_and_what_is_declared() {
        use ProbeOutcome::*;
        check(&["1"], DeniedByPolicy, "", Status::Pass, "");
        check(
            &["1", "3"],
            DeniedByPolicy,
            "",
            Status::Fail,
            "can now see 1 row(s) of public.notes that are not its own",
        );
        check(
            &["1", "2"],
            DeniedByPolicy,
            "",
            Status::Fail,
            "undeclared (add `-- xtask:rls-widens public.notes <why>`)",
        );
        check(
            &["1", "2"],
            DeniedByPolicy,
            "-- xtask:rls-widens public.notes sharing",
            Status::Warn,
            "declared: sharing",
        );
        check(&[], DeniedByPolicy, "", Status::Fail, "can no longer see 1 row(s)");
        check(
            &[],
            DeniedByPolicy,
            "  -- xtask:rls-narrows public.notes private now",
            Status::Warn,
            "declared: private now",
        );
        check(&["1"], Allowed, "", Status::Fail, "probe insert_into_other_parent: now allowed on public.notes as u1");
    }

    #[test]
    fn anon_reaching_rows_is_a_widening_only_a_declaration_excuses() {
        let with_anon = |rows: &[&str]| {
            let mut m = matrix(&["1"], ProbeOutcome::DeniedByPolicy);
            m.personas.push(Persona::Anon);
            m.reach.insert((Persona::Anon, T.into(), Op::Select), rows.iter().map(|s| s.to_string()).collect());
            m
        };
        let (before, after) = (with_anon(&[]), with_anon(&["3"]));
        let undeclared = &compare(&before, &after, &Declared::default(), "rls", &exposed())[0];
        assert_eq!(undeclared.status, Status::Fail, "{undeclared:#?}");
        let declared = Declared::parse(["-- xtask:rls-widens public.notes published notes are public"]);
        let c = &compare(&before, &after, &declared, "rls", &exposed())[0];
        assert_eq!(c.status, Status::Warn, "{c:#?}");
        assert!(c.detail.clone().unwrap_or_default().contains("anon can now see 1 row(s)"), "{c:#?}");
    }

    #[test]
    fn a_table_that_loses_rls_fails() {
        let before = matrix(&["1"], ProbeOutcome::DeniedByPolicy);
        let after = AccessMatrix::default();
        let checks = compare(&before, &after, &Declared::default(), "rls", &exposed());
        assert_eq!(checks.len(), 1);
        assert_eq!(
            (checks[0].status, checks[0].title.as_str()),
            (Status::Fail, "public.notes keeps row-level security")
        );
    }

    fn exposed() -> Vec<String> {
        vec!["public".into()]
    }

    #[test]
    fn a_new_table_is_judged_against_did_not_exist() {
        let before = AccessMatrix { personas: vec![Persona::ServiceRole, user(1)], ..Default::default() };
        let cases: [(&[&str], &str, Status, &str); 3] = [
            (&["1", "2"], "", Status::Pass, "each user reaching only its own"),
            (&["1", "3"], "", Status::Fail, "can see 1 row(s) of the new table public.notes that are not its own"),
            (&["1", "3"], "-- xtask:rls-widens public.notes shared", Status::Warn, "declared: shared"),
        ];
        for (rows, declarations, expected, says) in cases {
            let after = matrix(rows, ProbeOutcome::DeniedByPolicy);
            let c = &compare(&before, &after, &Declared::parse([declarations]), "rls", &exposed())[0];
            assert_eq!(c.status, expected, "{rows:?}: {c:#?}");
            let text = format!("{} {}", c.value.clone().unwrap_or_default(), c.detail.clone().unwrap_or_default());
            assert!(text.contains(says), "{says:?} in {c:#?}");
        }
    }

    #[test]
    fn a_table_without_data_is_not_exercised_and_storage_unused_is_not_judged() {
        let empty = |table: &str| {
            let mut m =
                AccessMatrix { personas: vec![Persona::ServiceRole], tables: vec![table.into()], ..Default::default() };
            m.reach.insert((Persona::ServiceRole, table.into(), Op::Select), BTreeSet::new());
            m
        };
        let c = &compare(&empty(T), &empty(T), &Declared::default(), "rls", &exposed())[0];
        assert_eq!((c.status, c.value.as_deref()), (Status::Warn, Some("not exercised: no data")), "{c:#?}");
        let storage = empty("storage.objects");
        assert!(compare(&storage, &storage, &Declared::default(), "rls", &exposed()).is_empty());
        let mut with_policy = empty("storage.objects");
        with_policy.policies.insert("storage.objects".into(), 1);
        let c = &compare(&with_policy, &with_policy, &Declared::default(), "rls", &exposed())[0];
        assert_eq!(c.status, Status::Warn, "a storage policy with nothing to prove it on: {c:#?}");
    }

    #[test]
    fn in_a_schema_the_api_does_not_expose_what_would_fail_warns() {
        let before = matrix(&["1"], ProbeOutcome::DeniedByPolicy);
        let after = matrix(&["1", "3"], ProbeOutcome::DeniedByPolicy);
        let c = &compare(&before, &after, &Declared::default(), "rls", &["api".into()])[0];
        assert_eq!(c.status, Status::Warn, "{c:#?}");
        assert!(c.detail.clone().unwrap_or_default().contains("not exposed through the API"), "{c:#?}");
    }

    #[test]
    fn declarations_are_read_from_comment_lines() {
        let d = Declared::parse([
            "select 1;\n-- xtask:rls-widens public.a shared with team\n-- xtask:rls-narrows public.b\n",
        ]);
        assert_eq!(d.widens.get("public.a").map(String::as_str), Some("shared with team"));
        assert_eq!(d.narrows.get("public.b").map(String::as_str), Some(""));
        assert!(Declared::parse(["-- xtask:rls-widen public.a typo"]).widens.is_empty());
    }
}
