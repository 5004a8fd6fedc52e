//! The project's seeds, as `supabase db reset` loads them: the files `[db.seed] sql_paths` names
//! (or `seed.sql`), each as the owner without a history row. Here they load after the baseline,
//! so the pre-migration state holds them; the report says so.

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
            let mut tx = sqlx::Connection::begin(&mut self.conn).await?;
            for stmt in file.statements() {
                if let Err(e) = sqlx::raw_sql(&stmt.sql).execute(&mut *tx).await {
                    report.push(
                        Check { status: Status::Fail, ..check }.detail(format!("{name}:{}: {e}", stmt.code_line())),
                    );
                    return Ok(());
                }
            }
            tx.commit().await?;
        }
        report.push(check.value(names.join(", ")).detail(format!(
            "from {source}; loaded after the baseline (the state before the pending migrations), where \
             `supabase db reset` loads them after every migration"
        )));
        Ok(())
    }
}
