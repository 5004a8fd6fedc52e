//! Row-level security proven, not assumed: the `AccessMatrix` says, for every persona (anon,
//! service_role, each signed-in user) and every RLS table of the project (and storage's), which rows it can
//! select, update and delete, and what its insert and move probes do. Probes act as PostgREST does
//! (role + JWT claims) inside transactions that are always rolled back: nothing changes.

use std::collections::BTreeMap;

use sqlx::{Connection, PgConnection};

/// Most users the matrix covers (the first by email); beyond, the matrix stops growing.
pub const MAX_USERS: i64 = 50;

mod door_judge;
pub mod doors;
mod fresh;
mod judge;
mod measure;
mod personas;
mod probes;
mod render;
pub mod rpc;

pub use crate::supabase::act_as::Persona;
pub use door_judge::{compare_doors, compare_rpcs, probed_clean};
pub use judge::{compare, exposed, Declared};
use measure::{load_tables, policy_counts, reach, Rows};
use personas::load_personas;
use probes::run_probe;

use crate::supabase::act_as::act_as;

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
    /// Measurements that failed (a trigger or a policy erroring): never counted as "0 rows".
    pub errors: Vec<String>,
    /// What a persona's role has no grant for (the API refuses it before RLS, 403): kept apart
    /// from "no rows by policy".
    pub no_grant: std::collections::BTreeSet<(Persona, String, Op)>,
    /// Policies per table.
    pub policies: BTreeMap<String, i64>,
    /// Views, materialized views and foreign tables an API role may read.
    pub doors: Vec<doors::Door>,
    /// Functions an API role may execute that the pending migrations name, as called.
    pub rpcs: Vec<rpc::Rpc>,
}

/// What besides tables the matrix looks at: the schemas the API exposes, and the pending
/// migrations' text (lower case), whose function names decide which functions are called.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub exposed: Vec<String>,
    pub mentioned: String,
    /// Rows made for a user by the generator, (table, key text, user): that user's own, as rows
    /// whose uuid columns hold its id are.
    pub made_for: Vec<(String, String, uuid::Uuid)>,
}

impl AccessMatrix {
    /// Computes the matrix. The write probes act as users A and B: those of `like` when given
    /// (so a later matrix probes with the same users), else the first two users by email.
    /// `hook`: the project's custom access-token hook (`schema.function`), which shapes the
    /// users' claims as in production.
    pub async fn compute(
        conn: &mut PgConnection,
        like: Option<&AccessMatrix>,
        hook: Option<&str>,
        scope: &Scope,
    ) -> anyhow::Result<AccessMatrix> {
        let (tables, untracked) = load_tables(conn).await?;
        let mut errors = Vec::new();
        let personas = load_personas(conn, hook, &mut errors).await?;
        let mut m = AccessMatrix {
            personas: personas.clone(),
            tables: tables.iter().map(|t| t.name.clone()).collect(),
            untracked,
            policies: policy_counts(conn).await?,
            errors,
            ..AccessMatrix::default()
        };
        for persona in &personas {
            let mut tx = conn.begin().await?;
            act_as(&mut tx, persona).await?;
            for table in &tables {
                let key = table.key_expr();
                let select = format!("SELECT {key} FROM {}", table.name);
                // A no-op write of a column that may be written (an identity ALWAYS key may not).
                let writable = table.columns.iter().find(|c| !c.computed).map_or(&table.key[0], |c| &c.name);
                let update = format!("UPDATE {} SET {k} = {k} RETURNING {key}", table.name, k = writable);
                let delete = format!("DELETE FROM {} RETURNING {key}", table.name);
                for (op, sql) in [(Op::Select, select), (Op::Update, update), (Op::Delete, delete)] {
                    // A measurement that failed is left out (never read as 0 rows): the comparison
                    // says it could not judge it.
                    match reach(&mut tx, persona, op == Op::Delete, &sql).await {
                        Ok(rows) => {
                            m.reach.insert((persona.clone(), table.name.clone(), op), rows);
                        }
                        Err(e) => m.errors.push(format!("{} {} {}: {e}", persona.label(), op.verb(), table.name)),
                    }
                }
            }
            tx.rollback().await?;
            for table in &tables {
                for op in measure::ungranted(conn, persona.role(), &table.name).await? {
                    m.no_grant.insert((persona.clone(), table.name.clone(), op));
                }
            }
            if let Some(id) = persona.auth_id() {
                for table in &tables {
                    let rows = owned_rows(conn, table, id, scope).await?;
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
        m.doors = doors::measure(conn, &scope.exposed, &m.personas).await?;
        m.rpcs = rpc::measure(conn, &scope.exposed, &scope.mentioned, &m).await?;
        Ok(m)
    }
}

/// The rows of `table` that are user `id`'s: a uuid column holds its id, or the generator made
/// the row for it.
async fn owned_rows(
    conn: &mut PgConnection,
    table: &measure::RlsTable,
    id: uuid::Uuid,
    scope: &Scope,
) -> sqlx::Result<Rows> {
    let uuids: Vec<&str> = table.columns.iter().filter(|c| c.is_uuid).map(|c| c.name.as_str()).collect();
    let mut rows = if uuids.is_empty() {
        Rows::new()
    } else {
        let sql = format!("SELECT {} FROM {} WHERE $1 IN ({})", table.key_expr(), table.name, uuids.join(", "));
        sqlx::query_scalar(&sql).bind(id).fetch_all(&mut *conn).await?.into_iter().collect()
    };
    rows.extend(
        scope.made_for.iter().filter(|(t, _, user)| t == &table.name && *user == id).map(|(_, k, _)| k.clone()),
    );
    Ok(rows)
}
