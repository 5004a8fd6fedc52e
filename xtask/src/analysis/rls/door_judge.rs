//! Judging the doors beside tables by difference: a view, materialized view or foreign table
//! through which a persona reads rows RLS does not show it fails when it is new or reads more
//! than before, unless the migration declares it (`-- xtask:rls-widens <relation> <why>`); what
//! was already so warns. A function the pending migrations add or change fails the same way for
//! what it returns or changes beyond RLS; one that could not be called is listed, never passed.

use super::{
    doors::{Door, DoorRead},
    judge::Declared,
    rpc::{Call, Rpc, Variant},
};
use crate::report::{Check, Status};

/// Sentences about one door.
#[derive(Default)]
struct Lines {
    fails: Vec<String>,
    warns: Vec<String>,
}

impl Lines {
    fn widening(&mut self, line: String, name: &str, declared: &Declared) {
        match declared.widens.get(name) {
            Some(why) => self.warns.push(format!("{line}; declared: {why}")),
            None => self.fails.push(format!("{line}; undeclared (add `-- xtask:rls-widens {name} <why>`)")),
        }
    }

    fn check(self, id: String, title: String, pass: String, unexercised: Option<String>) -> Check {
        let Lines { mut fails, warns } = self;
        if !fails.is_empty() {
            fails.extend(warns);
            Check::new(id, title, Status::Fail).value(format!("{} finding(s)", fails.len())).detail(fails.join("\n"))
        } else if !warns.is_empty() {
            Check::new(id, title, Status::Warn).value(format!("{} to look at", warns.len())).detail(warns.join("\n"))
        } else if let Some(why) = unexercised {
            Check::new(id, title, Status::Warn).value("not exercised").detail(why)
        } else {
            Check::new(id, title, Status::Pass).value(pass)
        }
    }
}

/// One check per door an API role may read after the migrations (`<prefix>.door.<relation>`).
pub fn compare_doors(before: &[Door], after: &[Door], declared: &Declared, prefix: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    for door in after {
        let old = before.iter().find(|d| d.name == door.name);
        let mut lines = Lines::default();
        for (persona, read) in &door.reads {
            let was = old.and_then(|d| d.reads.get(persona));
            match (read, was) {
                (DoorRead::Failed(e), _) => {
                    lines.warns.push(format!("not measured as {}: {e} (never counted as safe)", persona.label()))
                }
                (DoorRead::Read { rows, beyond, writes_beyond }, was) if *beyond > 0 || *writes_beyond > 0 => {
                    let (b0, w0) = match was {
                        Some(DoorRead::Read { beyond, writes_beyond, .. }) => (*beyond, *writes_beyond),
                        _ => (0, 0),
                    };
                    let mut line = format!(
                        "{} reads {beyond} of {rows} row(s) through {} that RLS does not show it",
                        persona.label(),
                        door.name
                    );
                    if *writes_beyond > 0 {
                        line.push_str(&format!(", and can update or delete {writes_beyond} it could not as itself"));
                    }
                    if old.is_some() && *beyond <= b0 && *writes_beyond <= w0 {
                        lines.warns.push(format!("{line}; already so before the pending migrations"));
                    } else {
                        let line = format!("{line} ({}: {})", door.kind.noun(), door.kind.remedy());
                        lines.widening(line, &door.name, declared);
                    }
                }
                _ => {}
            }
        }
        let new = if old.is_none() { " (new)" } else { "" };
        let title = format!(
            "{}{new}, readable by {}, shows each persona only what RLS does",
            door.name,
            door.readable_by.join(", ")
        );
        let unexercised = match &door.rows {
            Ok(0) => Some(format!(
                "{} returns no rows even to service_role: nothing was compared; seed rows in the tables it reads",
                door.name
            )),
            Err(e) => Some(format!("{} could not be read as service_role: {e}", door.name)),
            Ok(_) => None,
        };
        let pass =
            format!("{} persona(s), {} row(s), none beyond RLS", door.reads.len(), door.rows.clone().unwrap_or(0));
        checks.push(lines.check(format!("{prefix}.door.{}", door.name), title, pass, unexercised));
    }
    checks
}

/// Doors the probes read rows through and found nothing past RLS in, for any persona: the static
/// lint's guess about them is dismissed to a warning, with this reason.
pub fn probed_clean(doors: &[Door]) -> Vec<(String, String)> {
    doors
        .iter()
        .filter(|d| matches!(d.rows, Ok(n) if n > 0))
        .filter(|d| !d.reads.is_empty())
        .filter(|d| d.reads.values().all(|r| matches!(r, DoorRead::Read { beyond: 0, writes_beyond: 0, .. })))
        .map(|d| {
            let why = format!(
                "probed: {} persona(s) read {} row(s) through it and none beyond RLS today (it still bypasses the \
                 policies: a later change to them would not reach it)",
                d.reads.len(),
                d.rows.clone().unwrap_or(0)
            );
            (d.name.clone(), why)
        })
        .collect()
}

/// One check per function the pending migrations add or change (`<prefix>.rpc.<function>`).
pub fn compare_rpcs(before: &[Rpc], after: &[Rpc], declared: &Declared, prefix: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    for rpc in after {
        let old = before.iter().find(|r| r.name == rpc.name);
        if old.is_some_and(|o| o.definition == rpc.definition) {
            continue; // unchanged by the pending migrations
        }
        let short = rpc.name.split('(').next().unwrap_or(&rpc.name).to_string();
        let mut lines = Lines::default();
        if let Some(why) = &rpc.not_called {
            lines.warns.push(format!("not called: {why}; judge it by reading it (never counted as safe)"));
        }
        for ((persona, variant), call) in &rpc.calls {
            let whose = match variant {
                Variant::Own => "its own ids",
                Variant::Other => "another user's ids",
            };
            let who = persona.label();
            let was = old.and_then(|o| o.calls.get(&(persona.clone(), *variant)));
            match call {
                Call::Refused => {}
                Call::Failed { args, error } => lines
                    .warns
                    .push(format!("could not be called as {who} with {whose} ({short}({args})): {error} (not judged)")),
                Call::Returned { .. } => returned(rpc, &who, whose, call, was, declared, &mut lines),
            }
        }
        let calls = rpc.calls.len();
        let refused = rpc.calls.values().filter(|c| matches!(c, Call::Refused)).count();
        let new = if old.is_none() { "new" } else { "changed" };
        let title = format!(
            "{short} ({new}, callable by {}) returns and changes only what RLS allows",
            rpc.callable_by.join(", ")
        );
        let pass = format!("{calls} call(s) as anon and two users ({refused} refused); nothing beyond RLS");
        let unexercised = (calls == 0 && rpc.not_called.is_none()).then(|| "no call was made".to_string());
        let made: Vec<String> = rpc
            .calls
            .iter()
            .filter_map(|((persona, _), call)| match call {
                Call::Returned { args, rows, .. } => {
                    Some(format!("as {}: {short}({args}) → {rows} row(s)", persona.label()))
                }
                _ => None,
            })
            .collect();
        let check = lines.check(format!("{prefix}.rpc.{short}"), title, pass, unexercised);
        checks.push(if check.status == Status::Pass && !made.is_empty() {
            check.detail(made.join("\n"))
        } else {
            check
        });
    }
    checks
}

/// A call that returned: what it gave or changed beyond RLS, more than before the migrations.
fn returned(
    rpc: &Rpc,
    who: &str,
    whose: &str,
    call: &Call,
    was: Option<&Call>,
    declared: &Declared,
    lines: &mut Lines,
) {
    let Call::Returned { args, rows, beyond, unjudged, changed_beyond } = call else { return };
    let short = rpc.name.split('(').next().unwrap_or(&rpc.name);
    let before_beyond = match was {
        Some(Call::Returned { beyond: Some(b), .. }) => *b,
        _ => 0,
    };
    if let Some(why) = unjudged {
        lines.warns.push(format!("as {who} with {whose}: {why}"));
    }
    if let Some(n) = beyond.filter(|n| *n > before_beyond) {
        let what = match &rpc.returns_rows_of {
            Some(table) => format!("{n} of {rows} row(s) of {table} RLS does not show it"),
            None => format!(
                "a result RLS alone does not give ({n} of {rows} value(s) differ from the same call \
                     as SECURITY INVOKER)"
            ),
        };
        let line = format!(
            "{who} calling {short}({args}) gets {what}{}",
            if rpc.definer { " (SECURITY DEFINER: check auth.uid() in it, or make it SECURITY INVOKER)" } else { "" }
        );
        lines.widening(line, short, declared);
    }
    for change in changed_beyond {
        lines.widening(format!("{who} calling {short}({args}) {change}"), short, declared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::rls::{doors::DoorKind, Persona};

    fn door(name: &str, reads: &[(Persona, DoorRead)]) -> Door {
        Door {
            name: name.into(),
            kind: DoorKind::View { invoker: false },
            readable_by: vec!["authenticated".into()],
            rows: Ok(10),
            reads: reads.iter().cloned().collect(),
        }
    }

    fn read(rows: usize, beyond: usize) -> DoorRead {
        DoorRead::Read { rows, beyond, writes_beyond: 0 }
    }

    #[test]
    fn a_door_is_judged_against_did_not_exist_and_against_before() {
        let declared = Declared::parse(["-- xtask:rls-widens public.open on purpose"]);
        let cases: &[(&[Door], Door, Status)] = &[
            // new, anon reads all rows beyond RLS: fails
            (&[], door("public.v", &[(Persona::Anon, read(10, 10))]), Status::Fail),
            // new, nothing beyond RLS: passes
            (&[], door("public.v", &[(Persona::Anon, read(0, 0))]), Status::Pass),
            // declared on purpose: warns
            (&[], door("public.open", &[(Persona::Anon, read(10, 10))]), Status::Warn),
            // already so before: warns
            (
                &[door("public.v", &[(Persona::Anon, read(10, 10))])],
                door("public.v", &[(Persona::Anon, read(10, 10))]),
                Status::Warn,
            ),
            // more than before: fails
            (
                &[door("public.v", &[(Persona::Anon, read(10, 2))])],
                door("public.v", &[(Persona::Anon, read(10, 10))]),
                Status::Fail,
            ),
            // could not be read: never a pass
            (&[], door("public.v", &[(Persona::Anon, DoorRead::Failed("boom".into()))]), Status::Warn),
        ];
        for (before, after, status) in cases {
            let checks = compare_doors(before, std::slice::from_ref(after), &declared, "rls.matrix");
            assert_eq!(checks[0].status, *status, "{before:?} {after:?}: {:?}", checks[0].detail);
            assert_eq!(checks[0].id, format!("rls.matrix.door.{}", after.name));
        }
        let empty = Door { rows: Ok(0), ..door("public.v", &[(Persona::Anon, read(0, 0))]) };
        assert_eq!(compare_doors(&[], &[empty], &declared, "p")[0].status, Status::Warn, "no rows: not exercised");
    }

    fn rpc(definition: &str, calls: &[((Persona, Variant), Call)], not_called: Option<&str>) -> Rpc {
        Rpc {
            name: "public.f(uuid)".into(),
            definer: true,
            definition: definition.into(),
            callable_by: vec!["authenticated".into()],
            returns_rows_of: None,
            not_called: not_called.map(String::from),
            calls: calls.iter().cloned().collect(),
        }
    }

    fn returned(beyond: Option<usize>, changed: &[&str]) -> Call {
        Call::Returned {
            args: "'x'::uuid".into(),
            rows: 5,
            beyond,
            unjudged: beyond.is_none().then(|| "as SECURITY INVOKER the same call fails".into()),
            changed_beyond: changed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_function_is_judged_only_when_new_or_changed() {
        let k = (Persona::Anon, Variant::Other);
        let declared = Declared::default();
        let cases: Vec<(Vec<Rpc>, Rpc, Option<Status>)> = vec![
            (vec![], rpc("a", &[(k.clone(), returned(Some(5), &[]))], None), Some(Status::Fail)),
            (vec![], rpc("a", &[(k.clone(), returned(Some(0), &[]))], None), Some(Status::Pass)),
            (vec![], rpc("a", &[(k.clone(), Call::Refused)], None), Some(Status::Pass)),
            (
                vec![],
                rpc("a", &[(k.clone(), returned(Some(0), &["deleted 3 row(s) of public.notes"]))], None),
                Some(Status::Fail),
            ),
            (vec![], rpc("a", &[(k.clone(), returned(None, &[]))], None), Some(Status::Warn)),
            (vec![], rpc("a", &[], Some("returns trigger")), Some(Status::Warn)),
            (
                vec![],
                rpc("a", &[(k.clone(), Call::Failed { args: String::new(), error: "boom".into() })], None),
                Some(Status::Warn),
            ),
            // unchanged: not judged
            (vec![rpc("a", &[], None)], rpc("a", &[(k.clone(), returned(Some(5), &[]))], None), None),
            // changed, and returning no more than before: passes
            (
                vec![rpc("a", &[(k.clone(), returned(Some(5), &[]))], None)],
                rpc("b", &[(k.clone(), returned(Some(5), &[]))], None),
                Some(Status::Pass),
            ),
        ];
        for (before, after, status) in cases {
            let checks = compare_rpcs(&before, std::slice::from_ref(&after), &declared, "rls.matrix");
            assert_eq!(checks.first().map(|c| c.status), status, "{after:?}");
            if let Some(c) = checks.first() {
                assert_eq!(c.id, "rls.matrix.rpc.public.f");
            }
        }
    }
}
