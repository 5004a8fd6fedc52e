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
            let unmeasured = warns.iter().filter(|w| w.contains("could not be measured")).count();
            let value = match (warns.len() - unmeasured, unmeasured) {
                (declared, 0) => format!("{declared} declared change(s)"),
                (0, unmeasured) => format!("{unmeasured} measurement(s) not compared"),
                (declared, unmeasured) => {
                    format!("{declared} declared change(s), {unmeasured} measurement(s) not compared")
                }
            };
            Check::new(id, title, Status::Warn).value(value).detail(warns.join("\n"))
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
            let (Some(b), Some(a)) = (before.reach.get(&key), after.reach.get(&key)) else {
                if before.reach.contains_key(&key) != after.reach.contains_key(&key) {
                    let when = if after.reach.contains_key(&key) { "before" } else { "after" };
                    found.warns.push(format!(
                        "what {} may {} in {table} could not be measured {when} the migration (an error, listed in the \
                         matrix's coverage), so it was not compared",
                        persona.label(),
                        op.verb()
                    ));
                }
                continue;
            };
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
mod tests;
