//! Durations as people write them (`500ms`, `90s`, `5m`, `1h`, `2d`): flags, directives in
//! migration files and query files parse them alike; a typo is an error before anything starts.

/// A duration flag (`500ms`, `90s`, `5m`, `1h`, `2d`): a typo fails while parsing flags, before
/// anything starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub std::time::Duration);

impl std::str::FromStr for Span {
    type Err = String;
    fn from_str(text: &str) -> Result<Span, String> {
        let text = text.trim();
        let (num, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
        let n: u64 = num.parse().map_err(|_| format!("`{text}` is not a duration like 500ms, 90s, 5m or 1h"))?;
        let secs = match unit {
            "" | "s" => n,
            "ms" => return Ok(Span(std::time::Duration::from_millis(n))),
            "m" | "min" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            other => return Err(format!("unknown duration unit `{other}` in `{text}`; use ms, s, m, h or d")),
        };
        Ok(Span(std::time::Duration::from_secs(secs)))
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let s = ms / 1000;
        match s {
            0 => f.write_str("0s"),
            _ if s.is_multiple_of(86_400) => write!(f, "{}d", s / 86_400),
            _ if s.is_multiple_of(3600) => write!(f, "{}h", s / 3600),
            _ if s.is_multiple_of(60) => write!(f, "{}m", s / 60),
            _ => write!(f, "{s}s"),
        }
    }
}
