//! The stepwise proof: each pending file alone, in order — snapshot, apply it, run its rollback,
//! compare with the snapshot, apply it again — as a push that fails at file k needs the rollbacks
//! of the files before it, each on its own. A rollback that is right only together with another
//! one (a later rollback drops the column under the index this one forgets) fails here.

use std::collections::{BTreeMap, BTreeSet};

use super::kept_objects;
use crate::{
    analysis::{catalog::CatalogSnapshot, data_snapshot::DataSnapshot},
    local_db::LocalDatabase,
    report::{Check, Report, Status},
};

/// What a rollback alone left behind, per version.
pub type Leftovers = BTreeMap<String, Leftover>;

#[derive(Debug, Clone, Default)]
pub struct Leftover {
    /// Catalog objects it did not remove (their names, to watch during the full rollback).
    pub names: BTreeSet<String>,
    /// Every difference, as sentences.
    pub lines: Vec<String>,
}

/// Applies every pending file through the stepwise proof; `None` when a file or a rollback
/// failed to run (the remaining steps cannot follow), else what each rollback alone left.
/// The first apply of each file is check `<id_prefix>.<version>`.
pub(super) async fn prove(
    db: &mut LocalDatabase,
    id_prefix: &str,
    report: &mut Report,
) -> anyhow::Result<Option<Leftovers>> {
    let timer = report.phase("apply pending migrations, each rolled back and re-applied alone");
    let mut leftovers = Leftovers::new();
    for file in db.plan.pending.clone() {
        timer.set_message(file.file_name());
        let before = CatalogSnapshot::take_everything(&mut db.conn).await?;
        let data = DataSnapshot::take_for_proof(&mut db.conn, &before).await?;
        if !db.apply_one(&file, id_prefix, report).await? {
            report.record(timer);
            return Ok(None);
        }
        let Some(script) = db.plan.rollbacks.get(&file.version).cloned() else { continue };
        let id = format!("rollback.step.{}", file.version);
        let title = format!("the rollback of {} alone restores the state before it", file.file_name());
        if let Err(e) = db.roll_back(&file.version, &script).await {
            report.push(Check::new(id, title, Status::Fail).detail(format!("the rollback failed: {e}")));
            report.record(timer);
            return Ok(None);
        }
        let keeps: BTreeSet<String> = kept_objects(&std::fs::read_to_string(&script)?).into_iter().collect();
        let after = CatalogSnapshot::take_everything(&mut db.conn).await?;
        let diffs: Vec<_> = before.diff(&after).into_iter().filter(|d| !keeps.contains(d.name())).collect();
        let names: BTreeSet<String> = diffs.iter().map(|d| d.name().to_string()).collect();
        let mut left: Vec<String> = diffs.iter().map(|d| d.describe_after_rollback()).collect();
        match DataSnapshot::take_like(&mut db.conn, &data).await {
            Ok(now) => {
                let cmp = data.compare(&now);
                let rows = |what: &str, r: &[(String, String)]| {
                    r.iter().take(3).map(|(t, k)| format!("row {t} {k} {what}")).collect::<Vec<_>>()
                };
                left.extend(rows("is missing", &cmp.missing));
                left.extend(rows("changed", &cmp.changed));
                left.extend(rows("was added and stayed", &cmp.added));
            }
            Err(e) => left.push(format!("the data before it cannot be compared: {e:#}")),
        }
        report.push(if left.is_empty() {
            Check::new(id, title, Status::Pass)
        } else {
            Check::new(id, title, Status::Fail).value(format!("{} difference(s)", left.len())).detail(left.join("\n"))
        });
        if !left.is_empty() {
            leftovers.insert(file.version.clone(), Leftover { names, lines: left });
        }
        // Forward again, so the next file meets the state it was written for.
        if !db.apply_one(&file, "rollback.step.reapply", report).await? {
            report.record(timer);
            return Ok(None);
        }
    }
    report.record(timer);
    Ok(Some(leftovers))
}

/// After the full rollback: a rollback that failed alone while the whole sequence passed is right
/// only together with the others; name the pair when the full sequence shows who cleaned up.
pub(super) fn summary(leftovers: &Leftovers, full_passed: bool, cleaned_by: &BTreeMap<String, String>) -> Check {
    let check =
        Check::new("rollback.stepwise", "each rollback is right on its own, not only with the others", Status::Pass);
    if leftovers.is_empty() {
        return check;
    }
    let lines: Vec<String> = leftovers
        .iter()
        .map(|(version, left)| {
            let what = left.lines.join("; ");
            // "Only together with another one" only when the full sequence shows which one: a
            // lone rollback that leaves rows behind is not right at all.
            match cleaned_by.get(version) {
                Some(v) if full_passed => format!(
                    "the rollback of {version} is right only together with another one — the rollback of {v} removes \
                     it: {what}"
                ),
                _ => format!("the rollback of {version} leaves: {what}"),
            }
        })
        .collect();
    Check { status: Status::Fail, ..check }.value(format!("{} rollback(s)", lines.len())).detail(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_right_only_with_another_names_both() {
        let leftover = Leftover { names: BTreeSet::new(), lines: vec!["index public.idx still exists".to_string()] };
        let left: Leftovers = [("20251116173504".to_string(), leftover)].into();
        let by: BTreeMap<String, String> = [("20251116173504".to_string(), "20251116173500".to_string())].into();
        let c = summary(&left, true, &by);
        assert_eq!(c.status, Status::Fail);
        let d = c.detail.unwrap_or_default();
        assert!(
            d.contains("20251116173504 is right only together") && d.contains("rollback of 20251116173500 removes it"),
            "{d}"
        );
        assert_eq!(summary(&Leftovers::new(), true, &BTreeMap::new()).status, Status::Pass);
        // Nobody cleaned up after it: it is simply wrong, never "right only together".
        let d = summary(&left, true, &BTreeMap::new()).detail.unwrap_or_default();
        assert!(d.starts_with("the rollback of 20251116173504 leaves: index public.idx"), "{d}");
    }
}
