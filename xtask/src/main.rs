//! `cargo xtask`: the command line of `entry`, under this repository's alias.

fn main() -> std::process::ExitCode {
    xtask::entry::main("cargo xtask")
}
