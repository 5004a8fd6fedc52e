//! The access matrix as stable, readable text (counts and outcomes, never row contents).

use super::{AccessMatrix, Op, Probe};

impl AccessMatrix {
    /// A stable, readable rendering (counts and outcomes, never row contents).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            out.push_str(&format!("{table}\n"));
            for p in &self.personas {
                let count = |op| self.reach.get(&(p.clone(), table.clone(), op)).map_or(0, |r| r.len());
                out.push_str(&format!(
                    "  {:<28} select {:>4}  update {:>4}  delete {:>4}\n",
                    p.label(),
                    count(Op::Select),
                    count(Op::Update),
                    count(Op::Delete)
                ));
            }
            for probe in Probe::ALL {
                if let Some((outcome, _)) = self.probes.get(&(table.clone(), probe)) {
                    out.push_str(&format!("  probe {:<26} {}\n", probe.id(), outcome.describe()));
                }
            }
        }
        for t in &self.untracked {
            out.push_str(&format!("{t}: no primary key, not tracked\n"));
        }
        out
    }
}
