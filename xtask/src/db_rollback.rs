//! `cargo xtask db-rollback`: runbook phase 4. The rollback scripts of the applied pending
//! runner, newest first, each in a transaction with its history repair; then proof that the
//! target no longer holds what the migrations added.

use std::{collections::BTreeSet, path::Path};

use crate::{
    analysis::catalog::CatalogSnapshot,
    flags::DbRollback,
    pg::{EphemeralPostgres, PgOptions},
    report::{run_command, Check, Outcome, Report, Status},
    runner::MigrationPlan,
    supabase::cli::SupabaseCli,
    target::{Confirmation, Mode, Target},
};

impl DbRollback {
    pub async fn run(self) -> anyhow::Result<Outcome> {
        let json = self.project.json.clone();
        run_command("db-rollback", json.as_deref(), async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let target = Target::resolve(&self.target, &self.project.supabase_dir)?;
        let lock_timeout = self.lock_timeout.0;
        rollback(
            &target,
            &self.project.supabase_dir,
            &self.restore.options(),
            lock_timeout,
            Confirmation::from_yes(self.yes),
            report,
        )
        .await
    }
}

pub async fn rollback(
    target: &Target,
    supabase_dir: &Path,
    restore: &PgOptions,
    lock_timeout: std::time::Duration,
    confirmation: Confirmation,
    report: &mut Report,
) -> anyhow::Result<()> {
    report.note(format!("target {}", target.describe()));
    let dir = crate::runner::scan(supabase_dir)?;
    let plan = MigrationPlan::new(supabase_dir, &dir, None)?;
    let mut conn = target.connect_for_changes(lock_timeout).await?;
    let applied = crate::runner::applied_versions(&mut conn).await?;
    let to_roll: Vec<&crate::runner::MigrationFile> =
        plan.pending.iter().rev().filter(|f| applied.iter().any(|(v, _, _)| v == &f.version)).collect();
    if to_roll.is_empty() {
        report.push(
            Check::new("rollback.plan", "migrations to roll back", Status::Info)
                .value(0)
                .detail("none of the migrations with a rollback script is applied on the target"),
        );
        return Ok(());
    }
    let names: Vec<String> = to_roll.iter().map(|f| f.file_name()).collect();
    report.push(
        Check::new("rollback.plan", "migrations to roll back (newest first)", Status::Info)
            .value(to_roll.len())
            .detail(names.join("\n")),
    );
    crate::target::confirm(
        &format!("About to roll back {} on {}", names.join(", "), target.describe()),
        &target.name(),
        confirmation,
    )?;

    // What the migrations add, learnt on an ephemeral copy of the baseline.
    let added = added_objects(&plan, restore).await?;

    let cli = match &target.mode {
        Mode::Linked { .. } => Some(SupabaseCli::new(supabase_dir)?),
        Mode::Direct => None,
    };
    for file in &to_roll {
        let Some(script) = plan.rollbacks.get(&file.version) else { continue };
        let id = format!("rollback.apply.{}", file.version);
        let title = format!("rollback of {} applies", file.file_name());
        let result = match &cli {
            None => crate::runner::roll_back(&mut conn, &file.version, script).await,
            Some(_) => crate::runner::run_rollback_script(&mut conn, &file.version, script).await,
        };
        if let Err(e) = result {
            report.push(Check::new(id, title, Status::Fail).detail(e.to_string()));
            return Ok(());
        }
        if let Some(cli) = &cli {
            if let Err(e) = cli.repair_reverted(&file.version) {
                report.push(Check::new(id, title, Status::Fail).detail(format!("the script ran, but {e:#}")));
                return Ok(());
            }
        }
        report.push(Check::new(id, title, Status::Pass));
    }
    let now = CatalogSnapshot::take(&mut conn).await?;
    let left: Vec<&String> = added.iter().filter(|name| now.objects.contains_key(*name)).collect();
    report.push(if left.is_empty() {
        Check::new("rollback.leftovers", "nothing the migrations added is left", Status::Pass)
            .value(format!("{} added object(s) checked", added.len()))
    } else {
        Check::new("rollback.leftovers", "nothing the migrations added is left", Status::Fail)
            .detail(left.iter().map(|n| format!("{n} still exists")).collect::<Vec<_>>().join("\n"))
    });
    Ok(())
}

/// Objects present after the pending migrations and absent before, on an ephemeral baseline.
async fn added_objects(plan: &MigrationPlan, restore: &PgOptions) -> anyhow::Result<BTreeSet<String>> {
    let pg = EphemeralPostgres::start(restore).await?;
    let result = async {
        let mut conn = pg.connect().await?;
        crate::supabase::layer::install(&mut conn).await?;
        let mut conn = pg.connect().await?;
        for f in &plan.baseline {
            crate::runner::apply(&mut conn, f).await?;
        }
        let before = CatalogSnapshot::take(&mut conn).await?;
        for f in &plan.pending {
            crate::runner::apply(&mut conn, f).await?;
        }
        let after = CatalogSnapshot::take(&mut conn).await?;
        anyhow::Ok(after.objects.keys().filter(|k| !before.objects.contains_key(*k)).cloned().collect())
    }
    .await;
    pg.close().await?;
    result
}
