//! Arguments for calling a function as a persona: generated from its signature, with ids from
//! the data (the persona's own rows and another user's), and a value a CHECK names when the
//! first try is refused by one.

use sqlx::PgConnection;

use super::super::{AccessMatrix, Op, Persona};

/// The arguments again, adjusted to the constraint that refused them (`error`), as a person
/// would: a CHECK's first quoted value for the generated texts; for a foreign key, an existing
/// value of the referenced column for the first argument of its type that was a person's id.
/// `None` when there is nothing to adjust.
pub(super) async fn adjusted(
    conn: &mut PgConnection,
    error: &str,
    args: &[String],
    params: &[(String, String)],
    people: &[String],
) -> sqlx::Result<Option<Vec<String>>> {
    let constraint = |code: &str| error.strip_prefix(&format!("ERROR {code}: ")).and_then(|m| m.split('"').nth(3));
    let mut args = args.to_vec();
    if let Some(name) = constraint("23514") {
        let def: Option<String> = sqlx::query_scalar(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1 AND contype = 'c' LIMIT 1",
        )
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(value) = def.and_then(|d| d.split('\'').nth(1).map(str::to_string)) else { return Ok(None) };
        for (arg, (_, ty)) in args.iter_mut().zip(params) {
            if arg.starts_with("'xtask'::") {
                *arg = literal(&value, ty);
            }
        }
        return Ok(Some(args));
    }
    let Some(name) = constraint("23503") else { return Ok(None) };
    let found: Option<(String, String)> = sqlx::query_as(
        "SELECT format('SELECT %I::text FROM %s LIMIT 1', a.attname, c.confrelid::regclass), format_type(a.atttypid, NULL) \
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = c.confkey[1] \
         WHERE c.conname = $1 AND c.contype = 'f' LIMIT 1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((select, ty)) = found else { return Ok(None) };
    let Some(value) = sqlx::query_scalar::<_, Option<String>>(&select).fetch_optional(&mut *conn).await?.flatten()
    else {
        return Ok(None);
    };
    let Some(at) = args.iter().zip(params).position(|(a, (_, t))| *t == ty && people.contains(a)) else {
        return Ok(None);
    };
    args[at] = literal(&value, &ty);
    Ok(Some(args))
}

/// The arguments for a call with `whose` ids: a parameter named after an RLS table (`p_note_id`,
/// `note`) gets the key of one of `whose` rows of it; the first other uuid gets `whose` auth id,
/// any later one `counterpart`'s (two people: `start_chat(me, them)`).
pub(super) fn arguments(
    params: &[(String, String)],
    columns: &[Option<String>],
    whose: &Persona,
    counterpart: &Persona,
    m: &AccessMatrix,
) -> Vec<String> {
    let mut people = 0;
    params
        .iter()
        .zip(columns.iter().chain(std::iter::repeat(&None)))
        .map(|((name, ty), column)| {
            let keyed = table_for(name, &m.tables).and_then(|t| {
                let reach = m.reach.get(&(whose.clone(), t.clone(), Op::Select))?;
                let key = m.owned.get(&(whose.clone(), t)).and_then(|o| o.iter().next()).or(reach.iter().next())?;
                (!key.starts_with('(')).then(|| key.clone())
            });
            match (keyed.or(column.clone()), ty.as_str()) {
                (Some(value), _) => literal(&value, ty),
                (None, "uuid") => {
                    people += 1;
                    let person = if people == 1 { whose } else { counterpart };
                    person.auth_id().map_or_else(|| format!("NULL::{ty}"), |id| literal(&id.to_string(), ty))
                }
                (None, _) => default_literal(ty),
            }
        })
        .collect()
}

/// Values for parameters named after a column of an RLS table (`file_token` → `files.token`,
/// `slug` → a table's `slug`): that column in one of `whose` rows (its own first), so a call
/// reaches a row that exists.
pub(super) async fn column_values(
    conn: &mut PgConnection,
    params: &[(String, String)],
    whose: &Persona,
    m: &AccessMatrix,
) -> sqlx::Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    for (name, _) in params {
        let mut found = None;
        if table_for(name, &m.tables).is_none() {
            for table in &m.tables {
                let Some(column) = column_for(conn, name, table).await? else { continue };
                let reach = m.reach.get(&(whose.clone(), table.clone(), Op::Select));
                let owned = m.owned.get(&(whose.clone(), table.clone()));
                let Some(key) = owned.and_then(|o| o.iter().next()).or(reach.and_then(|r| r.iter().next())) else {
                    continue;
                };
                // The row whose (one-column) key the matrix holds.
                let sql = format!(
                    "SELECT {column}::text FROM {table} t WHERE to_jsonb(t) ->> (SELECT a.attname FROM pg_index x \
                     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] \
                     WHERE x.indrelid = '{table}'::regclass AND x.indisprimary) = $1 LIMIT 1"
                );
                found =
                    sqlx::query_scalar::<_, Option<String>>(&sql).bind(key).fetch_optional(&mut *conn).await?.flatten();
                if found.is_some() {
                    break;
                }
            }
        }
        out.push(found);
    }
    Ok(out)
}

/// The column of `table` a parameter name points at: the whole name (`slug`), or a table word
/// and a column (`file_token` → `files.token`), never a key or owner id (ids go by table).
async fn column_for(conn: &mut PgConnection, param: &str, table: &str) -> sqlx::Result<Option<String>> {
    let stem = param.to_lowercase().trim_start_matches("p_").trim_start_matches('_').to_string();
    let rest =
        stem.split_once('_').and_then(|(word, rest)| table_for(word, &[table.to_string()]).map(|_| rest.to_string()));
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped \
           AND atttypid::regtype::text IN ('text', 'character varying', 'character', 'citext')",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    Ok([rest, Some(stem)].into_iter().flatten().find(|c| columns.contains(c)).map(|c| format!("\"{c}\"")))
}

/// The RLS table a parameter name points at: `p_note_id`, `_note`, `note_id`, `notes` → `notes`.
pub fn table_for(param: &str, tables: &[String]) -> Option<String> {
    let mut stem = param.to_lowercase();
    for prefix in ["p_", "in_", "arg_", "v_", "_"] {
        if let Some(rest) = stem.strip_prefix(prefix) {
            stem = rest.to_string();
        }
    }
    let stem = stem.strip_suffix("_id").or(stem.strip_suffix("id")).unwrap_or(&stem).trim_end_matches('_').to_string();
    if stem.is_empty() {
        return None;
    }
    let plural = [stem.clone(), format!("{stem}s"), format!("{stem}es"), format!("{}ies", stem.trim_end_matches('y'))];
    tables.iter().find(|t| plural.iter().any(|p| t.rsplit('.').next().map(|n| n.trim_matches('"')) == Some(p))).cloned()
}

pub(super) fn literal(value: &str, ty: &str) -> String {
    format!("'{}'::{ty}", value.replace('\'', "''"))
}

fn default_literal(ty: &str) -> String {
    let value = match ty {
        t if t.ends_with("[]") => "{}",
        "boolean" => "true",
        "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => "1",
        "json" | "jsonb" => "{}",
        t if t.starts_with("timestamp") || t == "date" => "now",
        "interval" => "1 hour",
        t if t.starts_with("text") || t.starts_with("character") || t == "citext" || t == "name" => "xtask",
        _ => return format!("NULL::{ty}"),
    };
    literal(value, ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_named_after_a_table_takes_its_keys() {
        let tables: Vec<String> = ["public.notes", "public.categories", "public.\"Box\""].map(String::from).to_vec();
        let cases = [
            ("p_note_id", Some("public.notes")),
            ("note_id", Some("public.notes")),
            ("_note", Some("public.notes")),
            ("notes", Some("public.notes")),
            ("category_id", Some("public.categories")),
            ("id", None),
            ("user_id", None),
        ];
        for (param, table) in cases {
            assert_eq!(table_for(param, &tables).as_deref(), table, "{param}");
        }
    }

    #[test]
    fn generated_literals_follow_the_type() {
        let cases = [
            ("boolean", "'true'::boolean"),
            ("bigint", "'1'::bigint"),
            ("text", "'xtask'::text"),
            ("jsonb", "'{}'::jsonb"),
            ("text[]", "'{}'::text[]"),
            ("timestamp with time zone", "'now'::timestamp with time zone"),
            ("public.mood", "NULL::public.mood"),
        ];
        for (ty, lit) in cases {
            assert_eq!(default_literal(ty), lit, "{ty}");
        }
    }
}
