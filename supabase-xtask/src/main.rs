//! `supabase-xtask`: the commands of `cargo xtask`, installable into any Supabase repository
//! (`cargo install --locked --git <this repository> supabase-xtask`), pointed at its `supabase/`.

fn main() -> std::process::ExitCode {
    xtask::entry::main("supabase-xtask")
}
