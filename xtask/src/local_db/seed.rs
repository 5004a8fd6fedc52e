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
        let mut loaded = Vec::new();
        for (i, (path, name)) in files.iter().zip(&names).enumerate() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let file = MigrationFile { version: "seed".into(), name: name.clone(), path: path.clone(), text };
            let Err(e) = crate::runner::run_unrecorded(&mut self.conn, &file, Some(&self.role.session)).await else {
                loaded.push(name.clone());
                continue;
            };
            if self.plan.pending.is_empty() || !needs_what_is_missing(&e.message) {
                report.push(Check { status: Status::Fail, ..check }.detail(e.to_string()));
                return Ok(());
            }
            // As `supabase db reset`: seeds come after every migration, and this one needs them.
            self.deferred_seeds = files[i..].to_vec();
            report.push(Check { status: Status::Warn, ..check }.value(loaded.join(", ")).detail(format!(
                "from {source}; {name} needs what the pending migrations create ({e}): it and the seed files \
                 after it load after the pending migrations, as `supabase db reset` loads every seed, so the \
                 state before the migrations lacks their rows (db-rollback-test leaves them out: its data proof \
                 covers the state before the migrations)"
            )));
            return Ok(());
        }
        report.push(check.value(names.join(", ")).detail(format!(
            "from {source}; loaded after the baseline (the state before the pending migrations), where \
             `supabase db reset` loads them after every migration"
        )));
        Ok(())
    }

    /// The seed files that needed the pending migrations, loaded now that they are applied.
    pub async fn load_deferred_seeds(&mut self, report: &mut Report) -> anyhow::Result<()> {
        let files = std::mem::take(&mut self.deferred_seeds);
        if files.is_empty() {
            return Ok(());
        }
        let check = Check::new(
            "data.seed_sql.after_pending",
            "the seed files that need the pending migrations load after them",
            Status::Pass,
        );
        let mut names = Vec::new();
        for path in &files {
            let name = path.strip_prefix(&self.supabase_dir).unwrap_or(path).display().to_string();
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let file = MigrationFile { version: "seed".into(), name: name.clone(), path: path.clone(), text };
            if let Err(e) = crate::runner::run_unrecorded(&mut self.conn, &file, Some(&self.role.session)).await {
                report.push(Check { status: Status::Fail, ..check }.detail(e.to_string()));
                return Ok(());
            }
            names.push(name);
        }
        report.push(check.value(names.join(", ")));
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

/// Whether a seed failed on an object that does not exist yet (a table, column, function, type or
/// schema a pending migration creates).
fn needs_what_is_missing(message: &str) -> bool {
    ["42P01", "42703", "42883", "42704", "3F000"].iter().any(|code| message.starts_with(&format!("ERROR {code}")))
}

impl LocalDatabase {
    /// What the generator wrote.
    pub(super) fn generated_data(&self) -> crate::analysis::pgtap::Hidden {
        self.generated_data.clone()
    }

    /// Generated rows for the project's tables (`only`: just these), reported as `data.generate`
    /// (`data.generate.after_pending` for the tables the pending migrations add).
    pub(super) async fn generate(
        &mut self,
        seed: u64,
        only: Option<&std::collections::BTreeSet<String>>,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let id = if only.is_some() { "data.generate.after_pending" } else { "data.generate" };
        let timer = report.phase("generate data from the schema");
        let anonymous = crate::supabase::config::anonymous_sign_ins(&self.supabase_dir)?;
        let generated = super::generate::generate(&mut self.conn, seed, only, anonymous).await?;
        report.record(timer);
        if only.is_none() {
            let tables = super::generate::project_tables(&mut self.conn).await?;
            self.generated = Some((tables.into_iter().collect(), seed));
        }
        for (user, _) in &generated.users {
            if !self.generated_data.users.contains(user) {
                self.generated_data.users.push(*user);
            }
        }
        self.generated_data.rows.extend(generated.inserted.iter().cloned());
        self.generated_owners.extend(generated.owners.iter().cloned());
        // After the migrations with no new table and no new bucket: nothing to say.
        if only.is_some_and(|o| o.is_empty()) && generated.rows.is_empty() && generated.unfilled.is_empty() {
            return Ok(());
        }
        report.push(super::generate::check(id, &generated, self.app_missing.as_deref()));
        Ok(())
    }

    /// After the pending migrations: rows for the tables they created.
    pub async fn generate_for_new_tables(&mut self, report: &mut Report) -> anyhow::Result<()> {
        let Some((before, seed)) = self.generated.clone() else { return Ok(()) };
        let now: std::collections::BTreeSet<String> =
            super::generate::project_tables(&mut self.conn).await?.into_iter().collect();
        // The tables the migrations created; with none, the generator still puts objects into the
        // buckets they created (objects go into every bucket that has none of ours yet).
        let new: std::collections::BTreeSet<String> = now.difference(&before).cloned().collect();
        self.generate(seed, Some(&new), report).await
    }
}
