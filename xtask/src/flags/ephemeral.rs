//! The flags that choose an ephemeral Postgres: for a local run (`Pg`), and for the restore
//! that verifies a backup (`RestorePg`).

use clap::Args;

use crate::pg::{Backend, PgOptions};

/// How to get an ephemeral Postgres.
#[derive(Debug, Clone, Args)]
pub struct Pg {
    /// auto: docker if an engine answers and the image is present or can be pulled, else native
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Docker image for the docker backend [env: XTASK_PG_IMAGE] [default: supabase/postgres of the
    /// project's major, as `supabase start` pulls it; 15.8.1.085 or 17.6.1.132]
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Existing server for the url backend (a throwaway database is created there, then dropped);
    /// DATABASE_URL is read when --backend url is given without it
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
    /// Run although this Postgres is not the major config.toml's [db] major_version names (the
    /// report warns; without it the run stops)
    #[arg(long)]
    pub other_major: bool,
}

impl Pg {
    pub fn options(&self) -> PgOptions {
        PgOptions {
            backend: Some(self.backend),
            image: self.image.clone(),
            db_url: self.db_url.clone(),
            on_target_server: false,
            other_major: self.other_major,
            major: None,
        }
    }
}

/// The ephemeral Postgres a backup is restored into to verify it.
#[derive(Debug, Clone, Args)]
pub struct RestorePg {
    /// Backend for the verification restore
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    pub backend: Backend,
    /// Docker image for the verification restore [env: XTASK_PG_IMAGE]
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// With --backend url: the server for the restore's throwaway database (else DATABASE_URL)
    #[arg(long, value_name = "URL")]
    pub restore_db_url: Option<String>,
    /// With --backend url: allow the restore's throwaway database on the target's own server
    /// (refused otherwise: it would run beside production and create a database there)
    #[arg(long)]
    pub restore_on_target_server: bool,
}

impl RestorePg {
    pub fn options(&self) -> PgOptions {
        PgOptions {
            backend: Some(self.backend),
            image: self.image.clone(),
            db_url: self.restore_db_url.clone(),
            on_target_server: self.restore_on_target_server,
            other_major: true,
            major: None,
        }
    }
}
