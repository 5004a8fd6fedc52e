//! Backups that count: roles, schema and data (COPY) as plain SQL in `backups/<UTC timestamp>/`,
//! a manifest with sizes, SHA-256 and the row counts seen in the same snapshot as the data dump,
//! then a verification that restores it into an ephemeral Postgres and compares row counts and
//! the catalog with the target. Only a verified backup counts for `db-push`.

mod dump;
mod private;
mod restore;

use dump::{count_rows, dump_direct};
use private::{ignore_in_git, make_private, private_dir, tracked_by_git, write_private};
use restore::{refuse_target_server, restore};

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::{
    analysis::catalog::CatalogSnapshot,
    pg::PgOptions,
    production::{Mode, Session, TargetIdentity},
    report::{Check, Report, Status},
    supabase::cli::SupabaseCli,
};

pub const FILES: [&str; 3] = ["roles.sql", "schema.sql", "data.sql"];
/// The target's catalog when the backup was taken (what verification compares a restore with).
pub(super) const CATALOG: &str = "catalog.json";
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub ok: bool,
    pub at: DateTime<Utc>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// host:port/database of the target (no user, no password), for people: not what binds it.
    pub target: String,
    /// Which database it is, as the database said (a backup counts only for this one).
    #[serde(default)]
    pub identity: Option<TargetIdentity>,
    pub mode: String,
    pub created_at: DateTime<Utc>,
    pub files: Vec<FileEntry>,
    /// Rows per table, counted in the data dump's snapshot (direct mode) or right after it.
    pub tables: BTreeMap<String, i64>,
    pub verified: Option<Verification>,
}

impl Manifest {
    pub fn read(dir: &Path) -> anyhow::Result<Manifest> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    fn write(&self, dir: &Path) -> anyhow::Result<()> {
        write_private(&dir.join("manifest.json"), &(serde_json::to_string_pretty(self)? + "\n"))
    }
}

/// Takes a backup of the session's target into a new folder under `root`, its counts and catalog
/// read through the session; returns the folder.
pub async fn take(
    session: &mut Session,
    supabase_dir: &Path,
    root: &Path,
    report: &mut Report,
) -> anyhow::Result<PathBuf> {
    let target = session.target().clone();
    let created_at = Utc::now();
    let dir = private_dir(root, &created_at.format("%Y%m%dT%H%M%S%.3fZ").to_string())?;
    // Absolute: the supabase CLI resolves paths against its own --workdir.
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("resolving {}", dir.display()))?;
    keep_out_of_git(root, report);
    let timer = report.phase("backup");
    let dumped = dump(session, supabase_dir, &dir).await;
    // A backup that did not complete leaves nothing behind (it may hold half the data).
    let (tables, catalog) = match dumped {
        Ok(dumped) => dumped,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.context(format!("taking the backup (nothing of it was kept in {})", dir.display())));
        }
    };
    // What verification compares the restore with: the target as it was when the backup was taken.
    write_private(&dir.join(CATALOG), &(serde_json::to_string_pretty(&catalog)? + "\n"))?;
    let files =
        FILES.iter().chain([&CATALOG]).map(|name| file_entry(&dir, name)).collect::<anyhow::Result<Vec<_>>>()?;
    let bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let manifest = Manifest {
        target: target.fingerprint(),
        identity: Some(target.identify().await?),
        mode: match target.mode {
            Mode::Direct => "direct".into(),
            Mode::Linked { .. } => "linked".into(),
        },
        created_at,
        files,
        tables,
        verified: None,
    };
    manifest.write(&dir)?;
    let took = report.record(timer);
    report.push(
        Check::new("backup.taken", "roles, schema and data written", Status::Pass)
            .value(format!("{} bytes, {} tables, {} ms", bytes, manifest.tables.len(), took.as_millis()))
            .detail(dir.display().to_string()),
    );
    Ok(dir)
}

/// A backups folder git would commit is a leak waiting for `git add -A`: say so, and on a
/// terminal offer to add it to `.gitignore`.
fn keep_out_of_git(root: &Path, report: &mut Report) {
    let Some((top, pattern)) = tracked_by_git(root) else { return };
    let check = Check::new("backup.gitignore", "the backups folder is kept out of git", Status::Warn);
    let term = console::Term::stderr();
    if term.is_term() && console::user_attended() {
        let _ = term.write_line(&format!(
            "{} is inside the git repository {} and not ignored: add `{pattern}` to its .gitignore? [y/N]",
            root.display(),
            top.display()
        ));
        if term.read_line().is_ok_and(|a| a.trim().eq_ignore_ascii_case("y")) {
            if let Err(e) = ignore_in_git(&top, &pattern) {
                report.push(check.detail(format!("{e:#}")));
            } else {
                report.push(Check { status: Status::Pass, ..check }.value(format!("{pattern} added to .gitignore")));
            }
            return;
        }
    }
    report.push(check.value(root.display()).detail(format!(
        "{} is inside the git repository {} and not ignored: `git add -A` would stage database dumps (password hashes \
         and every row); run: echo '{pattern}' >> {}",
        root.display(),
        top.display(),
        top.join(".gitignore").display()
    )));
}

/// The three files into `dir`, with the row counts and catalog they hold.
async fn dump(
    session: &mut Session,
    supabase_dir: &Path,
    dir: &Path,
) -> anyhow::Result<(BTreeMap<String, i64>, CatalogSnapshot)> {
    Ok(match &session.target().mode {
        Mode::Direct => dump_direct(session, dir).await?,
        Mode::Linked { .. } => {
            SupabaseCli::new(supabase_dir)?.dump(&dir.join(FILES[0]), &dir.join(FILES[1]), &dir.join(FILES[2]))?;
            for name in FILES {
                make_private(&dir.join(name))?;
            }
            let mut tx = session.read().begin().await?;
            (count_rows(&mut tx).await?, CatalogSnapshot::take(&mut tx).await?)
        }
    })
}

/// Size and SHA-256 of a backup file, streamed (a dump never sits in memory whole).
fn file_entry(dir: &Path, name: &str) -> anyhow::Result<FileEntry> {
    let read = || format!("reading {}/{name}", dir.display());
    let mut file = std::fs::File::open(dir.join(name)).with_context(read)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).with_context(read)?;
    Ok(FileEntry { name: name.into(), bytes, sha256: hex(&hasher.finalize()) })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Verifies the backup in `dir`: checksums, then a restore into an ephemeral Postgres whose row
/// counts must equal the manifest's and whose catalog must equal the one recorded when the backup
/// was taken. The first verification's verdict is written to the manifest; later ones (`db-backup
/// --verify`) only report, and never edit it.
pub async fn verify(dir: &Path, pg: &PgOptions, report: &mut Report) -> anyhow::Result<bool> {
    let mut manifest = Manifest::read(dir)?;
    let mut problems = Vec::new();
    for entry in &manifest.files {
        match file_entry(dir, &entry.name) {
            Ok(now) if now.sha256 == entry.sha256 && now.bytes == entry.bytes => {}
            Ok(now) => problems.push(format!(
                "{}: {} bytes, sha256 {} — the manifest says {} bytes, sha256 {} (corrupted or truncated)",
                entry.name, now.bytes, now.sha256, entry.bytes, entry.sha256
            )),
            Err(e) => problems.push(format!("{}: {e:#}", entry.name)),
        }
    }
    report.push(if problems.is_empty() {
        Check::new("backup.checksums", "backup files match their manifest", Status::Pass).value(manifest.files.len())
    } else {
        Check::new("backup.checksums", "backup files match their manifest", Status::Fail).detail(problems.join("\n"))
    });

    if problems.is_empty() {
        refuse_target_server(&manifest, pg).await?;
        let timer = report.phase("restore backup");
        let restored = restore(dir, pg).await;
        report.record(timer);
        match restored {
            Err(e) => {
                let p = format!("restoring the backup failed: {e:#}");
                report.push(Check::new("backup.restore", "the backup restores", Status::Fail).detail(&p));
                problems.push(p);
            }
            Ok((counts, catalog)) => {
                report.push(Check::new("backup.restore", "the backup restores", Status::Pass));
                let mut diffs: Vec<String> = Vec::new();
                for (table, n) in &manifest.tables {
                    let got = counts.get(table).copied().unwrap_or(-1);
                    if got != *n {
                        diffs.push(format!("{table}: {got} rows restored, {n} in the target"));
                    }
                }
                report.push(if diffs.is_empty() {
                    Check::new("backup.row_counts", "restored row counts equal the target's", Status::Pass)
                        .value(format!("{} tables, {} rows", counts.len(), manifest.tables.values().sum::<i64>()))
                } else {
                    Check::new("backup.row_counts", "restored row counts equal the target's", Status::Fail)
                        .detail(diffs.join("\n"))
                });
                problems.extend(diffs);
                problems.extend(catalog_check(dir, &catalog, report)?);
            }
        }
    }
    let ok = problems.is_empty();
    match &manifest.verified {
        None => {
            manifest.verified = Some(Verification { ok, at: Utc::now(), problems });
            manifest.write(dir)?;
        }
        Some(earlier) => report.note(format!(
            "the manifest keeps its first verdict ({} on {}); this verification is only reported",
            if earlier.ok { "verified" } else { "failed" },
            earlier.at.format("%Y-%m-%d %H:%M:%SZ")
        )),
    }
    Ok(ok)
}

/// The restored catalog against the one recorded with the backup; the problems found.
fn catalog_check(dir: &Path, restored: &CatalogSnapshot, report: &mut Report) -> anyhow::Result<Vec<String>> {
    let check =
        Check::new("backup.catalog", "restored catalog equals the target's when the backup was taken", Status::Pass);
    let Ok(text) = std::fs::read_to_string(dir.join(CATALOG)) else {
        report.push(Check { status: Status::Warn, ..check }.detail(format!(
            "not compared: {} has no {CATALOG} (taken by an older version of the tool); take a new backup",
            dir.display()
        )));
        return Ok(Vec::new());
    };
    let recorded: CatalogSnapshot =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", dir.join(CATALOG).display()))?;
    let problems: Vec<String> = recorded.diff(restored).iter().map(|d| d.describe_after_restore()).collect();
    report.push(if problems.is_empty() {
        check.value(format!("{} objects", recorded.objects.len()))
    } else {
        Check { status: Status::Fail, ..check }
            .value(format!("{} difference(s)", problems.len()))
            .detail(problems.join("\n"))
    });
    Ok(problems)
}

/// The newest verified backup of `target` under `root` younger than `max_age` whose files still
/// match their checksums.
pub fn latest_verified(root: &Path, target: &TargetIdentity, max_age: Duration) -> Option<(PathBuf, Manifest)> {
    let entries = std::fs::read_dir(root).ok()?;
    let mut found: Vec<(PathBuf, Manifest)> = entries
        .flatten()
        .filter_map(|e| Manifest::read(&e.path()).ok().map(|m| (e.path(), m)))
        // The same database as the database says, not the same host:port/db (a pooler serves many).
        .filter(|(_, m)| m.identity.as_ref().is_some_and(|i| i.same_as(target)))
        .filter(|(_, m)| m.verified.as_ref().is_some_and(|v| v.ok))
        // Its files must still be what was verified: a corrupted backup never counts.
        .filter(|(dir, m)| {
            m.files
                .iter()
                .all(|f| file_entry(dir, &f.name).is_ok_and(|now| now.sha256 == f.sha256 && now.bytes == f.bytes))
        })
        .filter(|(_, m)| (Utc::now() - m.created_at).to_std().is_ok_and(|age| age <= max_age))
        .collect();
    found.sort_by_key(|(_, m)| m.created_at);
    found.pop()
}
