//! The project's seeds, as `supabase db reset` loads them: `roles.sql` before the migrations, and
//! the files `[db.seed] sql_paths` names (or `seed.sql`), each as the migration role without a
//! history row. Here seeds load after the baseline, so the pre-migration state holds them; the
//! report says so.

use anyhow::Context;

use super::LocalDatabase;
use crate::{
    report::{Check, Report, Status},
    runner::MigrationFile,
};

impl LocalDatabase {
    pub(super) async fn load_seeds(&mut self, report: &mut Report) -> anyhow::Result<()> {
        let (files, source) = crate::supabase::config::seed_files(&self.supabase_dir)?;
        let check = Check::new("data.seed_sql", "the project's seed files load", Status::Pass);
        if files.is_empty() {
            report.push(Check { status: Status::Skip, ..check }.detail(format!("no seed file (from {source})")));
            return Ok(());
        }
        let names: Vec<String> =
            files.iter().map(|f| f.strip_prefix(&self.supabase_dir).unwrap_or(f).display().to_string()).collect();
        for (path, name) in files.iter().zip(&names) {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let file = MigrationFile { version: "seed".into(), name: name.clone(), path: path.clone(), text };
            if let Err(e) = crate::runner::run_unrecorded(&mut self.conn, &file, Some(&self.role.session)).await {
                report.push(Check { status: Status::Fail, ..check }.detail(e.to_string()));
                return Ok(());
            }
        }
        report.push(check.value(names.join(", ")).detail(format!(
            "from {source}; loaded after the baseline (the state before the pending migrations), where \
             `supabase db reset` loads them after every migration"
        )));
        Ok(())
    }

    /// `supabase/roles.sql` (the project's own roles, as `supabase db dump --role-only` writes
    /// them), loaded before the migrations as `supabase start` does.
    pub(super) async fn load_roles_sql(&mut self, report: &mut Report) -> anyhow::Result<()> {
        let path = self.supabase_dir.join("roles.sql");
        if !path.is_file() {
            return Ok(());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let file = MigrationFile { version: "roles".into(), name: "roles.sql".into(), path, text };
        let check = Check::new("data.roles_sql", "the project's roles.sql loads before the migrations", Status::Pass);
        report.push(match crate::runner::run_unrecorded(&mut self.conn, &file, Some(&self.role.session)).await {
            Ok(applied) => check.value(format!("{} statement(s)", applied.statements)),
            Err(e) => Check { status: Status::Fail, ..check }.detail(e.to_string()),
        });
        Ok(())
    }
}
