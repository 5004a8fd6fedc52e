//! The access comparison, case by case.
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
    let mut m =
        AccessMatrix { personas: vec![Persona::ServiceRole, user(1)], tables: vec![T.into()], ..Default::default() };
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
    check(&["1", "3"], DeniedByPolicy, "", Status::Fail, "can now see 1 row(s) of public.notes that are not its own");
    check(&["1", "2"], DeniedByPolicy, "", Status::Fail, "undeclared (add `-- xtask:rls-widens public.notes <why>`)");
    check(&["1", "2"], DeniedByPolicy, "-- xtask:rls-widens public.notes sharing", Status::Warn, "declared: sharing");
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
fn a_measurement_that_failed_after_is_not_compared_as_zero_rows() {
    // A trigger refuses every update after the migration: the update could not be measured.
    let mut before = matrix(&["1"], ProbeOutcome::DeniedByPolicy);
    before.reach.insert((user(1), T.into(), Op::Update), ["1".to_string()].into());
    let after = matrix(&["1"], ProbeOutcome::DeniedByPolicy);
    let checks = compare(&before, &after, &Declared::default(), "rls", &exposed());
    let c = &checks[0];
    assert_eq!((c.status, c.value.as_deref()), (Status::Warn, Some("1 measurement(s) not compared")), "{c:#?}");
    assert!(c.detail.as_deref().is_some_and(|d| d.contains("could not be measured after")), "{c:#?}");
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
    assert_eq!((checks[0].status, checks[0].title.as_str()), (Status::Fail, "public.notes keeps row-level security"));
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
    let d =
        Declared::parse(["select 1;\n-- xtask:rls-widens public.a shared with team\n-- xtask:rls-narrows public.b\n"]);
    assert_eq!(d.widens.get("public.a").map(String::as_str), Some("shared with team"));
    assert_eq!(d.narrows.get("public.b").map(String::as_str), Some(""));
    assert!(Declared::parse(["-- xtask:rls-widen public.a typo"]).widens.is_empty());
}
