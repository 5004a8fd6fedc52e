//! Formatting and lints are part of the test run, so they cannot be forgotten.

use std::process::Command;

fn cargo(args: &[&str]) -> std::process::Output {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("running cargo")
}

#[test]
fn code_is_formatted() {
    let out = cargo(&["fmt", "--all", "--", "--check"]);
    assert!(out.status.success(), "run `cargo fmt --all`:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn clippy_is_clean() {
    // A target dir of its own: the test binary's build must not wait on (or invalidate) this one.
    let target = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/tidy");
    let out =
        cargo(&["clippy", "--workspace", "--all-targets", "--quiet", "--target-dir", target, "--", "-D", "warnings"]);
    assert!(out.status.success(), "clippy:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// `xtask/src` files and their lines, with each file's `#[cfg(test)]` tail cut off.
fn xtask_sources() -> Vec<(String, Vec<String>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../xtask/src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read");
            let name = p.strip_prefix(&root).expect("prefix").display().to_string();
            (name, text.lines().map(str::to_string).collect())
        })
        .collect()
}

/// Lines of code outside tests and comments.
fn code_lines(lines: &[String]) -> impl Iterator<Item = (usize, &str)> {
    let end = lines.iter().position(|l| l.starts_with("#[cfg(test)]")).unwrap_or(lines.len());
    lines[..end].iter().enumerate().map(|(i, l)| (i + 1, l.as_str())).filter(|(_, l)| !l.trim_start().starts_with("//"))
}

#[test]
fn xtask_files_and_functions_stay_small() {
    let mut problems = Vec::new();
    for (name, lines) in xtask_sources() {
        if lines.len() > 400 {
            problems.push(format!("{name} has {} lines (at most 400: split it by concept)", lines.len()));
        }
        let code: Vec<(usize, &str)> = code_lines(&lines).collect();
        for (i, (line_no, line)) in code.iter().enumerate() {
            let t = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "async fn ",
                "pub async fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "pub(super) async fn ",
                "pub(crate) async fn ",
            ]
            .iter()
            .any(|p| t.starts_with(p));
            if !is_fn {
                continue;
            }
            let mut depth = 0i32;
            let mut opened = false;
            let mut end = *line_no;
            for (n, l) in &code[i..] {
                depth += l.matches('{').count() as i32 - l.matches('}').count() as i32;
                opened |= l.contains('{');
                end = *n;
                if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                    break;
                }
            }
            if end - line_no + 1 > 80 {
                problems.push(format!(
                    "{name}:{line_no} `{}` spans {} lines (at most 80)",
                    t.trim_end_matches('{').trim(),
                    end - line_no + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn nothing_chat_app_specific_lives_in_xtask() {
    // The chat app is reached only through the app seam; these names are the app's.
    let app_names =
        ["public.users", "public.conversations", "public.messages", "add_message", "get_conversation_messages"];
    let mut problems = Vec::new();
    for (name, lines) in xtask_sources() {
        if name == "app_seam.rs" {
            continue;
        }
        for (i, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if line.contains("app::") {
                problems.push(format!("{name}:{}: names the app crate outside app_seam.rs: {}", i + 1, line.trim()));
            }
            for word in app_names.iter().filter(|w| line.contains(*w)) {
                problems.push(format!("{name}:{}: names the chat app's `{word}`: {}", i + 1, line.trim()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
