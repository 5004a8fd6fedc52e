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
