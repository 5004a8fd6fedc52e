//! Passwords never reach a terminal or a log: URLs and any text holding them are redacted.

use url::Url;

/// Query parameters libpq takes a secret from (`?password=…`, `?sslpassword=…`).
pub const SECRET_PARAMS: [&str; 2] = ["password", "sslpassword"];

/// The URL with any password (in the user part or a `?password=` parameter) replaced by `***`,
/// safe to print.
pub fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query_pairs().any(|(k, _)| SECRET_PARAMS.contains(&k.as_ref())) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if SECRET_PARAMS.contains(&k.as_ref()) { "***".to_string() } else { v.to_string() };
                        (k.to_string(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) => "<unparsable database URL>".to_string(),
    }
}

/// Whether the URL carries a password (user part or query): one typed on a command line stays
/// in the shell's history and the process list.
pub fn has_password(url: &str) -> bool {
    Url::parse(url)
        .is_ok_and(|u| u.password().is_some() || u.query_pairs().any(|(k, _)| SECRET_PARAMS.contains(&k.as_ref())))
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
    redact_params(&out)
}

/// `password=…` (and `sslpassword=…`) as a URL parameter or a `key=value` connection string
/// writes it, with its value replaced by `***`.
fn redact_params(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("password=") {
        let key_start = rest[..i].rfind(|c: char| !c.is_ascii_alphanumeric() && c != '_').map_or(0, |k| k + 1);
        let key = &rest[key_start..i + "password".len()];
        out.push_str(&rest[..i + "password=".len()]);
        rest = &rest[i + "password=".len()..];
        if !SECRET_PARAMS.contains(&key) {
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '&' | '"' | '\'' | ';')).unwrap_or(rest.len());
        if end > 0 {
            out.push_str("***");
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
            ("postgres://u@h/db?password=s3cret&sslmode=require", "postgres://u@h/db?password=***&sslmode=require"),
            ("postgres://u@h/db?sslpassword=k3y", "postgres://u@h/db?sslpassword=***"),
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
            (
                "at postgres://a@h/d?sslmode=require&password=s3cret.",
                "at postgres://a@h/d?sslmode=require&password=***",
            ),
            ("host=h user=u password=s3cret dbname=d", "host=h user=u password=*** dbname=d"),
            ("the password= is empty", "the password= is empty"),
            ("mypassword=visible", "mypassword=visible"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_text(text), expected, "{text}");
        }
    }

    #[test]
    fn a_password_anywhere_in_the_url_is_one() {
        assert!(has_password("postgres://u:p@h/db"));
        assert!(has_password("postgres://u@h/db?password=p"));
        assert!(!has_password("postgres://u@h/db?sslmode=require"));
    }
}
