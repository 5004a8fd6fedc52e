//! Passwords never reach a terminal or a log: URLs and any text holding them are redacted.

use url::Url;

/// The URL with any password replaced by `***`, safe to print.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparsable database URL>".to_string(),
    }
}

/// `text` with the password of every `scheme://user:password@host` in it replaced by `***`.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '\'').unwrap_or(rest.len());
        let authority = &rest[..end];
        match (authority.find('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..colon + 1]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_everything_but_the_password() {
        let cases = [
            ("postgres://u:secret@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgres://u@h/db", "postgres://u@h/db"),
            ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
            ("not a url", "<unparsable database URL>"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact(url), expected, "{url}");
        }
    }

    #[test]
    fn text_loses_every_password_in_it() {
        let cases = [
            (
                "pg_dump: error: connection to postgres://a:pw1@h/db failed; retry postgres://b:pw2@h2/db",
                "pg_dump: error: connection to postgres://a:***@h/db failed; retry postgres://b:***@h2/db",
            ),
            ("url 'postgres://a:x@h/d' quoted", "url 'postgres://a:***@h/d' quoted"),
            ("no password postgres://a@h/d", "no password postgres://a@h/d"),
            ("https://example.com:443/path", "https://example.com:443/path"),
            ("nothing here", "nothing here"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_text(text), expected, "{text}");
        }
    }
}
