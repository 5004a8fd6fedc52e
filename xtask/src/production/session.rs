//! One production session: the target resolved once (URL, TLS, identity) and one read-only
//! connection every step reads through — validate, backup counts, the timed queries, the watch
//! baseline, verify — which, for a command that changes the target, holds the migration lock for
//! as long as the session lives. Changes go through one more connection, opened by the step that
//! makes them.

use sqlx::PgConnection;

use super::{lock, Target};

pub struct Session {
    target: Target,
    /// Read-only (`default_transaction_read_only`, short timeouts); holds the lock when exclusive.
    read: PgConnection,
}

impl Session {
    /// A session that only reads (db-validate, db-verify, db-watch).
    pub async fn read_only(target: &Target) -> anyhow::Result<Session> {
        let read = target.connect_read_only().await?;
        Ok(Session { target: target.clone(), read })
    }

    /// A session that holds the migration lock until it is dropped: one push or rollback at a
    /// time on this target; a second one exits 2 naming the session that holds it.
    pub async fn exclusive(target: &Target, what: &str) -> anyhow::Result<Session> {
        let mut read = target.connect_read_only().await?;
        lock::acquire(&mut read, target, what).await?;
        Ok(Session { target: target.clone(), read })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The session's read-only connection.
    pub fn read(&mut self) -> &mut PgConnection {
        &mut self.read
    }
}
