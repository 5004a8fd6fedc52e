//! Which database a target is, as the database itself says: the cluster's system identifier
//! (unique per `initdb`), the server's own address (a physical clone — a replica, a restored
//! copy — keeps the identifier but not the address), the database's oid and name, and the role
//! we act as. Behind Supabase's
//! pooler every project of a region is `host:6543/postgres`, so a URL names no database;
//! backups, watch baselines and records are bound to this instead.

use std::fmt;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetIdentity {
    /// `pg_control_system().system_identifier`; `None` where the role may not read it (then
    /// nothing recorded for the target can be matched to it, and it is never assumed to be).
    pub system_identifier: Option<String>,
    /// `inet_server_addr():inet_server_port()` as the server sees the session; `None` over a
    /// local socket.
    #[serde(default)]
    pub server: Option<String>,
    pub database: String,
    pub database_oid: i64,
    pub role: String,
}

impl TargetIdentity {
    pub async fn read(conn: &mut PgConnection) -> anyhow::Result<TargetIdentity> {
        let (database, database_oid, role, server): (String, i64, String, Option<String>) = sqlx::query_as(
            "SELECT current_database()::text, (SELECT oid::bigint FROM pg_database WHERE datname = current_database()), \
                    current_user::text, host(inet_server_addr()) || ':' || inet_server_port()",
        )
        .fetch_one(&mut *conn)
        .await
        .context("reading which database the target is")?;
        // Executable by PUBLIC in stock Postgres; a platform may revoke it.
        let system_identifier: Option<String> =
            sqlx::query_scalar("SELECT system_identifier::text FROM pg_control_system()")
                .fetch_one(&mut *conn)
                .await
                .ok();
        Ok(TargetIdentity { system_identifier, server, database, database_oid, role })
    }

    /// The same database, reached as the same role: what a backup, a baseline or a record made
    /// on one target needs to count for another. An unknown cluster matches nothing.
    pub fn same_as(&self, other: &TargetIdentity) -> bool {
        self.system_identifier.is_some()
            && self.system_identifier == other.system_identifier
            && self.server == other.server
            && self.database_oid == other.database_oid
            && self.database == other.database
            && self.role == other.role
    }
}

impl fmt::Display for TargetIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cluster = self.system_identifier.as_deref().unwrap_or("unknown (pg_control_system() not readable)");
        let server = self.server.as_deref().unwrap_or("a local socket");
        write!(
            f,
            "database {} (oid {}) of cluster {cluster} at {server}, as {}",
            self.database, self.database_oid, self.role
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(system: Option<&str>, database: &str, oid: i64, role: &str) -> TargetIdentity {
        TargetIdentity {
            system_identifier: system.map(str::to_string),
            server: Some("10.0.0.5:5432".into()),
            database: database.into(),
            database_oid: oid,
            role: role.into(),
        }
    }

    #[test]
    fn only_the_same_cluster_database_and_role_are_the_same_target() {
        let prod = id(Some("7312"), "postgres", 5, "postgres");
        let cases = [
            (id(Some("7312"), "postgres", 5, "postgres"), true),
            // Another project behind the same pooler host:port/db.
            (id(Some("9999"), "postgres", 5, "postgres"), false),
            (id(Some("7312"), "postgres", 16384, "postgres"), false),
            (id(Some("7312"), "staging", 5, "postgres"), false),
            (id(Some("7312"), "postgres", 5, "readonly"), false),
            (id(None, "postgres", 5, "postgres"), false),
        ];
        for (other, same) in cases {
            assert_eq!(prod.same_as(&other), same, "{other}");
        }
        assert!(!id(None, "postgres", 5, "postgres").same_as(&id(None, "postgres", 5, "postgres")));
        // A physical clone (replica, restored copy) keeps the system identifier, not the address.
        let clone = TargetIdentity { server: Some("10.0.0.9:5432".into()), ..prod.clone() };
        assert!(!prod.same_as(&clone));
    }
}
