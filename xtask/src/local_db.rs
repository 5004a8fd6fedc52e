//! The steps db-local-test, db-rollback-test and db-rls share, each recorded as checks:
//! start Postgres, install the Supabase layer, apply the baseline, load test data, run a phase of
//! the project's checks, apply the pending runner, run the app smoke.

mod app_steps;
mod db_tests;
mod generate;
mod rls_state;
mod seed;

use std::path::PathBuf;

pub use rls_state::{Expect, RlsState};

use anyhow::Context;
use sqlx::PgConnection;

use crate::{
    app_seam,
    pg::{EphemeralPostgres, PgOptions},
    report::{Check, Report, Status},
    runner::{backfill::Overrides, pending::Choice, MigrationFile, MigrationPlan, Run},
};

/// What a local run is given, from its command's flags: the project, the Postgres to start,
/// which migrations are pending, and how backfill files run.
#[derive(Debug, Clone)]
pub struct Setup {
    pub supabase_dir: PathBuf,
    pub pg: PgOptions,
    pub pending: Choice,
    pub batch: Overrides,
}

pub struct LocalDatabase {
    pub pg: EphemeralPostgres,
    pub conn: PgConnection,
    pub plan: MigrationPlan,
    pub supabase_dir: PathBuf,
    /// Why the app-specific steps do not apply, when they do not.
    pub app_missing: Option<String>,
    /// The schemas the API exposes (`[api] schemas` in config.toml; default `public`).
    pub exposed_schemas: Vec<String>,
    /// The project's access-token hook function (`schema.function`), which shapes personas' claims.
    pub access_token_hook: Option<String>,
    /// Who files run as here: hosted Supabase's non-superuser `postgres` where possible.
    pub role: crate::supabase::layer::MigrationRole,
    /// The platform generation reproduced, and whether its grants switch has happened yet.
    platform: crate::supabase::platform::Platform,
    switched: bool,
    /// The command's `--batch-size` / `--batch-pause`.
    batch: Overrides,
    /// Whether each of the project's test files passed at the baseline (by `tests.<phase>` stem).
    test_outcomes: std::collections::BTreeMap<String, bool>,
    /// Seed files that need what the pending migrations create: loaded after them.
    deferred_seeds: Vec<PathBuf>,
    /// The tables the generator filled at the baseline (when the app contract is absent), and its
    /// seed: after the pending migrations it fills the tables they add.
    generated: Option<(std::collections::BTreeSet<String>, u64)>,
    /// What the generator wrote (hidden from the project's own tests).
    generated_data: crate::analysis::pgtap::Hidden,
    /// Who each generated row was made for (table, key text, user), for the matrix's "own".
    generated_owners: Vec<(String, String, uuid::Uuid)>,
    app_client: Option<app_seam::Client>,
}

impl LocalDatabase {
    /// Reads the project, starts Postgres and installs the Supabase layer. Environment problems
    /// (no Postgres, unreadable folder) are errors; problems in the project are failed checks.
    pub async fn start(setup: Setup, report: &mut Report) -> anyhow::Result<LocalDatabase> {
        let Setup { supabase_dir, pg, pending, batch } = setup;
        let dir = crate::runner::scan(&supabase_dir)?;
        report.extend(dir.checks());
        let plan = crate::runner::pending::plan(&supabase_dir, &dir, &pending, report)?;
        for f in &plan.pending {
            report.silences_from(&f.file_name(), &f.path, &f.text);
        }
        report.push(
            Check::new("plan.baseline", "baseline migrations (already in production)", Status::Info)
                .value(plan.baseline.len())
                .detail(plan.reasons.join("\n")),
        );
        report.push(plan.check(&supabase_dir));

        let timer = report.phase("start Postgres");
        let pg_options = PgOptions { major: crate::supabase::platform::project_major(&supabase_dir)?, ..pg };
        let pg = EphemeralPostgres::start(&pg_options).await?;
        let took = report.record(timer);
        report.backend = Some(pg.backend().to_string());
        report.note(format!("backend {}: {}", pg.backend(), pg.reason()));
        report.push(Check::new("env.postgres", "ephemeral Postgres accepts queries", Status::Pass).value(format!(
            "{} in {} ms",
            pg.backend(),
            took.as_millis()
        )));

        let mut conn = pg.connect().await?;
        report.push(crate::supabase::platform::require_major(&mut conn, &supabase_dir, pg_options.other_major).await?);
        let timer = report.phase("install Supabase layer");
        let present = crate::supabase::layer::already_present(&mut conn).await?;
        crate::supabase::layer::install(&mut conn).await?;
        report.record(timer);
        // A fresh connection picks up the database-level search_path the layer sets.
        let mut conn = pg.connect().await?;
        let role = crate::supabase::layer::platform_role(&mut conn).await?;
        report.push(crate::supabase::layer::layer_check(&role, &present));
        report.push(crate::supabase::layer::role_check(&role));
        let exposed_schemas = crate::supabase::config::exposed_schemas(&supabase_dir)?;
        let access_token_hook = hook_check(&supabase_dir, report)?;
        let platform = crate::supabase::platform::choose(
            crate::supabase::platform::configured(&supabase_dir)?,
            &plan.baseline.iter().map(|f| f.version.as_str()).collect::<Vec<_>>(),
            &plan.pending.iter().map(|f| f.version.as_str()).collect::<Vec<_>>(),
        );
        report.push(crate::supabase::platform::check(&platform));
        let mut db = LocalDatabase {
            pg,
            conn,
            plan,
            supabase_dir,
            app_missing: None,
            exposed_schemas,
            access_token_hook,
            role,
            platform,
            switched: false,
            batch,
            test_outcomes: Default::default(),
            deferred_seeds: Vec::new(),
            generated: None,
            generated_data: Default::default(),
            generated_owners: Vec::new(),
            app_client: None,
        };
        db.load_roles_sql(report).await?;
        Ok(db)
    }

    /// The command's `--batch-size` / `--batch-pause`.
    pub fn batch(&self) -> Overrides {
        self.batch
    }

    /// Runs the rollback script of `version` as the platform's migration role, with the
    /// command's batching, and deletes the version's history row.
    pub async fn roll_back(
        &mut self,
        version: &str,
        script: &std::path::Path,
    ) -> Result<crate::runner::Applied, crate::runner::ApplyError> {
        let run = Run { as_role: Some(&self.role.session), batch: self.batch };
        crate::runner::roll_back_as(&mut self.conn, version, script, run).await
    }

    /// Applies the baseline; false (with a failed check) when a file fails. An extension this
    /// Postgres lacks is an environment error, not a finding.
    pub async fn apply_baseline(&mut self, report: &mut Report) -> anyhow::Result<bool> {
        let timer = report.phase("apply baseline");
        let files = self.plan.baseline.clone();
        let at = self.platform.switch_at.unwrap_or(files.len()).min(files.len());
        let run = Run { as_role: Some(&self.role.session), batch: self.batch };
        let mut result = apply_all(&mut self.conn, &files[..at], run, &timer).await;
        // Before the state the pending migrations are judged against is measured.
        if result.is_ok() {
            self.switch_grants().await?;
        }
        if result.is_ok() && at < files.len() {
            let run = Run { as_role: Some(&self.role.session), batch: self.batch };
            result = apply_all(&mut self.conn, &files[at..], run, &timer).await;
        }
        let took = report.record(timer);
        match result {
            Ok(_) => {
                report.push(Check::new("baseline.apply", "baseline migrations apply", Status::Pass).value(format!(
                    "{} file(s) in {} ms",
                    files.len(),
                    took.as_millis()
                )));
                Ok(true)
            }
            Err(e) => {
                crate::supabase::remedy::stop_for_missing_extension(&e, self.pg.backend())?;
                report.push(
                    Check::new("baseline.apply", "baseline migrations apply", Status::Fail).detail(e.to_string()),
                );
                Ok(false)
            }
        }
    }

    /// Whether the app crate's contract holds here; records a check either way.
    pub async fn detect_app(&mut self, report: &mut Report) -> anyhow::Result<()> {
        let client = app_seam::connect(self.pg.url()).await.context("connecting the app client")?;
        let missing = app_seam::missing_contract(&client).await?;
        if missing.is_empty() {
            report.push(Check::new("app.contract", "the app crate's tables and RPCs exist", Status::Pass));
            self.app_client = Some(client);
        } else {
            let why = format!(
                "this project lacks what the app crate (our chat app) uses: {}; the app-specific \
                 steps (test-data generator, app smoke) do not apply",
                missing.join(", ")
            );
            report.push(Check::new("app.contract", "the app crate's tables and RPCs exist", Status::Skip).detail(&why));
            self.app_missing = Some(why);
        }
        Ok(())
    }

    pub fn app(&self) -> Option<&app_seam::Client> {
        self.app_client.as_ref()
    }

    /// The app's generator (if the app applies), then the project's `seed.sql` (if it exists).
    pub async fn load_data(&mut self, size: app_seam::FixtureSize, report: &mut Report) -> anyhow::Result<()> {
        if self.app_missing.is_some() {
            self.load_seeds(report).await?;
            // The project's own seed first (its users and rows), then generated rows on top.
            return self.generate(size.seed, None, report).await;
        } else {
            let timer = report.phase("load test data");
            let mut tx = sqlx::Connection::begin(&mut self.conn).await?;
            let loaded = app_seam::load_fixture(&mut tx, size).await;
            let check = match loaded {
                Ok(stats) => {
                    tx.commit().await?;
                    let took = report.record(timer);
                    let rows = stats.rows();
                    Check::new("data.generate", "deterministic test data", Status::Pass).value(format!(
                        "{}; {rows} rows in {} ms ({:.0} rows/s)",
                        app_seam::describe(&stats),
                        took.as_millis(),
                        rows as f64 / took.as_secs_f64().max(1e-6)
                    ))
                }
                Err(e) => {
                    report.record(timer);
                    Check::new("data.generate", "deterministic test data", Status::Fail)
                        .detail(format!("loading the generated data failed: {e}"))
                }
            };
            report.push(check);
        }
        self.load_seeds(report).await?;
        Ok(())
    }

    /// Runs `checks/<phase>/*.sql` (ids `<prefix><phase>.<id>`); a missing folder is a skip
    /// that says so.
    pub async fn run_checks(&mut self, phase: &str, prefix: &str, report: &mut Report) -> anyhow::Result<()> {
        let timer = report.phase(&format!("{phase} checks"));
        let results = crate::analysis::checks::run(&mut self.conn, &self.supabase_dir, phase).await?;
        report.record(timer);
        if results.is_empty() {
            let folder = self.supabase_dir.join("checks").join(phase);
            report.push(
                Check::new(format!("{prefix}{phase}.checks"), format!("{phase} checks"), Status::Skip)
                    .detail(format!("no check files in {}", folder.display())),
            );
        }
        for check in results {
            report.push(Check { id: format!("{prefix}{}", check.id), ..check });
        }
        Ok(())
    }

    /// Applies the pending runner, one check per file; false if one failed.
    pub async fn apply_pending(&mut self, id_prefix: &str, report: &mut Report) -> anyhow::Result<bool> {
        let timer = report.phase("apply pending migrations");
        let files = self.plan.pending.clone();
        for file in &files {
            timer.set_message(file.file_name());
            if !self.apply_one(file, id_prefix, report).await? {
                report.record(timer);
                return Ok(false);
            }
        }
        report.record(timer);
        Ok(true)
    }

    /// Applies one pending file as check `<id_prefix>.<version>`; false when it failed.
    pub async fn apply_one(
        &mut self,
        file: &MigrationFile,
        id_prefix: &str,
        report: &mut Report,
    ) -> anyhow::Result<bool> {
        self.switch_grants().await?;
        let id = format!("{id_prefix}.{}", file.version);
        let title = format!("{} applies", file.file_name());
        match crate::runner::apply_as(
            &mut self.conn,
            file,
            Run { as_role: Some(&self.role.session), batch: self.batch },
        )
        .await
        {
            Ok(applied) => {
                report.push(crate::runner::applied_check(id, title, &applied));
                if let Some(stats) = &applied.backfill {
                    let rows = crate::runner::backfill::rerun_rows(&mut self.conn, &file.text).await?;
                    report.push(crate::runner::outcome::rerun_check(&file.version, stats.rows, rows));
                }
                Ok(true)
            }
            Err(e) => {
                crate::supabase::remedy::stop_for_missing_extension(&e, self.pg.backend())?;
                let left = crate::runner::applied_versions(&mut self.conn).await?;
                let recorded = left.iter().any(|(v, _, _)| v == &file.version);
                report.push(crate::runner::failed_check(id, title, &e, recorded, None));
                Ok(false)
            }
        }
    }

    /// From here on, new objects get only the grants the migrations give (once per run).
    async fn switch_grants(&mut self) -> anyhow::Result<()> {
        if self.switched || self.platform.switch_at.is_none() {
            return Ok(());
        }
        let role = match &self.role.session.role {
            Some(role) => role.clone(),
            None => sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut self.conn).await?,
        };
        crate::supabase::platform::switch(&mut self.conn, &role).await?;
        self.switched = true;
        Ok(())
    }

    pub async fn close(self, report: &mut Report) -> anyhow::Result<()> {
        let timer = report.phase("tear down");
        if let Some(client) = self.app_client {
            client.pool().close().await;
        }
        drop(self.conn);
        self.pg.close().await?;
        report.record(timer);
        Ok(())
    }
}

/// The project's custom access-token hook, said in the report: a function shapes the personas'
/// claims as Supabase Auth's tokens; an HTTP hook cannot be called here, which the report warns.
fn hook_check(supabase_dir: &std::path::Path, report: &mut Report) -> anyhow::Result<Option<String>> {
    use crate::supabase::config::AccessTokenHook;
    let check =
        Check::new("env.access_token_hook", "the project's custom access-token hook shapes the claims", Status::Info);
    Ok(match crate::supabase::config::access_token_hook(supabase_dir)? {
        None => None,
        Some(AccessTokenHook::Function(f)) => {
            report.push(
                check
                    .value(&f)
                    .detail("every signed-in persona's claims pass through it, as Supabase Auth's tokens do"),
            );
            Some(f)
        }
        Some(AccessTokenHook::Http(uri)) => {
            report.push(Check { status: Status::Warn, ..check }.value(&uri).detail(
                "an HTTP hook cannot be called from the database: personas carry Supabase Auth's claims without it, \
                 so policies that read claims the hook adds are not exercised as in production",
            ));
            None
        }
    })
}

/// Applies `files` in order, stopping at the first error.
pub async fn apply_all(
    conn: &mut PgConnection,
    files: &[MigrationFile],
    run: Run<'_>,
    timer: &crate::report::PhaseTimer,
) -> Result<Vec<crate::runner::Applied>, crate::runner::ApplyError> {
    let mut applied = Vec::new();
    for file in files {
        timer.set_message(file.file_name());
        applied.push(crate::runner::apply_as(conn, file, run).await?);
    }
    Ok(applied)
}
