//! Data for any project, read from its schema: two users signed up as Supabase Auth signs them
//! up, then rows in every table of every project schema, each owned by one of them (a child row
//! of A's parent belongs to A), and objects in each storage bucket under each user's folder. It
//! exists so the access matrix has something to prove on projects that seed no users.
//! Deterministic from the seed; every table it cannot fill is named with the reason.

mod adjust;
mod catalog;
mod cycles;
mod order;
mod platform;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use catalog::load;
pub use catalog::project_tables;
use values::{ColumnFacts, Fill};

use crate::report::{Check, Status};

/// Rows each user gets in each table.
const ROWS_PER_USER: usize = 2;

/// What the generator did.
#[derive(Debug, Default)]
pub struct Generated {
    pub users: Vec<(Uuid, String)>,
    /// Rows written per table (`schema.table`).
    pub rows: BTreeMap<String, usize>,
    /// Every row written (or adopted), in order, as (table, its primary key as JSON): what hides
    /// the generated data again.
    pub inserted: Vec<(String, Value)>,
    /// The user each generated row was made for, as (table, key text, user): a row of A's
    /// organisation is A's although no column of it holds A's id.
    pub owners: Vec<(String, String, Uuid)>,
    /// Tables left empty, with why.
    pub unfilled: Vec<(String, String)>,
    /// Tables with no generated rows but rows of the project's own seed: (table, rows, why).
    pub kept: Vec<(String, i64, String)>,
    /// Foreign keys of a cycle, filled after their parent (or why not), said as sentences.
    pub back_references: Vec<String>,
    /// Signing a user up as Supabase Auth does failed (the project's auth trigger), with the error.
    pub sign_up_error: Option<String>,
}

/// A table to fill, with what its columns need.
#[derive(Debug, Clone)]
struct Table {
    name: String,
    /// Primary-key columns, as they appear in `to_jsonb` (unquoted).
    key: Vec<String>,
    columns: Vec<ColumnFacts>,
    /// (columns, referenced table, referenced columns).
    foreign_keys: Vec<(Vec<String>, String, Vec<String>)>,
}

/// Generates into every table of the project's schemas that `only` names (all when `None`):
/// users first (reused when they exist), then tables in foreign-key order.
/// `anonymous`: the project allows anonymous sign-ins, so one user signs in anonymously.
pub async fn generate(
    conn: &mut PgConnection,
    seed: u64,
    only: Option<&BTreeSet<String>>,
    anonymous: bool,
) -> anyhow::Result<Generated> {
    let mut out = Generated::default();
    let (users, sign_up_error) = platform::sign_up(conn, seed, anonymous).await?;
    out.users = users;
    out.sign_up_error = sign_up_error;
    let mut tables = load(conn).await?;
    if let Some(only) = only {
        tables.retain(|t| only.contains(&t.name));
    }
    let order = order::foreign_key_order(&tables);
    // Rows written per table, with the user who owns each (for ownership chains).
    let mut written: BTreeMap<String, Vec<(Uuid, Value)>> = BTreeMap::new();
    for &table in &order {
        let mut tx = conn.begin().await?;
        let mut count = 0;
        let mut last_error = None;
        for (u, (user, _)) in out.users.iter().enumerate() {
            // Rows the project's own triggers made for this user (a profile on sign-up) are its rows.
            let made = rows_made_for(&mut tx, table, *user).await?;
            if !made.is_empty() {
                count += made.len();
                out.inserted.extend(made.iter().map(|r| (table.name.clone(), key_of(table, r))));
                out.owners.extend(made.iter().filter_map(|r| Some((table.name.clone(), key_text(table, r)?, *user))));
                written.entry(table.name.clone()).or_default().extend(made.into_iter().map(|r| (*user, r)));
                continue;
            }
            // The owner's claims, so triggers that stamp `auth.uid()` on a row see who owns it.
            let claims = serde_json::json!({ "sub": user.to_string(), "role": "authenticated" }).to_string();
            sqlx::query("SELECT set_config('request.jwt.claims', $1, true)").bind(&claims).execute(&mut *tx).await?;
            for r in 0..ROWS_PER_USER {
                match insert_row(&mut tx, table, *user, u * ROWS_PER_USER + r, &written).await {
                    Ok(row) => {
                        out.inserted.push((table.name.clone(), key_of(table, &row)));
                        if let Some(key) = key_text(table, &row) {
                            out.owners.push((table.name.clone(), key, *user));
                        }
                        written.entry(table.name.clone()).or_default().push((*user, row));
                        count += 1;
                    }
                    Err(why) => last_error = Some(why),
                }
            }
        }
        // A deferred constraint or trigger of the project fires here: a fact about the data, not
        // an environment error. The table's rows are gone; the next table goes on.
        if let Err(e) = tx.commit().await {
            refused_at_commit(&mut out, &mut written, table, e)?;
            continue;
        }
        let why = last_error.unwrap_or_else(|| "no users to own rows".into());
        if count > 0 {
            out.rows.insert(table.name.clone(), count);
        } else {
            let existing: i64 =
                sqlx::query_scalar(&format!("SELECT count(*) FROM {}", table.name)).fetch_one(&mut *conn).await?;
            if existing > 0 {
                out.kept.push((table.name.clone(), existing, why));
            } else {
                out.unfilled.push((table.name.clone(), why));
            }
        }
    }
    cycles::fill_back_references(conn, &order, &written, &mut out).await?;
    platform::storage_objects(conn, &mut out).await?;
    Ok(out)
}

/// A deferred constraint or trigger of the project refused the table's rows when they
/// committed: a fact about the data, not an environment error. The rows are gone; the table is
/// named with the database's words.
fn refused_at_commit(
    out: &mut Generated,
    written: &mut BTreeMap<String, Vec<(Uuid, Value)>>,
    table: &Table,
    e: sqlx::Error,
) -> anyhow::Result<()> {
    let sqlx::Error::Database(db) = &e else { return Err(e.into()) };
    written.remove(&table.name);
    out.inserted.retain(|(t, _)| t != &table.name);
    out.owners.retain(|(t, _, _)| t != &table.name);
    let why = format!(
        "the project's deferred constraint or trigger refused the generated rows when they committed: ERROR {}: {}{}",
        db.code().unwrap_or_default(),
        db.message(),
        db.constraint().map(|c| format!(" (constraint {c})")).unwrap_or_default()
    );
    out.unfilled.push((table.name.clone(), why));
    Ok(())
}

/// A one-column primary key as the access matrix writes it (`key::text`).
fn key_text(table: &Table, row: &Value) -> Option<String> {
    let [key] = table.key.as_slice() else { return None };
    match row.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// The row's primary key as JSON (the whole row for a table without one).
fn key_of(table: &Table, row: &Value) -> Value {
    if table.key.is_empty() {
        return row.clone();
    }
    Value::Object(table.key.iter().map(|k| (k.clone(), row.get(k).cloned().unwrap_or(Value::Null))).collect())
}

/// The rows of `table` that reference `user` in auth.users already (made by a trigger when the
/// user signed up).
async fn rows_made_for(conn: &mut PgConnection, table: &Table, user: Uuid) -> anyhow::Result<Vec<Value>> {
    let columns: Vec<&String> = table
        .foreign_keys
        .iter()
        .filter(|(c, parent, _)| parent == "auth.users" && c.len() == 1)
        .map(|(c, _, _)| &c[0])
        .collect();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let any: Vec<String> = columns.iter().map(|c| format!("t.{c} = $1")).collect();
    let sql = format!("SELECT to_jsonb(t) FROM {} t WHERE {}", table.name, any.join(" OR "));
    Ok(sqlx::query_scalar(&sql).bind(user).fetch_all(&mut *conn).await?)
}

/// One row of `table` owned by `user`, in a savepoint (a violation leaves the transaction
/// usable); tries a few variants of the values, and those a refusing multi-column CHECK may need,
/// before giving up with the database's words.
async fn insert_row(
    conn: &mut PgConnection,
    table: &Table,
    user: Uuid,
    n: usize,
    written: &BTreeMap<String, Vec<(Uuid, Value)>>,
) -> Result<Value, String> {
    let mut last = String::new();
    for attempt in 0..3 {
        let n = n + attempt * 1000;
        let row = row_values(conn, table, user, n, written).await?;
        let check = match try_insert(conn, table, &row).await? {
            Ok(inserted) => return Ok(inserted),
            Err((words, check)) => {
                last = words;
                check
            }
        };
        let Some(check) = check else { continue };
        let columns = check_columns(conn, table, &check).await.map_err(|e| e.to_string())?;
        for variant in adjust::variants(&row, &table.columns, &columns, user, n) {
            if let Ok(inserted) = try_insert(conn, table, &variant).await? {
                return Ok(inserted);
            }
        }
    }
    Err(last)
}

/// A refused insert: the database's words, and the CHECK constraint it names, if one refused it.
type Refused = (String, Option<String>);

/// Inserts `row` in a savepoint: the row, or why the database refused it; `Err` only when the
/// transaction itself is unusable.
async fn try_insert(
    conn: &mut PgConnection,
    table: &Table,
    row: &adjust::Row,
) -> Result<Result<Value, Refused>, String> {
    let (columns, literals): (Vec<&str>, Vec<&str>) = row.iter().map(|(c, v)| (c.as_str(), v.as_str())).unzip();
    let sql = if columns.is_empty() {
        format!("INSERT INTO {} AS t DEFAULT VALUES RETURNING to_jsonb(t)", table.name)
    } else {
        format!(
            "INSERT INTO {} AS t ({}) VALUES ({}) RETURNING to_jsonb(t)",
            table.name,
            columns.join(", "),
            literals.join(", ")
        )
    };
    sqlx::raw_sql("SAVEPOINT generate").execute(&mut *conn).await.map_err(|e| e.to_string())?;
    let result: Result<Value, sqlx::Error> = sqlx::query_scalar(&sql).fetch_one(&mut *conn).await;
    let undo = if result.is_ok() { "RELEASE SAVEPOINT generate" } else { "ROLLBACK TO SAVEPOINT generate" };
    let _ = sqlx::raw_sql(undo).execute(&mut *conn).await;
    Ok(result.map_err(|e| match e {
        sqlx::Error::Database(db) => {
            let check = (db.code().as_deref() == Some("23514")).then(|| db.constraint().map(str::to_string)).flatten();
            (format!("ERROR {}: {}", db.code().unwrap_or_default(), db.message()), check)
        }
        other => (other.to_string(), None),
    }))
}

/// The parent row the `nth` reference of a row to `parent` names: `user` itself (auth.users) or
/// one of its own rows (the parent's rows when it owns none) for the first; for a later one,
/// another user or a row someone else owns.
async fn parent_row(
    conn: &mut PgConnection,
    parent: &str,
    user: Uuid,
    n: usize,
    nth: i64,
    written: &BTreeMap<String, Vec<(Uuid, Value)>>,
) -> Result<Option<Value>, String> {
    if parent == "auth.users" {
        if nth == 0 {
            return Ok(Some(serde_json::json!({ "id": user.to_string() })));
        }
        let other: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM auth.users WHERE id <> $1 ORDER BY created_at, id OFFSET $2 LIMIT 1")
                .bind(user)
                .bind(nth - 1)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| format!("reading auth.users: {e}"))?;
        return Ok(Some(serde_json::json!({ "id": other.unwrap_or(user).to_string() })));
    }
    if let Some(rows) = written.get(parent) {
        let (own, others): (Vec<_>, Vec<_>) = rows.iter().partition(|(o, _)| *o == user);
        let pick = |pool: &[&(Uuid, Value)], i: usize| pool.get(i % pool.len().max(1)).map(|(_, r)| r.clone());
        let first = if own.is_empty() { &others } else { &own };
        return Ok(match nth {
            0 => pick(first, n),
            _ if !others.is_empty() => pick(&others, n + nth as usize - 1),
            _ => pick(first, n + nth as usize),
        });
    }
    let sql = format!(
        "SELECT to_jsonb(p) FROM {parent} p ORDER BY 1 LIMIT 1 \
         OFFSET (SELECT $1 % greatest(count(*), 1) FROM {parent})"
    );
    sqlx::query_scalar(&sql).bind(nth).fetch_optional(&mut *conn).await.map_err(|e| format!("reading {parent}: {e}"))
}

/// The columns (quoted as needed) of CHECK constraint `name` on `table`.
async fn check_columns(conn: &mut PgConnection, table: &Table, name: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT quote_ident(a.attname) FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY k(attnum, i) \
           JOIN pg_attribute a ON a.attnum = k.attnum \
         WHERE c.conrelid = $1::regclass AND a.attrelid = c.conrelid AND c.conname = $2 AND c.contype = 'c' \
         ORDER BY k.i",
    )
    .bind(&table.name)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
}

/// (column, SQL literal) for one row: foreign keys from `user`'s own parent rows (or the
/// parent's existing rows), owner columns with `user`, the rest as the column's type needs.
async fn row_values(
    conn: &mut PgConnection,
    table: &Table,
    user: Uuid,
    n: usize,
    written: &BTreeMap<String, Vec<(Uuid, Value)>>,
) -> Result<Vec<(String, String)>, String> {
    let mut values: Vec<(String, String)> = Vec::new();
    let mut set: BTreeSet<String> = BTreeSet::new();
    // A second reference to the same parent (blocker and blocked, follower and followed) names
    // another party: the user's own row first, then someone else's.
    let mut seen: BTreeMap<&str, i64> = BTreeMap::new();
    for (columns, parent, parent_columns) in &table.foreign_keys {
        if columns.iter().any(|c| set.contains(c)) {
            continue;
        }
        let nth = *seen.entry(parent.as_str()).and_modify(|k| *k += 1).or_insert(0);
        let parent_row = parent_row(conn, parent, user, n, nth, written).await?;
        let facts: Vec<&ColumnFacts> =
            columns.iter().filter_map(|c| table.columns.iter().find(|f| &f.name == c)).collect();
        match parent_row {
            Some(row) => {
                for (c, pc) in columns.iter().zip(parent_columns) {
                    let v = row.get(pc.trim_matches('"')).cloned().unwrap_or(Value::Null);
                    let ty = facts.iter().find(|f| &f.name == c).map(|f| f.type_name.clone()).unwrap_or_default();
                    values.push((c.clone(), values::literal_of(&v, &ty)));
                    set.insert(c.clone());
                }
            }
            None if facts.iter().all(|f| !f.not_null) => {}
            None => return Err(format!("references {parent}, which has no rows")),
        }
    }
    for column in &table.columns {
        if set.contains(&column.name) {
            continue;
        }
        match column.fill(user, n) {
            Fill::Omit => {}
            Fill::Value(literal) => values.push((column.name.clone(), literal)),
        }
    }
    Ok(values)
}

/// The generator's check: what it wrote, and every table it could not fill with why.
pub fn check(id: &str, generated: &Generated, app_missing: Option<&str>) -> Check {
    let title = "test data generated from the schema (every project table, users that own its rows)";
    let check = Check::new(id, title, Status::Pass);
    let total = generated.rows.len() + generated.unfilled.len() + generated.kept.len();
    if total == 0 {
        return Check { status: Status::Skip, ..check }.detail("the project has no tables to fill");
    }
    let rows: usize = generated.rows.values().sum();
    let users: Vec<&str> =
        generated.users.iter().map(|(_, e)| if e.is_empty() { "an anonymous sign-in" } else { e.as_str() }).collect();
    let mut detail = vec![format!(
        "{}; written as the tables' owner (a data import), triggers firing, each row owned by one of {}",
        app_missing.unwrap_or("the app's own fixture is not used here"),
        users.join(", ")
    )];
    let mut status = Status::Pass;
    if let Some(e) = &generated.sign_up_error {
        status = Status::Warn;
        detail.push(format!(
            "signing up as Supabase Auth does (as supabase_auth_admin) failed: {e}; production sign-ups would \
             fail the same way (\"Database error saving new user\"); the users were written as the superuser instead"
        ));
    }
    detail.extend(generated.back_references.iter().cloned());
    for (table, rows, why) in &generated.kept {
        detail.push(format!("{table}: kept the seed's {rows} row(s), no generated row fits ({why})"));
    }
    if !generated.unfilled.is_empty() {
        status = Status::Warn;
        detail.push("not filled (the access matrix cannot exercise them):".to_string());
        detail.extend(generated.unfilled.iter().map(|(t, why)| format!("  - {t}: {why}")));
    }
    Check { status, ..check }
        .value(format!("{rows} rows in {} of {total} tables", generated.rows.len()))
        .detail(detail.join("\n"))
}
