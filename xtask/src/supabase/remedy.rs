//! True remedies for an extension this Postgres lacks, from one list: the Debian package where
//! Debian has one (`apt install postgresql-15-cron`), the PGDG repository's where only it has one
//! (marked as such), and otherwise Supabase's own image, which has every extension the platform
//! offers. Names checked against Debian bookworm and apt.postgresql.org (2026-12).

/// Where an extension's package comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Debian,
    /// apt.postgresql.org only.
    Pgdg,
}

/// (extension, package, where it is packaged).
const PACKAGES: &[(&str, &str, Source)] = &[
    ("pg_cron", "postgresql-15-cron", Source::Debian),
    ("pgtap", "postgresql-15-pgtap", Source::Debian),
    ("plpgsql_check", "postgresql-15-plpgsql-check", Source::Debian),
    ("hypopg", "postgresql-15-hypopg", Source::Debian),
    ("postgis", "postgresql-15-postgis-3", Source::Debian),
    ("pg_repack", "postgresql-15-repack", Source::Debian),
    ("pgaudit", "postgresql-15-pgaudit", Source::Debian),
    ("vector", "postgresql-15-pgvector", Source::Pgdg),
    ("http", "postgresql-15-http", Source::Pgdg),
    ("pg_hashids", "postgresql-15-pg-hashids", Source::Pgdg),
    ("pgroonga", "postgresql-15-pgdg-pgroonga", Source::Pgdg),
];

/// What to do about `extension` missing on a PostgreSQL 15 machine.
pub fn remedy(extension: &str) -> String {
    const IMAGE: &str = "run on Supabase's own image, which has every extension the platform offers: --backend docker \
                         --image supabase/postgres:15.8.1.085";
    match PACKAGES.iter().find(|(name, _, _)| *name == extension) {
        Some((_, package, Source::Debian)) => {
            format!("install it (Debian/Ubuntu: `apt install {package}`), or {IMAGE}")
        }
        Some((_, package, Source::Pgdg)) => format!(
            "install it from the PostgreSQL project's repository (apt.postgresql.org, not Debian's own: `apt install \
             {package}`), or {IMAGE}"
        ),
        None => match crate::supabase::supautils::near_extension(extension) {
            Some(near) => format!(
                "hosted Supabase has no extension `{extension}` either: did you mean `{near}`? Fix the migration's \
                 CREATE EXTENSION (on this machine, {})",
                remedy(near)
            ),
            None => {
                format!("no Debian or PGDG package of it is known to us (it ships with Supabase's platform): {IMAGE}")
            }
        },
    }
}

/// An error for a file that failed on an extension this Postgres does not have: a remedy, exit 2.
pub fn stop_for_missing_extension(
    error: &crate::runner::ApplyError,
    backend: crate::pg::Backend,
) -> anyhow::Result<()> {
    let Some(name) = error.missing_extension() else { return Ok(()) };
    if super::supautils::near_extension(&name).is_some() {
        anyhow::bail!(
            "{}:{}: extension `{name}` is not available here, and not on hosted Supabase either; this is the \
             migration, not the machine: {}",
            error.file,
            error.line,
            remedy(&name)
        );
    }
    anyhow::bail!(
        "{}:{}: extension `{name}` is not available on this Postgres ({} backend); this is the machine, not \
         the migration: {}",
        error.file,
        error.line,
        backend,
        remedy(&name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_remedy_names_a_package_that_exists_or_the_image() {
        let cases = [
            ("pg_cron", "`apt install postgresql-15-cron`"),
            ("pgtap", "`apt install postgresql-15-pgtap`"),
            ("vector", "apt.postgresql.org, not Debian's own: `apt install postgresql-15-pgvector`"),
            ("pg_net", "no Debian or PGDG package"),
            ("pgsodium", "no Debian or PGDG package"),
            ("pg_graphql", "no Debian or PGDG package"),
        ];
        for (extension, words) in cases {
            let r = remedy(extension);
            assert!(r.contains(words), "{extension}: {r}");
            assert!(r.contains("supabase/postgres:15.8.1.085"), "{extension}: {r}");
        }
        // A misspelling is not the machine's fault: the migration fails on Supabase too.
        let r = remedy("pgnet");
        assert!(r.starts_with("hosted Supabase has no extension `pgnet` either: did you mean `pg_net`?"), "{r}");
        assert_eq!(crate::supabase::supautils::near_extension("pg_net"), None);
        assert_eq!(crate::supabase::supautils::near_extension("vectr"), Some("vector"));
        // The names we used to give, which no repository has.
        for wrong in ["postgresql-15-vector", "postgresql-15-pg-cron"] {
            assert!(PACKAGES.iter().all(|(_, p, _)| *p != wrong), "{wrong}");
        }
    }
}
