//! What a column's type and checks bound: the integer digits of `numeric(p,s)`, and the pattern
//! of a regex check.

/// The pattern of a regex check as `pg_get_constraintdef` prints it:
/// `CHECK ((code ~ '^[A-Z]{2}$'::text))` → `^[A-Z]{2}$` (`~*` too).
pub(super) fn regex_of(check: &str) -> Option<String> {
    let at = check.find(" ~ '").map(|i| i + 4).or_else(|| check.find(" ~* '").map(|i| i + 5))?;
    let rest = &check[at..];
    let mut pattern = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return Some(pattern);
            }
        }
        pattern.push(c);
    }
    None
}

/// The integer digits `numeric(p,s)` holds: `numeric(5,2)` → 999.
pub(super) fn numeric_limit(type_name: &str) -> Option<i64> {
    let inner = type_name.strip_prefix("numeric(")?.trim_end_matches(')');
    let (p, s) = inner.split_once(',').unwrap_or((inner, "0"));
    let digits = p.trim().parse::<u32>().ok()?.checked_sub(s.trim().parse::<u32>().ok()?)?;
    Some(10i64.checked_pow(digits.min(18))? - 1)
}
