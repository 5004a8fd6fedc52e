//! Rows written after the pending migrations into a table that existed before (objects in a
//! bucket the migration creates, rows its seed adds): they did not exist before, so they are
//! judged against "did not exist" — a persona that reached only its own rows before and now
//! reaches another user's new rows is a widening the before/after comparison cannot see.

use super::{judge::Findings, AccessMatrix, Op, Persona};
use crate::analysis::rls::judge::Declared;

pub(super) fn compare_fresh(
    before: &AccessMatrix,
    after: &AccessMatrix,
    declared: &Declared,
    table: &str,
    found: &mut Findings,
) {
    let all = |m: &AccessMatrix| m.reach.get(&(Persona::ServiceRole, table.to_string(), Op::Select)).cloned();
    let (Some(old), Some(now)) = (all(before), all(after)) else { return };
    let fresh: Vec<&String> = now.difference(&old).collect();
    if fresh.is_empty() {
        return;
    }
    for persona in after.personas.iter().filter(|p| before.personas.contains(p) && !matches!(p, Persona::ServiceRole)) {
        let owned_now = after.owned.get(&(persona.clone(), table.to_string())).cloned().unwrap_or_default();
        let owned_then = before.owned.get(&(persona.clone(), table.to_string())).cloned().unwrap_or_default();
        for op in [Op::Select, Op::Update, Op::Delete] {
            let key = (persona.clone(), table.to_string(), op);
            let (Some(was), Some(is)) = (before.reach.get(&key), after.reach.get(&key)) else { continue };
            // Reaching others' rows before: the policies share the table, new rows included.
            if was.iter().any(|k| !owned_then.contains(k)) {
                continue;
            }
            let others: Vec<&&String> = fresh.iter().filter(|k| is.contains(**k) && !owned_now.contains(**k)).collect();
            let Some(first) = others.first() else { continue };
            let line = format!(
                "{} can {} {} row(s) of {table} written after the migrations that are not its own, where before it \
                 reached only its own (first: {first})",
                persona.label(),
                op.verb(),
                others.len()
            );
            if matches!(persona, Persona::Anon) {
                found.declarable(line, declared.widens.get(table), "rls-widens", table);
            } else {
                found.fails.push(line);
            }
        }
    }
}
