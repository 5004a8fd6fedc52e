//! Functions are doors too: every function in an exposed schema that anon or authenticated may
//! execute and that the pending migrations name, called as anon and as users A and B with
//! arguments generated from its signature (ids from the data: the persona's own and another's),
//! each call in a transaction that is rolled back. What it returns is compared with what RLS
//! shows the caller (rows of an RLS table against the matrix; anything else, for a `SECURITY
//! DEFINER` function, against the same call as `SECURITY INVOKER`), and the rows it changed with
//! what the caller may update and delete. `SECURITY DEFINER` functions are called first. What
//! could not be called is kept with the reason, never counted as safe.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Connection, PgConnection};

mod args;

use super::{doors::describe, AccessMatrix, Op, Persona};
use crate::supabase::act_as::act_as;
use args::{adjusted, arguments, column_values, literal};

/// Which ids the generated arguments carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    /// The caller's own (user A's for anon).
    Own,
    /// Another user's.
    Other,
}

/// One call of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// No EXECUTE, or the function refused the caller (42501).
    Refused,
    Failed {
        args: String,
        error: String,
    },
    Returned {
        args: String,
        rows: usize,
        /// Returned rows or values RLS does not show the caller; `None`: could not be compared
        /// (the reason in `unjudged`).
        beyond: Option<usize>,
        unjudged: Option<String>,
        /// Rows it changed that the caller could not update or delete as itself.
        changed_beyond: Vec<String>,
    },
}

/// A function the API may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rpc {
    /// `schema.name(argument types)`.
    pub name: String,
    pub definer: bool,
    /// md5 of `pg_get_functiondef`: a changed function is judged, an unchanged one is not.
    pub definition: String,
    pub callable_by: Vec<String>,
    /// The RLS table whose rows it returns, when it returns table rows.
    pub returns_rows_of: Option<String>,
    /// Why it was not called, when it was not.
    pub not_called: Option<String>,
    pub calls: BTreeMap<(Persona, Variant), Call>,
}

/// One returned row: as text, and its key when it is a row of an RLS table.
type Returned = (Option<String>, Option<String>);

type FunctionRow = (i64, String, String, bool, String, bool, bool, String, Vec<String>, Vec<String>, i16, String);

/// Functions in `exposed` schemas that anon or authenticated may execute and whose name the
/// pending migrations' text mentions (`mentioned`, lower case), called as anon and users A and B.
pub async fn measure(
    conn: &mut PgConnection,
    exposed: &[String],
    mentioned: &str,
    m: &AccessMatrix,
) -> anyhow::Result<Vec<Rpc>> {
    let rows: Vec<FunctionRow> = sqlx::query_as(
        "SELECT p.oid::bigint, quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', quote_ident(n.nspname) || '.' || quote_ident(p.proname), \
                p.prosecdef, md5(pg_get_functiondef(p.oid)), \
                has_function_privilege('anon', p.oid, 'EXECUTE'), \
                has_function_privilege('authenticated', p.oid, 'EXECUTE'), p.prorettype::regtype::text, \
                array(SELECT format_type(t, NULL) FROM unnest(p.proargtypes) WITH ORDINALITY a(t, i) ORDER BY i), \
                array(SELECT coalesce(a.name, '') FROM unnest(p.proargmodes, p.proargnames) WITH ORDINALITY \
                      a(mode, name, i) WHERE coalesce(a.mode, 'i') IN ('i', 'b', 'v') ORDER BY i), \
                p.pronargdefaults, lower(p.proname) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = ANY($1) AND p.prokind = 'f' \
           AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) \
           AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid \
                           AND d.deptype = 'e') \
         ORDER BY p.prosecdef DESC, 2",
    )
    .bind(exposed)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::new();
    for (oid, name, callee, definer, definition, anon, authenticated, returns, types, names, defaults, proname) in rows
    {
        let callable_by: Vec<String> =
            [("anon", anon), ("authenticated", authenticated)].iter().filter(|r| r.1).map(|r| r.0.into()).collect();
        if callable_by.is_empty() || !mentioned.contains(&proname) {
            continue;
        }
        let mut rpc = Rpc {
            name,
            definer,
            definition,
            callable_by,
            returns_rows_of: None,
            not_called: None,
            calls: BTreeMap::new(),
        };
        let required = types.len().saturating_sub(usize::try_from(defaults).unwrap_or(0));
        let params: Vec<(String, String)> = names
            .iter()
            .cloned()
            .chain(std::iter::repeat(String::new()))
            .zip(types.iter().cloned())
            .take(required)
            .collect();
        rpc.not_called = uncallable(&returns, &types);
        if rpc.not_called.is_none() {
            let f = Function { oid, callee, definer, returns: returns_table(conn, oid, m).await?, params };
            rpc.returns_rows_of = f.returns.as_ref().map(|(table, _)| table.clone());
            call_all(conn, &f, m, &mut rpc).await?;
        }
        out.push(rpc);
    }
    Ok(out)
}

struct Function {
    oid: i64,
    callee: String,
    definer: bool,
    /// The RLS table whose rows it returns, with its key column.
    returns: Option<(String, String)>,
    params: Vec<(String, String)>,
}

/// Why a function cannot be called with generated arguments, if it cannot.
fn uncallable(returns: &str, types: &[String]) -> Option<String> {
    if matches!(returns, "trigger" | "event_trigger" | "internal" | "language_handler") {
        return Some(format!("returns {returns}: not callable through the API"));
    }
    types
        .iter()
        .find(|t| t.starts_with("any") || t.as_str() == "\"any\"" || t.as_str() == "internal")
        .map(|t| format!("takes a polymorphic argument ({t}): no argument can be generated"))
}

/// The RLS table (of the matrix) whose row type the function returns, and its one key column.
async fn returns_table(conn: &mut PgConnection, oid: i64, m: &AccessMatrix) -> sqlx::Result<Option<(String, String)>> {
    let found: Option<(String, Vec<String>)> = sqlx::query_as(
        "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
                array(SELECT quote_ident(a.attname) FROM pg_index x JOIN pg_attribute a \
                      ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey) \
                      WHERE x.indrelid = c.oid AND x.indisprimary) \
         FROM pg_proc p JOIN pg_type t ON t.oid = p.prorettype JOIN pg_class c ON c.oid = t.typrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.oid = $1::oid",
    )
    .bind(oid)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(found.and_then(|(table, key)| match key.as_slice() {
        [one] if m.tables.contains(&table) => Some((table, one.clone())),
        _ => None,
    }))
}

async fn call_all(conn: &mut PgConnection, f: &Function, m: &AccessMatrix, rpc: &mut Rpc) -> anyhow::Result<()> {
    let Some((a, b)) = m.probe_users.clone() else {
        rpc.not_called = Some("fewer than two users in the data: no ids to call it with".into());
        return Ok(());
    };
    for caller in [Persona::Anon, a.clone(), b.clone()] {
        let (own, other) = if caller == b { (&b, &a) } else { (&a, &b) };
        for (variant, whose, counterpart) in [(Variant::Own, own, other), (Variant::Other, other, own)] {
            let columns = column_values(conn, &f.params, whose, m).await?;
            let mut args = arguments(&f.params, &columns, whose, counterpart, m);
            let mut call = call_once(conn, f, &caller, &args, m).await?;
            // A constraint refused a generated value: try again, adjusted to it, a few times.
            let people: Vec<String> = [whose, counterpart]
                .iter()
                .filter_map(|p| p.auth_id())
                .map(|id| literal(&id.to_string(), "uuid"))
                .collect();
            for _ in 0..3 {
                let Call::Failed { error, .. } = &call else { break };
                let Some(again) = adjusted(conn, error, &args, &f.params, &people).await? else { break };
                if again == args {
                    break;
                }
                args = again;
                call = call_once(conn, f, &caller, &args, m).await?;
            }
            rpc.calls.insert((caller.clone(), variant), call);
        }
    }
    Ok(())
}

async fn call_once(
    conn: &mut PgConnection,
    f: &Function,
    caller: &Persona,
    args: &[String],
    m: &AccessMatrix,
) -> anyhow::Result<Call> {
    let shown = args.join(", ");
    let key = f.returns.as_ref().map_or("NULL".to_string(), |(_, k)| format!("r.{k}::text"));
    let sql = format!("SELECT r::text, {key} FROM {}({shown}) r", f.callee);
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("SET LOCAL statement_timeout = '10s'").execute(&mut *tx).await?;
    act_as(&mut tx, caller).await?;
    let result: Result<Vec<Returned>, sqlx::Error> = sqlx::query_as(&sql).fetch_all(&mut *tx).await;
    let rows = match result {
        Err(sqlx::Error::Database(db)) if db.code().as_deref() == Some("42501") => {
            tx.rollback().await?;
            return Ok(Call::Refused);
        }
        Err(e) => {
            tx.rollback().await?;
            return Ok(Call::Failed { args: shown, error: describe(e) });
        }
        Ok(rows) => rows,
    };
    sqlx::raw_sql("RESET ROLE").execute(&mut *tx).await?;
    let changed_beyond = changes_beyond(&mut tx, f, caller, m).await.unwrap_or_default();
    tx.rollback().await?;
    let values: Vec<String> = rows.iter().map(|r| r.0.clone().unwrap_or_default()).collect();
    let (beyond, unjudged) = match (&f.returns, f.definer) {
        (Some((table, _)), _) => {
            let reach = m.reach.get(&(caller.clone(), table.clone(), Op::Select)).cloned().unwrap_or_default();
            (Some(rows.iter().filter(|r| r.1.as_ref().is_some_and(|k| !reach.contains(k))).count()), None)
        }
        (None, false) => (Some(0), None),
        (None, true) => match as_invoker(conn, f, caller, &sql).await? {
            Ok(invoker) => (Some(super::doors::beyond(&values, &invoker)), None),
            Err(why) => (None, Some(why)),
        },
    };
    Ok(Call::Returned { args: shown, rows: values.len(), beyond, unjudged, changed_beyond })
}

/// The same call with the function made `SECURITY INVOKER` (rolled back): what RLS alone gives.
async fn as_invoker(
    conn: &mut PgConnection,
    f: &Function,
    caller: &Persona,
    sql: &str,
) -> anyhow::Result<Result<Vec<String>, String>> {
    let altered = format!("ALTER FUNCTION {} SECURITY INVOKER", regprocedure(conn, f.oid).await?);
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(&format!("SET LOCAL statement_timeout = '10s'; {altered}")).execute(&mut *tx).await?;
    act_as(&mut tx, caller).await?;
    let result: Result<Vec<Returned>, sqlx::Error> = sqlx::query_as(sql).fetch_all(&mut *tx).await;
    tx.rollback().await?;
    Ok(match result {
        Ok(rows) => Ok(rows.into_iter().map(|r| r.0.unwrap_or_default()).collect()),
        Err(e) => Err(format!(
            "as SECURITY INVOKER the same call fails ({}), so what it returns could not be compared with RLS",
            describe(e)
        )),
    })
}

async fn regprocedure(conn: &mut PgConnection, oid: i64) -> sqlx::Result<String> {
    sqlx::query_scalar("SELECT $1::oid::regprocedure::text").bind(oid).fetch_one(&mut *conn).await
}

/// Rows of the RLS tables the function's source names that the call changed (in this
/// transaction) and that `caller` could not update or delete as itself.
async fn changes_beyond(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    f: &Function,
    caller: &Persona,
    m: &AccessMatrix,
) -> sqlx::Result<Vec<String>> {
    let source: String = sqlx::query_scalar("SELECT lower(prosrc) FROM pg_proc WHERE oid = $1::oid")
        .bind(f.oid)
        .fetch_one(&mut **tx)
        .await?;
    let mut out = Vec::new();
    for table in m
        .tables
        .iter()
        .filter(|t| t.rsplit('.').next().is_some_and(|n| source.contains(&n.trim_matches('"').to_lowercase())))
    {
        let Some(all_before) = m.reach.get(&(Persona::ServiceRole, table.clone(), Op::Select)) else { continue };
        let key = key_of(tx, table).await?;
        let Some(key) = key else { continue };
        let touched: BTreeSet<String> = sqlx::query_scalar(&format!(
            "SELECT {key}::text FROM {table} WHERE xmin::text::bigint = txid_current() % 4294967296"
        ))
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .collect();
        let now: BTreeSet<String> = sqlx::query_scalar(&format!("SELECT {key}::text FROM {table}"))
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
        let may = |op: Op| m.reach.get(&(caller.clone(), table.clone(), op)).cloned().unwrap_or_default();
        let updated: Vec<&String> =
            touched.iter().filter(|k| all_before.contains(*k) && !may(Op::Update).contains(*k)).collect();
        let deleted: Vec<&String> =
            all_before.iter().filter(|k| !now.contains(*k) && !may(Op::Delete).contains(*k)).collect();
        if let Some(first) = updated.first() {
            out.push(format!("updated {} row(s) of {table} it may not update (first: {first})", updated.len()));
        }
        if let Some(first) = deleted.first() {
            out.push(format!("deleted {} row(s) of {table} it may not delete (first: {first})", deleted.len()));
        }
    }
    Ok(out)
}

async fn key_of(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>, table: &str) -> sqlx::Result<Option<String>> {
    let key: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(a.attname) FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid \
         AND a.attnum = ANY (x.indkey) WHERE x.indrelid = $1::regclass AND x.indisprimary",
    )
    .bind(table)
    .fetch_all(&mut **tx)
    .await?;
    Ok(match key.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_functions_and_polymorphic_arguments_are_not_called() {
        assert!(uncallable("trigger", &[]).is_some());
        assert!(uncallable("setof public.notes", &["anyelement".into()]).is_some());
        assert_eq!(uncallable("bigint", &["uuid".into()]), None);
    }
}
