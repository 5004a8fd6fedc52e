//! What a column needs for a generated row: read from the catalog (type, NOT NULL, default,
//! generated, enum labels, domain base, CHECK constraints), turned into an SQL literal by pure
//! rules that have their own tests.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

mod bounds;
use bounds::{numeric_limit, regex_of};

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
        // A nullable column gets a value in two rows of three and NULL in the third: policies and
        // checks that read it are exercised both ways (`with check (body is not null)`).
        if !self.not_null && n % 3 == 2 {
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
        if let Some(text) = self.regex_value(n) {
            return cast(&text);
        }
        // `numeric(3,1)` is numeric; its precision bounds the number.
        match base.split('(').next().unwrap_or(base) {
            "uuid" => cast(&Uuid::new_v5(&user, format!("{bare}-{n}").as_bytes()).to_string()),
            "boolean" => cast("false"),
            "smallint" | "integer" | "bigint" | "numeric" | "real" | "double precision" => {
                cast(&self.number(n).to_string())
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

    /// The `n`th number for the column: above its lower bound (far above for a key, where the
    /// range allows), wrapping inside its upper bound (the type's: `smallint`, `numeric(4,1)`, or
    /// a check's `<`, `<=`).
    fn number(&self, n: usize) -> i64 {
        let lower = self.lower_bound().unwrap_or(0);
        let upper = self.upper_bound();
        let start = if self.is_key && upper.is_none_or(|u| u > KEY_BASE * 2) { lower.max(KEY_BASE) } else { lower };
        let value = start.saturating_add(1).saturating_add(n as i64);
        match upper {
            Some(upper) if value > upper && upper > lower => lower + 1 + (n as i64 % (upper - lower)),
            _ => value,
        }
    }

    /// The most the column holds: its type's range, or a check's `col < N` / `col <= N`.
    fn upper_bound(&self) -> Option<i64> {
        let by_type = match self.base_type.as_str() {
            "smallint" => Some(i64::from(i16::MAX)),
            "integer" => Some(i64::from(i32::MAX)),
            _ => numeric_limit(&self.type_name),
        };
        let by_check = self.compared("<=", "<").map(|(inclusive, v)| if inclusive { v } else { v - 1 });
        match (by_type, by_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A text a regex check (`col ~ '^[a-z0-9_]{3,20}$'`) accepts, different per row, within the
    /// column's length.
    fn regex_value(&self, n: usize) -> Option<String> {
        use rand::SeedableRng;
        let pattern = self.checks.iter().find_map(|c| regex_of(c))?;
        // Anchors at the ends say "the whole text", which a generated text is anyway.
        let pattern = pattern.strip_prefix('^').unwrap_or(&pattern);
        let pattern = pattern.strip_suffix('$').filter(|p| !p.ends_with('\\')).unwrap_or(pattern);
        let hir = regex_syntax::ParserBuilder::new().unicode(false).utf8(true).build().parse(pattern).ok()?;
        let generator = rand_regex::Regex::with_hir(hir, 8).ok()?;
        let limit = varchar_limit(&self.type_name).unwrap_or(usize::MAX);
        let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
        (0..20).map(|_| rand::Rng::sample::<String, _>(&mut rng, &generator)).find(|s| s.chars().count() <= limit)
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
        self.compared(">=", ">").map(|(inclusive, v)| if inclusive { v - 1 } else { v })
    }

    /// The first `col <op> N` of the column's checks, `inclusive` when it is `or_equal` (`>=`).
    fn compared(&self, or_equal: &str, strict: &str) -> Option<(bool, i64)> {
        let bare = self.name.trim_matches('"');
        self.checks.iter().find_map(|check| {
            check.split(bare).skip(1).find_map(|rest| {
                let rest = rest.trim_start().trim_start_matches(')').trim_start();
                let (inclusive, number) = match rest.strip_prefix(or_equal) {
                    Some(n) => (true, n),
                    None => (false, rest.strip_prefix(strict)?),
                };
                let digits: String = number
                    .trim_start()
                    .trim_start_matches('(')
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '-')
                    .collect();
                Some((inclusive, digits.parse().ok()?))
            })
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
pub(super) mod tests {
    use super::*;

    /// A column of type `base` with no default, check or enum: what the generator's tests start from.
    pub(in crate::local_db::generate) fn column(name: &str, base: &str, not_null: bool) -> ColumnFacts {
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
        // Nullable: a value in two rows of three, NULL in the third.
        let note = column("note", "text", false);
        assert_eq!(note.fill(Uuid::from_u128(7), 0), value("'note-00000000-0'::text"));
        assert_eq!(note.fill(Uuid::from_u128(7), 2), Fill::Omit, "every third row leaves it NULL");
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
    fn numbers_stay_inside_their_type_and_checks_and_texts_match_their_regex() {
        let user = Uuid::from_u128(7);
        let number = |facts: &ColumnFacts, n: usize| match facts.fill(user, n) {
            Fill::Value(v) => v.split('\'').nth(1).and_then(|d| d.parse::<i64>().ok()).unwrap_or(i64::MIN),
            Fill::Omit => i64::MIN,
        };
        // (column, rows to draw, least, most)
        let cases = [
            (ColumnFacts { is_key: true, ..column("id", "smallint", true) }, 40_000, 1, i64::from(i16::MAX)),
            (ColumnFacts { type_name: "numeric(4,1)".into(), ..column("score", "numeric", true) }, 2_000, 1, 999),
            (
                ColumnFacts {
                    checks: vec!["CHECK (((rating >= 1) AND (rating <= 5)))".into()],
                    ..column("rating", "smallint", true)
                },
                20,
                1,
                5,
            ),
            (ColumnFacts { checks: vec!["CHECK ((qty < 10))".into()], ..column("qty", "integer", true) }, 30, 1, 9),
            (ColumnFacts { is_key: true, ..column("id", "bigint", true) }, 3, 1_000_001, 1_000_003),
        ];
        for (facts, rows, least, most) in cases {
            for n in [0, 1, rows / 2, rows - 1] {
                let v = number(&facts, n);
                assert!((least..=most).contains(&v), "{} row {n}: {v} not in {least}..={most}", facts.name);
            }
        }
        let slug = ColumnFacts {
            checks: vec!["CHECK ((slug ~ '^[a-z0-9_]{3,20}$'::text))".into()],
            ..column("slug", "character varying(12)", true)
        };
        for n in 0..5 {
            let Fill::Value(v) = slug.fill(user, n) else { panic!("a value") };
            let text = v.split('\'').nth(1).unwrap_or_default().to_string();
            assert!(
                (3..=12).contains(&text.len())
                    && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{text}"
            );
        }
        assert_eq!(regex_of("CHECK ((code ~* '^it''s$'::text))").as_deref(), Some("^it's$"));
        assert_eq!(numeric_limit("numeric(5,2)"), Some(999));
        assert_eq!(numeric_limit("numeric"), None);
    }

    #[test]
    fn parent_values_become_literals_of_the_child_type() {
        assert_eq!(literal_of(&Value::String("a'b".into()), "text"), "'a''b'::text");
        assert_eq!(literal_of(&serde_json::json!(42), "bigint"), "'42'::bigint");
        assert_eq!(literal_of(&Value::Null, "uuid"), "NULL");
    }
}
