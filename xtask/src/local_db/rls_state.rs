//! The RLS steps local commands share: the state of access (matrix, lints, catalog) at one moment,
//! and the comparison of two states as checks.

use super::LocalDatabase;
use crate::{
    analysis::catalog::CatalogSnapshot,
    report::{Check, Report, Status},
};

/// What RLS looks like at one moment: who reaches what, and the lint findings.
pub struct RlsState {
    pub matrix: crate::analysis::rls::AccessMatrix,
    pub lints: std::collections::BTreeSet<crate::analysis::lints::Finding>,
    pub catalog: CatalogSnapshot,
    /// Every project table's rows (hashed by key), and the `ON DELETE CASCADE` foreign keys as
    /// (child, parent): what data loss is judged on.
    pub data: crate::analysis::data_snapshot::DataSnapshot,
    pub cascades: Vec<(String, String)>,
    /// What each API role may touch at all (grants), before RLS.
    pub reach: Vec<crate::analysis::api_reach::Reach>,
}

/// What a comparison of two access states allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The pending migrations' `-- xtask:rls-widens/narrows` declarations excuse their changes.
    DeclaredChanges,
    /// Nothing may differ (a rollback restores access exactly).
    NoChange,
}

impl LocalDatabase {
    /// The access matrix and lint findings of the current state.
    /// `like`: an earlier state whose probe users this one reuses.
    pub async fn rls_state(
        &mut self,
        label: &str,
        like: Option<&RlsState>,
        report: &mut Report,
    ) -> anyhow::Result<RlsState> {
        let timer = report.phase(&format!("access matrix ({label})"));
        let hook = self.access_token_hook.as_deref();
        let scope = crate::analysis::rls::Scope {
            exposed: self.exposed_schemas.clone(),
            mentioned: self.plan.pending.iter().map(|f| f.text.to_lowercase()).collect::<Vec<_>>().join("\n"),
            made_for: self.generated_owners.clone(),
        };
        let matrix =
            crate::analysis::rls::AccessMatrix::compute(&mut self.conn, like.map(|l| &l.matrix), hook, &scope).await?;
        let lints = crate::analysis::lints::run(&mut self.conn, &self.exposed_schemas).await?;
        let catalog = CatalogSnapshot::take(&mut self.conn).await?;
        let data = crate::analysis::data_snapshot::DataSnapshot::take(&mut self.conn, &catalog).await?;
        let cascades: Vec<(String, String)> = sqlx::query_as(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint \
             WHERE contype = 'f' AND confdeltype = 'c'",
        )
        .fetch_all(&mut self.conn)
        .await?;
        let reach = crate::analysis::api_reach::measure(&mut self.conn, &self.exposed_schemas).await?;
        let took = report.record(timer);
        let exposed = matrix.tables.iter().filter(|t| crate::analysis::rls::exposed(t, &self.exposed_schemas)).count();
        let with_rows = matrix
            .tables
            .iter()
            .filter(|t| {
                let key = (crate::analysis::rls::Persona::ServiceRole, (*t).clone(), crate::analysis::rls::Op::Select);
                matrix.reach.get(&key).is_some_and(|r| !r.is_empty())
            })
            .count();
        let value = format!(
            "{} personas × {} RLS tables, {with_rows} with rows ({exposed} exposed through the API: {}, storage) in \
             {} ms",
            matrix.personas.len(),
            matrix.tables.len(),
            self.exposed_schemas.join(", "),
            took.as_millis()
        );
        report.push(matrix_coverage(&matrix, &self.exposed_schemas, label).value(value));
        Ok(RlsState { matrix, lints, catalog, data, cascades, reach })
    }

    /// Compares two states: access per table (`<prefix>.<table>`), and, with `lint`, the lints.
    pub fn rls_compare(&self, before: &RlsState, after: &RlsState, prefix: &str, expect: Expect, report: &mut Report) {
        let declared = if expect == Expect::DeclaredChanges {
            crate::analysis::rls::Declared::parse(self.plan.pending.iter().map(|f| f.text.as_str()))
        } else {
            crate::analysis::rls::Declared::default()
        };
        for (table, why) in &declared.widens {
            report.push(
                Check::new(format!("{prefix}.declared_widening.{table}"), "declared by the migration", Status::Info)
                    .detail(why.clone()),
            );
        }
        for (table, why) in &declared.narrows {
            report.push(
                Check::new(format!("{prefix}.declared_narrowing.{table}"), "declared by the migration", Status::Info)
                    .detail(why.clone()),
            );
        }
        for check in
            crate::analysis::rls::compare(&before.matrix, &after.matrix, &declared, prefix, &self.exposed_schemas)
        {
            report.push(check);
        }
        if expect == Expect::DeclaredChanges {
            let pending: Vec<(String, String)> =
                self.plan.pending.iter().map(|f| (f.file_name(), f.text.clone())).collect();
            report.push(crate::analysis::coverage::judge(&after.data, &pending));
            let losses = crate::analysis::data_loss::declared(self.plan.pending.iter().map(|f| f.text.as_str()));
            report.extend(crate::analysis::data_loss::judge(&before.data, &after.data, &losses, &before.cascades));
            let names: Vec<&str> = after.reach.iter().map(|r| r.bare.as_str()).collect();
            let uses = crate::analysis::api_reach::uses(&self.supabase_dir, &names);
            report.extend(crate::analysis::api_reach::judge(&before.reach, &after.reach, &uses));
        }
        report.extend(crate::analysis::rls::compare_doors(
            &before.matrix.doors,
            &after.matrix.doors,
            &declared,
            prefix,
        ));
        report.extend(crate::analysis::rls::compare_rpcs(&before.matrix.rpcs, &after.matrix.rpcs, &declared, prefix));
        for t in &after.matrix.untracked {
            report.push(
                Check::new(format!("{prefix}.untracked.{t}"), "table without a primary key", Status::Warn)
                    .detail(format!("{t} has RLS but no primary key: its rows cannot be tracked")),
            );
        }
    }

    /// Lints: new findings at their severity, old ones as information; plus the list of
    /// SECURITY DEFINER functions the API roles may call.
    pub fn lint_compare(&self, before: &RlsState, after: &RlsState, report: &mut Report) {
        let declared = crate::analysis::rls::Declared::parse(self.plan.pending.iter().map(|f| f.text.as_str()));
        let mut excused: std::collections::BTreeMap<String, String> =
            declared.widens.iter().map(|(o, why)| (o.clone(), format!("declared: {why}"))).collect();
        for (door, why) in crate::analysis::rls::probed_clean(&after.matrix.doors) {
            excused.entry(door).or_insert(why);
        }
        let changed = before.catalog.diff(&after.catalog).iter().map(|d| d.name().to_string()).collect();
        for check in crate::analysis::lints::compare(&before.lints, &after.lints, &changed, &excused) {
            report.push(check);
        }
    }
}

/// A matrix that covers nothing proves nothing: say so (a warning, with what would make it
/// meaningful) instead of an information line that reads like a pass.
fn matrix_coverage(matrix: &crate::analysis::rls::AccessMatrix, schemas: &[String], label: &str) -> Check {
    use crate::analysis::rls::Persona;
    let check = Check::new(format!("rls.state.{label}"), format!("access matrix {label}"), Status::Info);
    let users = matrix.personas.iter().filter(|p| matches!(p, Persona::User { .. })).count();
    let mut gaps = Vec::new();
    if matrix.tables.is_empty() {
        gaps.push(format!(
            "no table with row-level security in any project schema or storage (the API exposes {}): nothing \
             was checked",
            schemas.join(", ")
        ));
    }
    if users < 2 {
        gaps.push(format!(
            "{users} signed-in user(s) in the data: what one user can reach of another's rows was not checked; \
             seed at least two users in auth.users (with rows that belong to them)"
        ));
    }
    if !matrix.errors.is_empty() {
        gaps.push(format!(
            "these measurements failed, so the comparison cannot rely on them (never read as 0 rows):\n{}",
            matrix.errors.join("\n")
        ));
    }
    if gaps.is_empty() {
        check
    } else {
        Check { status: Status::Warn, ..check }.detail(gaps.join("\n"))
    }
}
