//! The access matrix as stable, readable text (counts and outcomes, never row contents).

use super::{AccessMatrix, Op, Probe};

impl AccessMatrix {
    /// A stable, readable rendering (counts and outcomes, never row contents).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            out.push_str(&format!("{table}\n"));
            for p in &self.personas {
                // "-": the role has no grant (403 through the API); a number: rows RLS lets through.
                let count = |op| match self.reach.get(&(p.clone(), table.clone(), op)) {
                    _ if self.no_grant.contains(&(p.clone(), table.clone(), op)) => "-".to_string(),
                    Some(rows) => rows.len().to_string(),
                    None => "?".to_string(),
                };
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
        if !self.no_grant.is_empty() {
            out.push_str("-: no grant (the Data API refuses it before RLS); ?: the measurement failed\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::rls::Persona;

    #[test]
    fn no_grant_reads_apart_from_no_rows_and_a_failed_measurement() {
        let t = "public.notes".to_string();
        let mut m = AccessMatrix { personas: vec![Persona::Anon], tables: vec![t.clone()], ..Default::default() };
        m.reach.insert((Persona::Anon, t.clone(), Op::Select), Default::default());
        m.no_grant.insert((Persona::Anon, t.clone(), Op::Update));
        let text = m.render();
        assert!(text.contains("select    0  update    -  delete    ?"), "{text}");
        assert!(text.contains("-: no grant"), "{text}");
    }
}
