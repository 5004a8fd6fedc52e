//! Row-level security proven, not assumed: the `AccessMatrix` says, for every persona (anon,
//! service_role, each signed-in user) and every RLS table of the exposed schemas, which rows it can
//! select, update and delete, and what its insert and move probes do. Probes act as PostgREST does
//! (role + JWT claims) inside transactions that are always rolled back: nothing changes.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use serde_json::Value;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::report::{Check, Status};

/// Most users the matrix covers (the first by email); beyond, the matrix stops growing.
pub const MAX_USERS: i64 = 50;

/// Who a probe runs as.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Persona {
    Anon,
    ServiceRole,
    User { email: String, auth_id: Uuid },
}

impl Persona {
    pub fn label(&self) -> String {
        match self {
            Persona::Anon => "anon".into(),
            Persona::ServiceRole => "service_role".into(),
            Persona::User { email, .. } => email.clone(),
        }
    }

    fn role(&self) -> &'static str {
        match self {
            Persona::Anon => "anon",
            Persona::ServiceRole => "service_role",
            Persona::User { .. } => "authenticated",
        }
    }

    fn claims(&self) -> Value {
        match self {
            Persona::Anon => serde_json::json!({"role": "anon"}),
            Persona::ServiceRole => serde_json::json!({"role": "service_role"}),
            Persona::User { email, auth_id } => serde_json::json!({
                "sub": auth_id.to_string(), "role": "authenticated", "aud": "authenticated", "email": email
            }),
        }
    }

    fn auth_id(&self) -> Option<Uuid> {
        match self {
            Persona::User { auth_id, .. } => Some(*auth_id),
            _ => None,
        }
    }
}

/// Row operations whose reachable set the matrix records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    Select,
    Update,
    Delete,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Select => "see",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// Write probes derived from the data (user A = first user, B = second).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Probe {
    /// A inserts a copy of one of its own rows.
    InsertOwn,
    /// A inserts a copy of B's row (B's parent), with A's id in the owner columns.
    InsertIntoOtherParent,
    /// A inserts a copy of its own row with B's id in the owner columns.
    InsertForgingOtherId,
    /// anon inserts a copy of A's row.
    InsertAsAnon,
    /// A repoints one of its rows to B's parent.
    MoveToOtherParent,
}

impl Probe {
    pub const ALL: [Probe; 5] = [
        Probe::InsertOwn,
        Probe::InsertIntoOtherParent,
        Probe::InsertForgingOtherId,
        Probe::InsertAsAnon,
        Probe::MoveToOtherParent,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Probe::InsertOwn => "insert_own",
            Probe::InsertIntoOtherParent => "insert_into_other_parent",
            Probe::InsertForgingOtherId => "insert_forging_other_id",
            Probe::InsertAsAnon => "insert_as_anon",
            Probe::MoveToOtherParent => "move_to_other_parent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    Allowed,
    /// Refused by row-level security (42501).
    DeniedByPolicy,
    /// Written, but the database corrected what the probe forged (e.g. a trigger set the owner).
    Corrected(String),
    /// Refused by a constraint, a trigger or another error: the write does not happen either.
    Rejected(String),
    /// The data offers nothing to probe with.
    NotApplicable(String),
}

impl ProbeOutcome {
    fn allowed(&self) -> bool {
        matches!(self, ProbeOutcome::Allowed)
    }
    fn applicable(&self) -> bool {
        !matches!(self, ProbeOutcome::NotApplicable(_))
    }
    fn describe(&self) -> String {
        match self {
            ProbeOutcome::Allowed => "allowed".into(),
            ProbeOutcome::DeniedByPolicy => "denied by RLS".into(),
            ProbeOutcome::Corrected(why) => format!("written but corrected ({why})"),
            ProbeOutcome::Rejected(why) => format!("rejected ({why})"),
            ProbeOutcome::NotApplicable(why) => format!("n/a ({why})"),
        }
    }
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    is_uuid: bool,
    /// Generated or identity ALWAYS: cannot be written.
    computed: bool,
}

#[derive(Debug, Clone)]
struct ForeignKey {
    columns: Vec<String>,
}

/// A table with RLS enabled in an exposed schema.
#[derive(Debug, Clone)]
struct RlsTable {
    /// `schema.name`, quoted as needed.
    name: String,
    key: Vec<String>,
    key_is_uuid: bool,
    key_has_default: bool,
    columns: Vec<Column>,
    foreign_keys: Vec<ForeignKey>,
}

impl RlsTable {
    fn key_expr(&self) -> String {
        match self.key.as_slice() {
            [one] => format!("{one}::text"),
            many => format!("ROW({})::text", many.join(", ")),
        }
    }
}

type Rows = BTreeSet<String>;

/// The access matrix of one database state.
#[derive(Debug, Clone, Default)]
pub struct AccessMatrix {
    pub personas: Vec<Persona>,
    pub tables: Vec<String>,
    pub reach: BTreeMap<(Persona, String, Op), Rows>,
    /// Rows whose uuid columns hold the persona's auth id (ownership, for telling an owner's
    /// newly reachable rows from someone else's).
    pub owned: BTreeMap<(Persona, String), Rows>,
    pub probes: BTreeMap<(String, Probe), (ProbeOutcome, String)>,
    /// Tables without a primary key, which the matrix cannot track row by row.
    pub untracked: Vec<String>,
    /// Users A and B of the write probes.
    pub probe_users: Option<(Persona, Persona)>,
}

impl AccessMatrix {
    /// Computes the matrix. The write probes act as users A and B: those of `like` when given
    /// (so a later matrix probes with the same users), else the first two users by email.
    pub async fn compute(
        conn: &mut PgConnection,
        schemas: &[String],
        like: Option<&AccessMatrix>,
    ) -> anyhow::Result<AccessMatrix> {
        let (tables, untracked) = load_tables(conn, schemas).await?;
        let personas = load_personas(conn).await?;
        let mut m = AccessMatrix {
            personas: personas.clone(),
            tables: tables.iter().map(|t| t.name.clone()).collect(),
            untracked,
            ..AccessMatrix::default()
        };
        for persona in &personas {
            let mut tx = conn.begin().await?;
            act_as(&mut tx, persona).await?;
            for table in &tables {
                let key = table.key_expr();
                let select = format!("SELECT {key} FROM {}", table.name);
                let update = format!("UPDATE {} SET {k} = {k} RETURNING {key}", table.name, k = table.key[0]);
                let delete = format!("DELETE FROM {} RETURNING {key}", table.name);
                for (op, sql) in [(Op::Select, select), (Op::Update, update), (Op::Delete, delete)] {
                    let rows = in_savepoint(&mut tx, &sql).await.unwrap_or_default();
                    m.reach.insert((persona.clone(), table.name.clone(), op), rows);
                }
            }
            tx.rollback().await?;
            if let Some(id) = persona.auth_id() {
                for table in &tables {
                    let uuids: Vec<&str> =
                        table.columns.iter().filter(|c| c.is_uuid).map(|c| c.name.as_str()).collect();
                    let rows = if uuids.is_empty() {
                        Rows::new()
                    } else {
                        let sql = format!(
                            "SELECT {} FROM {} WHERE $1 IN ({})",
                            table.key_expr(),
                            table.name,
                            uuids.join(", ")
                        );
                        sqlx::query_scalar(&sql).bind(id).fetch_all(&mut *conn).await?.into_iter().collect()
                    };
                    m.owned.insert((persona.clone(), table.name.clone()), rows);
                }
            }
        }
        let users: Vec<Persona> = match like.and_then(|l| l.probe_users.clone()) {
            Some((a, b)) => vec![a, b],
            None => personas.iter().filter(|p| matches!(p, Persona::User { .. })).take(2).cloned().collect(),
        };
        if let [a, b] = users.as_slice() {
            m.probe_users = Some((a.clone(), b.clone()));
        }
        for table in &tables {
            for probe in Probe::ALL {
                let outcome = match users.as_slice() {
                    [a, b, ..] => run_probe(conn, &m, table, probe, a, b).await?,
                    _ => (ProbeOutcome::NotApplicable("fewer than two users in the data".into()), String::new()),
                };
                m.probes.insert((table.name.clone(), probe), outcome);
            }
        }
        Ok(m)
    }

    /// A stable, readable rendering (counts and outcomes, never row contents).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for table in &self.tables {
            out.push_str(&format!("{table}\n"));
            for p in &self.personas {
                let count = |op| self.reach.get(&(p.clone(), table.clone(), op)).map_or(0, |r| r.len());
                out.push_str(&format!(
                    "  {:<28} select {:>4}  update {:>4}  delete {:>4}\n",
                    p.label(),
                    count(Op::Select),
                    count(Op::Update),
                    count(Op::Delete)
                ));
            }
            for probe in Probe::ALL {
                if let Some((outcome, _)) = self.probes.get(&(table.clone(), probe)) {
                    out.push_str(&format!("  probe {:<26} {}\n", probe.id(), outcome.describe()));
                }
            }
        }
        for t in &self.untracked {
            out.push_str(&format!("{t}: no primary key, not tracked\n"));
        }
        out
    }
}

async fn act_as(tx: &mut Transaction<'_, Postgres>, persona: &Persona) -> sqlx::Result<()> {
    sqlx::query("SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)")
        .bind(persona.role())
        .bind(persona.claims().to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Runs `sql` (returning one text column) inside a savepoint that is always rolled back.
async fn in_savepoint(tx: &mut Transaction<'_, Postgres>, sql: &str) -> Result<Rows, sqlx::Error> {
    sqlx::raw_sql("SAVEPOINT probe").execute(&mut **tx).await?;
    let result: Result<Vec<String>, sqlx::Error> = sqlx::query_scalar(sql).fetch_all(&mut **tx).await;
    sqlx::raw_sql("ROLLBACK TO SAVEPOINT probe").execute(&mut **tx).await?;
    result.map(|rows| rows.into_iter().collect())
}

async fn load_personas(conn: &mut PgConnection) -> anyhow::Result<Vec<Persona>> {
    let has_users: bool =
        sqlx::query_scalar("SELECT to_regclass('auth.users') IS NOT NULL").fetch_one(&mut *conn).await?;
    let mut personas = vec![Persona::Anon, Persona::ServiceRole];
    if has_users {
        let users: Vec<(Uuid, Option<String>)> =
            sqlx::query_as("SELECT id, email::text FROM auth.users ORDER BY email, id LIMIT $1")
                .bind(MAX_USERS)
                .fetch_all(&mut *conn)
                .await?;
        personas.extend(
            users
                .into_iter()
                .map(|(auth_id, email)| Persona::User { email: email.unwrap_or_else(|| auth_id.to_string()), auth_id }),
        );
    }
    Ok(personas)
}

async fn load_tables(conn: &mut PgConnection, schemas: &[String]) -> anyhow::Result<(Vec<RlsTable>, Vec<String>)> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.oid::bigint, quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity AND n.nspname = ANY($1) ORDER BY 2",
    )
    .bind(schemas)
    .fetch_all(&mut *conn)
    .await
    .context("listing tables with RLS")?;
    let mut tables = Vec::new();
    let mut untracked = Vec::new();
    for (oid, name) in rows {
        let columns: Vec<(String, bool, bool, bool, bool)> = sqlx::query_as(
            "SELECT quote_ident(a.attname), a.atttypid = 'uuid'::regtype, \
                    a.attgenerated <> '' OR a.attidentity = 'a', \
                    coalesce(a.attnum = ANY (x.indkey), false), d.adbin IS NOT NULL \
             FROM pg_attribute a \
             LEFT JOIN pg_index x ON x.indrelid = a.attrelid AND x.indisprimary \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
        let key: Vec<&(String, bool, bool, bool, bool)> = columns.iter().filter(|c| c.3).collect();
        if key.is_empty() {
            untracked.push(name);
            continue;
        }
        let fks: Vec<Vec<String>> = sqlx::query_scalar(
            "SELECT array_agg(quote_ident(a.attname) ORDER BY k.n) FROM pg_constraint con \
             CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, n) \
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
             WHERE con.conrelid = $1::oid AND con.contype = 'f' GROUP BY con.oid ORDER BY con.conname",
        )
        .bind(oid)
        .fetch_all(&mut *conn)
        .await?;
        tables.push(RlsTable {
            name,
            key_is_uuid: key.len() == 1 && key[0].1,
            key_has_default: key.iter().all(|c| c.4 || c.2),
            key: key.iter().map(|c| c.0.clone()).collect(),
            columns: columns
                .iter()
                .map(|(name, is_uuid, computed, _, _)| Column {
                    name: name.clone(),
                    is_uuid: *is_uuid,
                    computed: *computed,
                })
                .collect(),
            foreign_keys: fks.into_iter().map(|columns| ForeignKey { columns }).collect(),
        });
    }
    Ok((tables, untracked))
}

/// Columns holding the persona's own id in at least one row it can see (the "owner" columns).
fn owner_columns(table: &RlsTable, rows: &[Value], id: Uuid) -> Vec<String> {
    let id = id.to_string();
    table
        .columns
        .iter()
        .filter(|c| c.is_uuid && !table.key.contains(&c.name))
        .filter(|c| rows.iter().any(|r| r.get(unquote(&c.name)).and_then(Value::as_str) == Some(id.as_str())))
        .map(|c| c.name.clone())
        .collect()
}

/// A JSON value as text, without the quotes of a JSON string.
fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn unquote(ident: &str) -> &str {
    ident.trim_matches('"')
}

async fn row_json(conn: &mut PgConnection, table: &RlsTable, key: &str) -> anyhow::Result<Value> {
    let sql = format!("SELECT to_jsonb(t) FROM {} t WHERE {} = $1", table.name, key_expr_for_alias(table));
    Ok(sqlx::query_scalar(&sql).bind(key).fetch_one(&mut *conn).await?)
}

fn key_expr_for_alias(table: &RlsTable) -> String {
    match table.key.as_slice() {
        [one] => format!("t.{one}::text"),
        many => format!("ROW({})::text", many.iter().map(|k| format!("t.{k}")).collect::<Vec<_>>().join(", ")),
    }
}

async fn run_probe(
    conn: &mut PgConnection,
    m: &AccessMatrix,
    table: &RlsTable,
    probe: Probe,
    a: &Persona,
    b: &Persona,
) -> anyhow::Result<(ProbeOutcome, String)> {
    let na = |why: &str| Ok((ProbeOutcome::NotApplicable(why.to_string()), String::new()));
    let reach = |p: &Persona| m.reach.get(&(p.clone(), table.name.clone(), Op::Select)).cloned().unwrap_or_default();
    let (a_rows, b_rows) = (reach(a), reach(b));
    let b_only: Vec<&String> = b_rows.iter().filter(|k| !a_rows.contains(*k)).collect();
    let (Some(a_id), Some(b_id)) = (a.auth_id(), b.auth_id()) else { return na("no users") };
    let Some(a_key) = a_rows.iter().next() else { return na("user A sees no row to copy") };
    let a_row = row_json(conn, table, a_key).await?;
    let owners = owner_columns(table, std::slice::from_ref(&a_row), a_id);
    let parents: Vec<&ForeignKey> =
        table.foreign_keys.iter().filter(|fk| !fk.columns.iter().all(|c| owners.contains(c))).collect();

    // (column, value) the stored row must keep for the probe to count as a real write.
    let mut expect: Vec<(String, Value)> = Vec::new();
    let (actor, row, context) = match probe {
        Probe::InsertOwn => (a, a_row.clone(), "a copy of one of its own rows".to_string()),
        Probe::InsertAsAnon => (&Persona::Anon, a_row.clone(), format!("a copy of a row of {}", a.label())),
        Probe::InsertForgingOtherId => {
            if owners.is_empty() {
                return na("no owner column");
            }
            let mut row = a_row.clone();
            for c in &owners {
                row[unquote(c)] = Value::String(b_id.to_string());
                expect.push((c.clone(), Value::String(b_id.to_string())));
            }
            (a, row, format!("a row with {} set to the id of {}", owners.join(", "), b.label()))
        }
        Probe::InsertIntoOtherParent | Probe::MoveToOtherParent => {
            let Some(fk) = parents.first() else { return na("no parent foreign key") };
            let Some(b_key) = b_only.first() else { return na("user B has no row user A cannot see") };
            let b_row = row_json(conn, table, b_key).await?;
            let parent: Vec<String> =
                fk.columns.iter().map(|c| b_row.get(unquote(c)).map(plain).unwrap_or_default()).collect();
            let context = format!("for {} {} owned by {}", fk.columns.join(", "), parent.join(", "), b.label());
            for c in &fk.columns {
                expect.push((c.clone(), b_row.get(unquote(c)).cloned().unwrap_or(Value::Null)));
            }
            if probe == Probe::MoveToOtherParent {
                let sets: Vec<String> = fk
                    .columns
                    .iter()
                    .map(|c| format!("{c} = (jsonb_populate_record(NULL::{}, $2)).{c}", table.name))
                    .collect();
                let sql = format!(
                    "UPDATE {} t SET {} WHERE {} = $1 RETURNING to_jsonb(t)",
                    table.name,
                    sets.join(", "),
                    key_expr_for_alias(table),
                );
                let outcome = write_probe(conn, a, &sql, Some(a_key), &b_row, &expect).await?;
                return Ok((outcome, context));
            }
            let mut row = b_row;
            for c in &owners {
                row[unquote(c)] = Value::String(a_id.to_string());
            }
            (a, row, context)
        }
    };
    // A fresh key so the copy is a new row.
    let mut row = row;
    let mut columns: Vec<&Column> = table.columns.iter().filter(|c| !c.computed).collect();
    if table.key_is_uuid {
        row[unquote(&table.key[0])] = Value::String(Uuid::new_v4().to_string());
    } else if table.key_has_default {
        columns.retain(|c| !table.key.contains(&c.name));
    } else {
        return na("primary key has no default to make a new row");
    }
    let list = columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "INSERT INTO {t} AS t ({list}) SELECT {list} FROM jsonb_populate_record(NULL::{t}, $1) RETURNING to_jsonb(t)",
        t = table.name,
    );
    let outcome = write_probe(conn, actor, &sql, None, &row, &expect).await?;
    Ok((outcome, context))
}

async fn write_probe(
    conn: &mut PgConnection,
    actor: &Persona,
    sql: &str,
    key: Option<&String>,
    row: &Value,
    expect: &[(String, Value)],
) -> anyhow::Result<ProbeOutcome> {
    let mut tx = conn.begin().await?;
    act_as(&mut tx, actor).await?;
    let query = sqlx::query_scalar(sql);
    let query = match key {
        Some(key) => query.bind(key.clone()).bind(row),
        None => query.bind(row),
    };
    let result: Result<Vec<Value>, sqlx::Error> = query.fetch_all(&mut *tx).await;
    tx.rollback().await?;
    Ok(match result {
        Ok(rows) if rows.is_empty() => ProbeOutcome::DeniedByPolicy,
        Ok(rows) => {
            let corrected: Vec<String> = expect
                .iter()
                .filter(|(c, v)| rows[0].get(unquote(c)) != Some(v))
                .map(|(c, _)| format!("{c} = {}", rows[0].get(unquote(c)).cloned().unwrap_or(Value::Null)))
                .collect();
            if corrected.is_empty() {
                ProbeOutcome::Allowed
            } else {
                ProbeOutcome::Corrected(format!("stored with {}", corrected.join(", ")))
            }
        }
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => ProbeOutcome::DeniedByPolicy,
        Err(sqlx::Error::Database(db)) => {
            ProbeOutcome::Rejected(format!("{} {}", db.code().unwrap_or_default(), db.message()))
        }
        Err(e) => return Err(e.into()),
    })
}

/// What the pending migrations declare about access changes:
/// `-- xtask:rls-widens <table> <why>` and `-- xtask:rls-narrows <table> <why>`.
#[derive(Debug, Clone, Default)]
pub struct Declared {
    pub widens: BTreeMap<String, String>,
    pub narrows: BTreeMap<String, String>,
}

impl Declared {
    pub fn parse<'a>(texts: impl IntoIterator<Item = &'a str>) -> Declared {
        let mut d = Declared::default();
        for text in texts {
            for line in text.lines() {
                let line = line.trim();
                for (prefix, map) in
                    [("-- xtask:rls-widens ", &mut d.widens), ("-- xtask:rls-narrows ", &mut d.narrows)]
                {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        let (table, why) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
                        map.insert(table.to_string(), why.trim().to_string());
                    }
                }
            }
        }
        d
    }
}

/// Compares two matrices: any widening fails unless it only reaches the persona's own rows and
/// is declared; narrowing fails unless declared. Ids `<prefix>.<table>`.
pub fn compare(before: &AccessMatrix, after: &AccessMatrix, declared: &Declared, prefix: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    for table in &after.tables {
        let mut fails: Vec<String> = Vec::new();
        let mut warns: Vec<String> = Vec::new();
        // Rows written since `before` (app smoke, probes) and users signed up since are not part of
        // the comparison: only what existed before can widen or narrow.
        let universe = before.reach.get(&(Persona::ServiceRole, table.clone(), Op::Select));
        for persona in after.personas.iter().filter(|p| before.personas.contains(p)) {
            for op in [Op::Select, Op::Update, Op::Delete] {
                let key = (persona.clone(), table.clone(), op);
                let (Some(b), Some(a)) = (before.reach.get(&key), after.reach.get(&key)) else { continue };
                let widened: Vec<&String> =
                    a.difference(b).filter(|k| universe.is_none_or(|u| u.contains(*k))).collect();
                let narrowed: Vec<&String> = b.difference(a).collect();
                if !widened.is_empty() {
                    let owned = after.owned.get(&(persona.clone(), table.clone())).cloned().unwrap_or_default();
                    let (own, other): (Vec<&String>, Vec<&String>) = widened.iter().partition(|k| owned.contains(**k));
                    if !other.is_empty() {
                        fails.push(format!(
                            "{} can now {} {} row(s) of {table} that are not its own (first: {})",
                            persona.label(),
                            op.verb(),
                            other.len(),
                            other[0]
                        ));
                    }
                    if !own.is_empty() {
                        let line = format!(
                            "{} can now {} {} of its own row(s) of {table} (first: {})",
                            persona.label(),
                            op.verb(),
                            own.len(),
                            own[0]
                        );
                        match declared.widens.get(table) {
                            Some(why) => warns.push(format!("{line}; declared: {why}")),
                            None => fails.push(format!("{line}; undeclared (add `-- xtask:rls-widens {table} <why>`)")),
                        }
                    }
                }
                if !narrowed.is_empty() {
                    let line = format!(
                        "{} can no longer {} {} row(s) of {table} (first: {})",
                        persona.label(),
                        op.verb(),
                        narrowed.len(),
                        narrowed[0]
                    );
                    match declared.narrows.get(table) {
                        Some(why) => warns.push(format!("{line}; declared: {why}")),
                        None => fails.push(format!("{line}; undeclared (add `-- xtask:rls-narrows {table} <why>`)")),
                    }
                }
            }
        }
        for probe in Probe::ALL {
            let (Some((b, _)), Some((a, ctx))) =
                (before.probes.get(&(table.clone(), probe)), after.probes.get(&(table.clone(), probe)))
            else {
                continue;
            };
            if a.allowed() && !b.allowed() && probe != Probe::InsertOwn {
                fails.push(format!("probe {}: now allowed on {table} {ctx} (before: {})", probe.id(), b.describe()));
            }
            if b.allowed() && a.applicable() && !a.allowed() {
                let line = format!("probe {}: no longer allowed on {table} ({})", probe.id(), a.describe());
                match declared.narrows.get(table) {
                    Some(why) => warns.push(format!("{line}; declared: {why}")),
                    None if probe == Probe::InsertOwn => fails.push(line),
                    None => warns.push(line),
                }
            }
        }
        let id = format!("{prefix}.{table}");
        let title = format!("who can read and write {table} is unchanged");
        let check = if !fails.is_empty() {
            fails.extend(warns);
            Check::new(id, title, Status::Fail).value(format!("{} change(s)", fails.len())).detail(fails.join("\n"))
        } else if !warns.is_empty() {
            Check::new(id, title, Status::Warn)
                .value(format!("{} declared change(s)", warns.len()))
                .detail(warns.join("\n"))
        } else {
            Check::new(id, title, Status::Pass).value(format!("{} personas", after.personas.len()))
        };
        checks.push(check);
    }
    for table in before.tables.iter().filter(|t| !after.tables.contains(t)) {
        checks.push(
            Check::new(format!("{prefix}.{table}"), format!("{table} keeps row-level security"), Status::Fail)
                .detail(format!("{table} no longer has RLS enabled (or no longer exists)")),
        );
    }
    checks
}
