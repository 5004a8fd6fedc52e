//! `cargo xtask db-rollback-new`: writes the rollback script of each pending migration that has
//! none, from what the database says (the catalog before and after the file, on an ephemeral
//! Postgres), then proves it with db-rollback-test's stepwise proof. What no statement can undo
//! is said in the script's header and as warnings.

mod generate;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use crate::{
    analysis::{catalog::CatalogSnapshot, data_snapshot::DataSnapshot},
    flags::{DbRollbackNew, DbRollbackTest},
    local_db::LocalDatabase,
    report::{formats::Format, run_command, Check, Outcome, Report, Status},
    runner::{self, MigrationFile},
};

impl DbRollbackNew {
    pub async fn run(self, format: Format) -> anyhow::Result<Outcome> {
        let json = self.local.project.json.clone();
        run_command("db-rollback-new", json.as_deref(), format, async |report| self.run_into(report).await).await
    }

    pub async fn run_into(&self, report: &mut Report) -> anyhow::Result<()> {
        let supabase_dir = &self.local.project.supabase_dir;
        let files = runner::scan(supabase_dir)?.files;
        let scripts = runner::scan_rollbacks(supabase_dir)?;
        let (wanted, why) = choose(&files, &scripts, &self.versions, self.local.pending.since.as_deref(), self.force)?;
        let check = Check::new("rollback_new.plan", "the migrations whose rollback is written", Status::Info);
        let Some(first) = wanted.first() else {
            report.push(check.value("none").detail(why));
            return Ok(());
        };
        report.push(
            check.value(wanted.len()).detail(format!(
                "{why}: {}",
                wanted.iter().map(MigrationFile::file_name).collect::<Vec<_>>().join(", ")
            )),
        );
        let mut local = self.local.clone();
        local.pending.since = Some(first.version.clone());
        local.pending.base = None;
        let mut db = LocalDatabase::start(local.setup()?, report).await?;
        let written = self.write_all(&mut db, &wanted, report).await;
        db.close(report).await?;
        if !written? {
            return Ok(());
        }
        // Proven on the spot: every script, each alone and all together.
        DbRollbackTest { local }.run_into(report).await
    }

    /// Applies the pending files one by one and writes the rollback of each wanted one; false when
    /// a file did not apply (nothing to prove).
    async fn write_all(
        &self,
        db: &mut LocalDatabase,
        wanted: &[MigrationFile],
        report: &mut Report,
    ) -> anyhow::Result<bool> {
        if !db.apply_baseline(report).await? {
            return Ok(false);
        }
        // Rows for the files to act on: what a backfill fills or an UPDATE changes is measured.
        db.detect_app(report).await?;
        db.load_data(self.local.data.size(), report).await?;
        let rollbacks = self.local.project.supabase_dir.join("rollbacks");
        for file in db.plan.pending.clone() {
            let wants = wanted.iter().any(|w| w.version == file.version);
            let before = if wants { Some(before_state(&mut db.conn).await?) } else { None };
            if !db.apply_one(&file, "rollback_new.apply", report).await? {
                return Ok(false);
            }
            let Some((snapshot, functions, data, filled)) = before else { continue };
            let after = CatalogSnapshot::take_everything(&mut db.conn).await?;
            let change = data_change(&mut db.conn, &data, &filled, &file.text).await?;
            let concurrently = file.text.to_ascii_lowercase().contains("concurrently");
            let generated = generate::rollback(&snapshot, &after, &functions, &change, concurrently);
            let path = rollbacks.join(file.file_name());
            let written = write_script(&path, &file, &generated, self.force)?;
            let id = format!("rollback_new.write.{}", file.version);
            let status = if generated.irreversible.is_empty() { Status::Pass } else { Status::Warn };
            let mut check = Check::new(id, format!("the rollback of {} is written", file.file_name()), status)
                .value(format!("{} ({} statement(s))", written.display(), generated.statements.len()));
            if !generated.irreversible.is_empty() {
                check = check.detail(format!("what it cannot undo:\n{}", generated.irreversible.join("\n")));
            }
            report.push(check);
        }
        Ok(true)
    }
}

/// What a file is compared with: the catalog, each function's definition, the rows, and the
/// values per column.
type Before = (CatalogSnapshot, BTreeMap<String, String>, DataSnapshot, BTreeMap<String, i64>);

/// The state before a file: the catalog, each function's definition (`pg_get_functiondef`),
/// keyed as the catalog names functions, the rows, and how many values each column holds.
async fn before_state(conn: &mut sqlx::PgConnection) -> anyhow::Result<Before> {
    let snapshot = CatalogSnapshot::take_everything(conn).await?;
    let data = DataSnapshot::take_for_proof(conn, &snapshot).await?;
    let filled = values_per_column(conn, &data).await?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT 'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' \
                || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind IN ('f', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok((snapshot, rows.into_iter().collect(), data, filled))
}

/// Values (not NULL) per column (`public.t.c`) of the tables the proof compares.
async fn values_per_column(
    conn: &mut sqlx::PgConnection,
    data: &DataSnapshot,
) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for (table, t) in &data.tables {
        if t.columns.is_empty() {
            continue;
        }
        let counts = t.columns.iter().map(|c| format!("count({c})")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT jsonb_build_array({counts}) FROM {table}");
        let Ok(values) = sqlx::query_scalar::<_, serde_json::Value>(&sql).fetch_one(&mut *conn).await else { continue };
        for (c, n) in t.columns.iter().zip(values.as_array().into_iter().flatten()) {
            out.insert(format!("{table}.{c}"), n.as_i64().unwrap_or(0));
        }
    }
    Ok(out)
}

/// What the file did to the rows: the columns it filled, and the rows it changed otherwise or
/// deleted.
async fn data_change(
    conn: &mut sqlx::PgConnection,
    before: &DataSnapshot,
    filled_before: &BTreeMap<String, i64>,
    forward: &str,
) -> anyhow::Result<generate::DataChange> {
    let now = DataSnapshot::take_like(conn, before).await?;
    let values = values_per_column(conn, &now).await?;
    let cmp = before.compare(&now);
    // Filled: a column without a value before that rows present before now hold (a backfill);
    // rows the file inserted are not a backfill.
    let changed_tables: std::collections::BTreeSet<&str> = cmp.changed.iter().map(|(t, _)| t.as_str()).collect();
    let filled: Vec<String> = values
        .iter()
        .filter(|(c, n)| **n > 0 && filled_before.get(*c) == Some(&0))
        .filter(|(c, _)| c.rsplit_once('.').is_some_and(|(t, _)| changed_tables.contains(t)))
        .map(|(c, _)| c.clone())
        .collect();
    let mut rows: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (table, _) in &cmp.changed {
        if !filled.iter().any(|c| c.rsplit_once('.').is_some_and(|(t, _)| t == table)) {
            rows.entry(table.clone()).or_default().0 += 1;
        }
    }
    for (table, _) in &cmp.missing {
        rows.entry(table.clone()).or_default().1 += 1;
    }
    // Rows the file inserted, found again by a key its text names (`values (100, …)`, a bucket's
    // id, a cron job's name); keys made at run time (gen_random_uuid(), identity) differ in
    // production, so those rows are counted and said instead.
    let mut added = Vec::new();
    let mut unnamed: BTreeMap<String, usize> = BTreeMap::new();
    for (table, key) in &cmp.added {
        let columns = before.tables.get(table).map(|t| t.key.clone()).unwrap_or_default();
        let named = if table == "cron.job" {
            sqlx::query_scalar::<_, Option<String>>("SELECT jobname FROM cron.job WHERE jobid::text = $1")
                .bind(key)
                .fetch_optional(&mut *conn)
                .await?
                .flatten()
                .map(|name| (vec!["jobname".to_string()], name))
        } else {
            names_key(forward, key).then(|| (columns, key.clone()))
        };
        match named {
            Some((columns, key)) => added.push((table.clone(), columns, key)),
            None => *unnamed.entry(table.clone()).or_default() += 1,
        }
    }
    let notes = unnamed
        .into_iter()
        .map(|(table, n)| {
            format!(
                "table {table}: the file inserted {n} row(s) whose keys are made as it runs (so they differ in \
                 production); the rollback cannot name them: delete them by what identifies them"
            )
        })
        .collect();
    Ok(generate::DataChange { filled, rows: rows.into_iter().map(|(t, (c, d))| (t, c, d)).collect(), added, notes })
}

/// Whether the file's text names `key`: as a quoted literal (`'covers'`), or a number standing
/// alone (`values (100, …)`).
fn names_key(text: &str, key: &str) -> bool {
    if text.contains(&format!("'{key}'")) {
        return true;
    }
    !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && text.match_indices(key).any(|(i, _)| {
            let before = text[..i].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
            let after = text[i + key.len()..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric() && c != '_');
            before && after
        })
}

/// Which files get a script: the versions asked for; else `--since` on; else the trailing files
/// without a rollback script (the newest file when none has one). With the reason.
fn choose(
    files: &[MigrationFile],
    scripts: &BTreeMap<String, PathBuf>,
    versions: &[String],
    since: Option<&str>,
    force: bool,
) -> anyhow::Result<(Vec<MigrationFile>, String)> {
    if files.is_empty() {
        anyhow::bail!(
            "no migration the supabase CLI would run is in supabase/migrations/ (files are named \
             <version>_<name>.sql, e.g. 20250101000000_init.sql; `cargo xtask db-lint` lists the files it skips)"
        );
    }
    if !versions.is_empty() {
        let mut out = Vec::new();
        for v in versions {
            let Some(f) = files.iter().find(|f| &f.version == v) else {
                anyhow::bail!(
                    "no migration has version {v}: pass versions from supabase/migrations/ (e.g. {})",
                    files.last().map_or("20250101000000", |f| f.version.as_str())
                );
            };
            out.push(f.clone());
        }
        out.sort_by(|a, b| a.version.cmp(&b.version));
        return Ok((out, "the versions asked for".into()));
    }
    if let Some(since) = since {
        let out: Vec<MigrationFile> = files
            .iter()
            .filter(|f| f.version.as_str() >= since && (force || !scripts.contains_key(&f.version)))
            .cloned()
            .collect();
        let which = if force { "every one (--force)" } else { "those without a rollback script" };
        return Ok((out, format!("from --since {since}, {which}")));
    }
    let trailing: Vec<MigrationFile> = files
        .iter()
        .rev()
        .take_while(|f| !scripts.contains_key(&f.version))
        .cloned()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if trailing.len() == files.len() && files.len() > 1 {
        let newest = files.last().cloned().into_iter().collect();
        return Ok((
            newest,
            "no migration has a rollback script: the newest one (pass versions or --since for more)".into(),
        ));
    }
    let why = if trailing.is_empty() {
        "every trailing migration has a rollback script (pass versions to write one again, with --force)".to_string()
    } else {
        "the trailing migrations without a rollback script".to_string()
    };
    Ok((trailing, why))
}

/// Writes the script (or `<name>.sql.new` beside an existing one, unless `force`); its path.
fn write_script(
    path: &Path,
    file: &MigrationFile,
    generated: &generate::Generated,
    force: bool,
) -> anyhow::Result<PathBuf> {
    let path = if path.exists() && !force { path.with_extension("sql.new") } else { path.to_path_buf() };
    let mut text = format!(
        "-- Rollback of {}, generated by `cargo xtask db-rollback-new` from the catalog before and after it,\n\
         -- and proven by `cargo xtask db-rollback-test`. Read it before you trust it with production.\n",
        file.file_name()
    );
    if !generated.irreversible.is_empty() {
        text.push_str("--\n-- What it cannot undo:\n");
        for line in &generated.irreversible {
            text.push_str(&format!("--   - {line}\n"));
        }
    }
    text.push('\n');
    for statement in &generated.statements {
        text.push_str(statement.trim_end());
        text.push('\n');
    }
    if generated.statements.is_empty() {
        text.push_str("-- The file changed nothing the catalog records.\nSELECT 1;\n");
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, text).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_is_named_by_the_files_text_only_as_a_literal_or_a_number_alone() {
        let text =
            "insert into t (id, name) values (100, 'green'); insert into storage.buckets (id) values ('covers');";
        for (key, named) in
            [("100", true), ("10", false), ("covers", true), ("green", true), ("cover", false), ("1", false)]
        {
            assert_eq!(super::names_key(text, key), named, "{key}");
        }
    }
}
