//! Arguments for calling a function as a persona: generated from its signature, with ids from
//! the data (the persona's own rows and another user's), and a value a CHECK names when the
//! first try is refused by one.

use sqlx::PgConnection;

use super::super::{AccessMatrix, Op, Persona};

/// A value the violated CHECK constraint named in `error` accepts (its first quoted literal).
pub(super) async fn checked_value(conn: &mut PgConnection, error: &str) -> sqlx::Result<Option<String>> {
    let Some(name) = error.strip_prefix("ERROR 23514: ").and_then(|m| m.split('"').nth(3)) else { return Ok(None) };
    let def: Option<String> = sqlx::query_scalar(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1 AND contype = 'c' LIMIT 1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(def.and_then(|d| d.split('\'').nth(1).map(str::to_string)))
}

/// The arguments for a call with `whose` ids: a parameter named after an RLS table (`p_note_id`,
/// `note`) gets the key of one of `whose` rows of it; another uuid gets `whose` auth id.
pub(super) fn arguments(params: &[(String, String)], whose: &Persona, m: &AccessMatrix) -> Vec<String> {
    params
        .iter()
        .map(|(name, ty)| {
            let keyed = table_for(name, &m.tables).and_then(|t| {
                let reach = m.reach.get(&(whose.clone(), t.clone(), Op::Select))?;
                let key = m.owned.get(&(whose.clone(), t)).and_then(|o| o.iter().next()).or(reach.iter().next())?;
                (!key.starts_with('(')).then(|| key.clone())
            });
            match (keyed, ty.as_str()) {
                (Some(key), _) => literal(&key, ty),
                (None, "uuid") => {
                    whose.auth_id().map_or_else(|| format!("NULL::{ty}"), |id| literal(&id.to_string(), ty))
                }
                (None, _) => default_literal(ty),
            }
        })
        .collect()
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
