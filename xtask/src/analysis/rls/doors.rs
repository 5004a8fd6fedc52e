//! The Data API's doors beside tables: every view, materialized view and foreign table in an
//! exposed schema that anon or authenticated may read, read as each persona and compared with
//! what row-level security lets that persona see of the same query. A view runs as its owner
//! unless it is `security_invoker`, a materialized view has no RLS at all, and a foreign table
//! has none either: what a persona reads through one beyond what RLS shows it is the hole.
//! Every read runs in a transaction that is rolled back.

use std::collections::BTreeMap;

use sqlx::{Connection, PgConnection, Postgres, Transaction};

use super::Persona;
use crate::supabase::act_as::act_as;

/// What kind of door a relation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorKind {
    /// `invoker`: `security_invoker = true`, so the underlying tables' RLS applies to the reader.
    View {
        invoker: bool,
    },
    MaterializedView,
    ForeignTable,
}

impl DoorKind {
    pub fn noun(self) -> &'static str {
        match self {
            DoorKind::View { invoker: true } => "view (security_invoker)",
            DoorKind::View { invoker: false } => "view (runs as its owner)",
            DoorKind::MaterializedView => "materialized view (no RLS)",
            DoorKind::ForeignTable => "foreign table (no RLS)",
        }
    }

    /// How to close it.
    pub fn remedy(self) -> &'static str {
        match self {
            DoorKind::View { .. } => {
                "recreate it `with (security_invoker = true)` so the tables' policies apply to the reader, or revoke \
                 select from anon, authenticated"
            }
            DoorKind::MaterializedView => {
                "a materialized view has no RLS: revoke select on it from anon, authenticated, or move it to a \
                 schema the API does not expose"
            }
            DoorKind::ForeignTable => {
                "a foreign table has no RLS: revoke select on it from anon, authenticated, or move it to a schema \
                 the API does not expose"
            }
        }
    }
}

/// What one persona did through a door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoorRead {
    /// `rows` read; `beyond`: how many of them RLS (the same query as the reader) does not show
    /// it; `writes_beyond`: rows it could update or delete through the door that it could not
    /// as itself.
    Read { rows: usize, beyond: usize, writes_beyond: usize },
    /// No privilege (the API refuses it too).
    Refused,
    /// The measurement failed: never counted as "0 rows".
    Failed(String),
}

/// One door and what each persona reads through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Door {
    /// `schema.name`, quoted as needed.
    pub name: String,
    pub kind: DoorKind,
    /// The API roles that may select from it (`anon`, `authenticated`).
    pub readable_by: Vec<String>,
    /// Rows in it as service_role reads them (all of them).
    pub rows: Result<usize, String>,
    pub reads: BTreeMap<Persona, DoorRead>,
}

/// The doors in `exposed` schemas an API role may read, each read as every persona but
/// service_role.
pub async fn measure(conn: &mut PgConnection, exposed: &[String], personas: &[Persona]) -> anyhow::Result<Vec<Door>> {
    let rows: Vec<(i64, String, String, bool, bool, bool)> = sqlx::query_as(
        "SELECT c.oid::bigint, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text, \
                coalesce(c.reloptions::text[] && ARRAY['security_invoker=true', 'security_invoker=on', \
                                                       'security_invoker=1'], false), \
                has_table_privilege('anon', c.oid, 'SELECT'), has_table_privilege('authenticated', c.oid, 'SELECT') \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('v', 'm', 'f') AND n.nspname = ANY($1) \
           AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                           AND d.deptype = 'e') \
         ORDER BY 2",
    )
    .bind(exposed)
    .fetch_all(&mut *conn)
    .await?;
    let mut doors = Vec::new();
    for (oid, name, relkind, invoker, anon, authenticated) in rows {
        let readable_by: Vec<String> =
            [("anon", anon), ("authenticated", authenticated)].iter().filter(|r| r.1).map(|r| r.0.into()).collect();
        if readable_by.is_empty() {
            continue;
        }
        let kind = match relkind.as_str() {
            "v" => DoorKind::View { invoker },
            "m" => DoorKind::MaterializedView,
            _ => DoorKind::ForeignTable,
        };
        let door = Door { name, kind, readable_by, rows: Ok(0), reads: BTreeMap::new() };
        doors.push(read_door(conn, oid, door, personas).await?);
    }
    Ok(doors)
}

async fn read_door(conn: &mut PgConnection, oid: i64, mut door: Door, personas: &[Persona]) -> anyhow::Result<Door> {
    let select = format!("SELECT md5(d::text) FROM {} d", door.name);
    let mut tx = conn.begin().await?;
    // Every row it holds, read as the session (service_role may have no grant on it).
    let all: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(&select).fetch_all(&mut *tx).await;
    door.rows = all.map(|r| r.len()).map_err(describe);
    tx.rollback().await?;
    // What RLS shows the reader of the same rows: the view as `security_invoker`, a materialized
    // view's query run by the reader; a foreign table has no RLS to compare with.
    let definition: Option<String> = match door.kind {
        DoorKind::MaterializedView => {
            sqlx::query_scalar("SELECT pg_get_viewdef($1::oid)").bind(oid).fetch_one(&mut *conn).await?
        }
        _ => None,
    };
    let writable = writable_column(conn, oid, door.kind).await?;
    for persona in personas.iter().filter(|p| !matches!(p, Persona::ServiceRole)) {
        let mut tx = conn.begin().await?;
        let read = match rows_as(&mut tx, persona, &select).await {
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => DoorRead::Refused,
            Err(e) => DoorRead::Failed(describe(e)),
            Ok(seen) => {
                let shown = match (&door.kind, &definition) {
                    (DoorKind::View { invoker: false }, _) => {
                        let invoker = format!("ALTER VIEW {} SET (security_invoker = true)", door.name);
                        as_owner_then(&mut tx, &invoker, persona, &select).await
                    }
                    (DoorKind::MaterializedView, Some(def)) => {
                        let query = format!("SELECT md5(d::text) FROM ({}) d", def.trim().trim_end_matches(';'));
                        rows_as(&mut tx, persona, &query).await
                    }
                    (DoorKind::ForeignTable, _) => Ok(Vec::new()),
                    _ => Ok(seen.clone()),
                };
                match shown {
                    // Refused as itself: RLS and grants show it nothing of these rows.
                    Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => {
                        DoorRead::Read { rows: seen.len(), beyond: seen.len(), writes_beyond: 0 }
                    }
                    Err(e) => DoorRead::Failed(format!("comparing with RLS: {}", describe(e))),
                    Ok(shown) => DoorRead::Read { rows: seen.len(), beyond: beyond(&seen, &shown), writes_beyond: 0 },
                }
            }
        };
        tx.rollback().await?;
        let read = match (read, &writable) {
            (DoorRead::Read { rows, beyond, .. }, Some(column)) => {
                match writes_beyond(conn, &door.name, column, persona).await? {
                    Ok(writes_beyond) => DoorRead::Read { rows, beyond, writes_beyond },
                    // A write probe that errored measured nothing: never "0 rows", unless the read
                    // already shows the hole.
                    Err(e) if beyond == 0 => DoorRead::Failed(format!("writing through the view: {e}")),
                    Err(_) => DoorRead::Read { rows, beyond, writes_beyond: 0 },
                }
            }
            (read, _) => read,
        };
        door.reads.insert(persona.clone(), read);
    }
    Ok(door)
}

/// Rows `persona` could update or delete through a view that runs as its owner, beyond those it
/// could as the view's invoker (each statement rolled back); the error that stopped a write
/// (other than a refused privilege, which is a measurement: nothing written).
async fn writes_beyond(
    conn: &mut PgConnection,
    view: &str,
    column: &str,
    persona: &Persona,
) -> sqlx::Result<Result<usize, String>> {
    let mut worst = 0;
    for sql in [
        format!("UPDATE {view} d SET {column} = {column} RETURNING md5(d::text)"),
        format!("DELETE FROM {view} d RETURNING md5(d::text)"),
    ] {
        let mut tx = conn.begin().await?;
        let as_is = rows_as(&mut tx, persona, &sql).await;
        tx.rollback().await?;
        let mut tx = conn.begin().await?;
        let invoker = format!("ALTER VIEW {view} SET (security_invoker = true)");
        let shown = as_owner_then(&mut tx, &invoker, persona, &sql).await;
        tx.rollback().await?;
        let as_is = match as_is {
            Ok(rows) => rows,
            Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => continue,
            Err(e) => return Ok(Err(describe(e))),
        };
        worst = worst.max(beyond(&as_is, &shown.unwrap_or_default()));
    }
    Ok(Ok(worst))
}

/// A column an UPDATE through the view may set, for a view that runs as its owner and is
/// auto-updatable; none otherwise.
async fn writable_column(conn: &mut PgConnection, oid: i64, kind: DoorKind) -> sqlx::Result<Option<String>> {
    if kind != (DoorKind::View { invoker: false }) {
        return Ok(None);
    }
    sqlx::query_scalar(
        "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 \
           AND NOT attisdropped AND pg_column_is_updatable($1::oid, attnum, false) \
           AND pg_relation_is_updatable($1::oid, false) & 20 = 20 ORDER BY attnum LIMIT 1",
    )
    .bind(oid)
    .fetch_optional(&mut *conn)
    .await
}

/// How many of `seen` are not in `shown` (as multisets).
pub fn beyond(seen: &[String], shown: &[String]) -> usize {
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for s in shown {
        *left.entry(s.as_str()).or_default() += 1;
    }
    seen.iter()
        .filter(|s| match left.get_mut(s.as_str()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .count()
}

/// `sql` as `persona`, in a savepoint rolled back, under a statement timeout.
async fn rows_as(tx: &mut Transaction<'_, Postgres>, persona: &Persona, sql: &str) -> sqlx::Result<Vec<String>> {
    sqlx::raw_sql("SAVEPOINT door; SET LOCAL statement_timeout = '10s'").execute(&mut **tx).await?;
    act_as(tx, persona).await?;
    let result = sqlx::query_scalar::<_, Option<String>>(sql).fetch_all(&mut **tx).await;
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT door").execute(&mut **tx).await?;
    result.map(|rows| rows.into_iter().map(Option::unwrap_or_default).collect())
}

/// `change` as the session's own (superuser) role, then `sql` as `persona`, both rolled back.
async fn as_owner_then(
    tx: &mut Transaction<'_, Postgres>,
    change: &str,
    persona: &Persona,
    sql: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::raw_sql("SAVEPOINT owner").execute(&mut **tx).await?;
    let result = async {
        sqlx::raw_sql(&format!("RESET ROLE; {change}")).execute(&mut **tx).await?;
        rows_as(tx, persona, sql).await
    }
    .await;
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT owner").execute(&mut **tx).await?;
    result
}

pub(super) fn describe(e: sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => format!("ERROR {}: {}", db.code().unwrap_or_default(), db.message()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_counts_what_rls_does_not_show_as_multisets() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let cases: &[(&[&str], &[&str], usize)] = &[
            (&["a", "b"], &["a", "b"], 0),
            (&["a", "b", "c"], &["a"], 2),
            (&["a", "a"], &["a"], 1),
            (&[], &["a"], 0),
            (&["a"], &[], 1),
        ];
        for (seen, shown, n) in cases {
            assert_eq!(beyond(&s(seen), &s(shown)), *n, "{seen:?} {shown:?}");
        }
    }
}
