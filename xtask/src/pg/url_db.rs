//! The url backend: a uniquely named database on an existing server, dropped afterwards.

use anyhow::Context;
use url::Url;

use super::{connect, redact, Inner, PgOptions};

/// A uniquely named database on an existing server, dropped afterwards.
pub(super) struct ThrowawayDatabase {
    admin_url: String,
    pub(super) name: String,
}

impl ThrowawayDatabase {
    pub(super) async fn drop_database(self) -> anyhow::Result<()> {
        let mut conn = connect(&self.admin_url).await?;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))
            .execute(&mut conn)
            .await
            .with_context(|| format!("dropping throwaway database {}", self.name))?;
        Ok(())
    }
}

pub(super) async fn start_url(opts: &PgOptions) -> anyhow::Result<(String, Inner)> {
    let admin_url = opts
        .db_url
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()))
        .context("--backend url needs --db-url URL or DATABASE_URL")?;
    let mut url = Url::parse(&admin_url).context("parsing --db-url (expected postgres://…)")?;
    let name = format!("xtask_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut conn = connect(&admin_url).await?;
    sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating throwaway database {name} on {}", redact(&admin_url)))?;
    url.set_path(&format!("/{name}"));
    Ok((url.to_string(), Inner::Url(ThrowawayDatabase { admin_url, name })))
}
