//! What a column needs for a generated row: read from the catalog (type, NOT NULL, default,
//! generated, enum labels, domain base, CHECK constraints), turned into an SQL literal by pure
//! rules that have their own tests.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// One column, as the generator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnFacts {
    /// Quoted as needed.
    pub name: String,
    /// `format_type` of the column (the cast target).
    pub type_name: String,
    /// The base type for a domain, else the type itself (`text`, `integer`, `uuid` …).
    pub base_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// Generated, or identity ALWAYS: cannot be written.
    pub computed: bool,
    /// The labels of an enum type, in order.
    pub enum_labels: Vec<String>,
    /// Single-column CHECK constraints on it (and its domain's), as `pg_get_constraintdef` says.
    pub checks: Vec<String>,
    /// Part of the primary key or a unique index: generated numbers start far from the small
    /// literal ids seeds use.
    pub is_key: bool,
}

/// Where generated key numbers start.
const KEY_BASE: i64 = 1_000_000;

/// What to write in a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fill {
    /// Leave it to its default, NULL or generation.
    Omit,
    /// An SQL literal with its cast.
    Value(String),
}

/// Columns whose uuid names the row's owner, by the names projects give them.
const OWNER_NAMES: [&str; 8] =
    ["user_id", "owner_id", "owner", "created_by", "author_id", "profile_id", "account_id", "uid"];

impl ColumnFacts {
    pub fn fill(&self, user: Uuid, n: usize) -> Fill {
        if self.computed {
            return Fill::Omit;
        }
        let cast = |text: &str| Fill::Value(format!("{}::{}", quote(text), self.type_name));
        let bare = self.name.trim_matches('"');
        let is_uuid = self.base_type == "uuid";
        // A default of auth.uid() is NULL for an import: the owner is who it stands for.
        if is_uuid && self.default.as_deref().is_some_and(|d| d.contains("auth.uid()")) {
            return cast(&user.to_string());
        }
        if self.default.is_some() {
            return Fill::Omit;
        }
        if is_uuid && OWNER_NAMES.contains(&bare) {
            return cast(&user.to_string());
        }
        if !self.not_null {
            return Fill::Omit;
        }
        // One of the values a check or an enum allows, a different one per row (unique keys often
        // include it).
        let allowed = self.allowed_values();
        let choices = if allowed.is_empty() { &self.enum_labels } else { &allowed };
        if !choices.is_empty() {
            // Mixed with the column's name, so two such columns of one row vary independently.
            let salt = bare.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            let index = if n < choices.len() { n } else { (n ^ salt).wrapping_mul(2_654_435_761) >> 7 };
            return cast(&choices[index % choices.len()]);
        }
        let base = self.base_type.as_str();
        if base.ends_with("[]") {
            return cast("{}");
        }
        match base {
            "uuid" => cast(&Uuid::new_v5(&user, format!("{bare}-{n}").as_bytes()).to_string()),
            "boolean" => cast("false"),
            "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => {
                let base = if self.is_key { KEY_BASE } else { 0 };
                cast(&(self.lower_bound().unwrap_or(0).max(base) + 1 + n as i64).to_string())
            }
            "json" | "jsonb" => cast("{}"),
            "bytea" => cast("\\x00"),
            "inet" | "cidr" => cast("127.0.0.1"),
            "date" => Fill::Value("current_date".into()),
            "interval" => cast("1 hour"),
            b if b.starts_with("timestamp") => Fill::Value(format!("now()::{}", self.type_name)),
            b if b.starts_with("time") => cast("12:00"),
            _ => {
                let text = format!("{bare}-{}-{n}", &user.simple().to_string()[..8]);
                let limit = varchar_limit(base).unwrap_or(usize::MAX);
                cast(&text.chars().take(limit).collect::<String>())
            }
        }
    }

    /// The values an `IN (…)` / `= ANY (ARRAY[…])` check allows, in order.
    fn allowed_values(&self) -> Vec<String> {
        for check in &self.checks {
            if let Some(start) = check.find("ARRAY[") {
                let list = &check[start + 6..check[start..].find(']').map_or(check.len(), |e| start + e)];
                return list.split(',').filter_map(|item| item.split('\'').nth(1)).map(str::to_string).collect();
            }
        }
        Vec::new()
    }

    /// The least a range check allows (`col > 0`, `col >= 18`), minus one so `+ 1` meets it.
    fn lower_bound(&self) -> Option<i64> {
        let bare = self.name.trim_matches('"');
        self.checks.iter().find_map(|check| {
            let rest = check.split(bare).nth(1)?.trim_start().trim_start_matches(')').trim_start();
            let (inclusive, number) =
                if let Some(n) = rest.strip_prefix(">=") { (true, n) } else { (false, rest.strip_prefix('>')?) };
            let digits: String = number
                .trim_start()
                .trim_start_matches('(')
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '-')
                .collect();
            let value: i64 = digits.parse().ok()?;
            Some(if inclusive { value - 1 } else { value })
        })
    }
}

/// `character varying(40)` -> 40.
fn varchar_limit(type_name: &str) -> Option<usize> {
    let inner = type_name.strip_prefix("character varying(").or_else(|| type_name.strip_prefix("character("))?;
    inner.trim_end_matches(')').parse().ok()
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A value read back from a parent row, as a literal of `type_name`.
pub fn literal_of(value: &Value, type_name: &str) -> String {
    let text = match value {
        Value::Null => return "NULL".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if type_name.is_empty() {
        quote(&text)
    } else {
        format!("{}::{type_name}", quote(&text))
    }
}

/// The facts of every column of table `oid`.
pub async fn column_facts(conn: &mut PgConnection, oid: i64) -> sqlx::Result<Vec<ColumnFacts>> {
    type Row = (String, String, String, bool, Option<String>, bool, Vec<String>, Vec<String>, bool);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), \
                format_type(coalesce(nullif(t.typbasetype, 0), a.atttypid), \
                            CASE WHEN t.typbasetype <> 0 THEN t.typtypmod ELSE a.atttypmod END), \
                a.attnotnull OR coalesce(t.typnotnull, false), pg_get_expr(d.adbin, d.adrelid), \
                a.attgenerated <> '' OR a.attidentity = 'a', \
                ARRAY(SELECT e.enumlabel::text FROM pg_enum e \
                   WHERE e.enumtypid = coalesce(nullif(t.typbasetype, 0), a.atttypid) ORDER BY e.enumsortorder), \
                ARRAY(SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c \
                      WHERE c.contype = 'c' AND ((c.conrelid = a.attrelid AND c.conkey = ARRAY[a.attnum]) \
                                                 OR c.contypid = a.atttypid)), \
                EXISTS (SELECT FROM pg_index x WHERE x.indrelid = a.attrelid AND x.indisunique \
                        AND a.attnum = ANY (x.indkey)) \
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(oid)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, type_name, base_type, not_null, default, computed, enum_labels, checks, is_key)| ColumnFacts {
            name,
            type_name,
            base_type,
            not_null,
            // Identity BY DEFAULT and serials fill themselves.
            default,
            computed,
            enum_labels,
            checks,
            is_key,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, base: &str, not_null: bool) -> ColumnFacts {
        ColumnFacts {
            name: name.into(),
            type_name: base.into(),
            base_type: base.into(),
            not_null,
            default: None,
            computed: false,
            enum_labels: Vec::new(),
            checks: Vec::new(),
            is_key: false,
        }
    }

    fn check(facts: ColumnFacts, expected: Fill) {
        let user = Uuid::from_u128(7);
        assert_eq!(facts.fill(user, 0), expected, "{facts:?}");
    }

    fn value(text: &str) -> Fill {
        Fill::Value(text.into())
    }

    #[test]
    fn columns_get_what_their_type_and_constraints_need() {
        let user = "'00000000-0000-0000-0000-000000000007'::uuid";
        check(column("user_id", "uuid", false), value(user));
        check(ColumnFacts { default: Some("auth.uid()".into()), ..column("author", "uuid", true) }, value(user));
        check(
            ColumnFacts { default: Some("now()".into()), ..column("at", "timestamp with time zone", true) },
            Fill::Omit,
        );
        check(ColumnFacts { computed: true, ..column("total", "integer", true) }, Fill::Omit);
        check(column("note", "text", false), Fill::Omit);
        check(column("title", "text", true), value("'title-00000000-0'::text"));
        check(column("code", "character varying(4)", true), value("'code'::character varying(4)"));
        check(column("count", "integer", true), value("'1'::integer"));
        check(ColumnFacts { is_key: true, ..column("id", "bigint", true) }, value("'1000001'::bigint"));
        check(column("flags", "text[]", true), value("'{}'::text[]"));
        check(column("data", "jsonb", true), value("'{}'::jsonb"));
        check(column("day", "date", true), value("current_date"));
        check(
            ColumnFacts { enum_labels: vec!["admin".into(), "moderator".into()], ..column("role", "app_role", true) },
            value("'admin'::app_role"),
        );
        let role =
            ColumnFacts { enum_labels: vec!["admin".into(), "moderator".into()], ..column("role", "app_role", true) };
        assert_eq!(
            role.fill(Uuid::from_u128(7), 1),
            value("'moderator'::app_role"),
            "the next row takes the next label"
        );
        check(
            ColumnFacts {
                checks: vec!["CHECK ((status = ANY (ARRAY['draft'::text, 'sent'::text])))".into()],
                ..column("status", "text", true)
            },
            value("'draft'::text"),
        );
        check(
            ColumnFacts { checks: vec!["CHECK ((age >= 18))".into()], ..column("age", "integer", true) },
            value("'18'::integer"),
        );
        check(
            ColumnFacts { checks: vec!["CHECK ((price > 0))".into()], ..column("price", "numeric", true) },
            value("'1'::numeric"),
        );
    }

    #[test]
    fn parent_values_become_literals_of_the_child_type() {
        assert_eq!(literal_of(&Value::String("a'b".into()), "text"), "'a''b'::text");
        assert_eq!(literal_of(&serde_json::json!(42), "bigint"), "'42'::bigint");
        assert_eq!(literal_of(&Value::Null, "uuid"), "NULL");
    }
}
