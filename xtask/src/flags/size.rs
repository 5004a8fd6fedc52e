//! Generator sizes: the data flags, and sizes that cannot work refused before anything starts.

use clap::Args;

/// Size of the generated test data (the app's deterministic generator).
#[derive(Debug, Clone, Args)]
pub struct Data {
    /// Users to generate (at least 2: the cross-user probes need two)
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=10_000_000))]
    pub users: u32,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub conversations_per_user: u32,
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub messages_per_conversation: u32,
    /// Seed of the generator: the same seed and sizes give the same rows
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Data {
    /// Refuses sizes that cannot fit before anything starts: fewer than two users, more than
    /// `MAX_MESSAGES`, or more than the free space of `dir` (where the database will live).
    pub fn check_fits(&self, dir: &std::path::Path) -> anyhow::Result<()> {
        let messages = u128::from(self.users)
            * u128::from(self.conversations_per_user)
            * u128::from(self.messages_per_conversation);
        check_size(self.users.into(), messages, dir)
    }

    pub fn size(&self) -> crate::app_seam::FixtureSize {
        crate::app_seam::FixtureSize {
            users: self.users,
            conversations_per_user: self.conversations_per_user,
            messages_per_conversation: self.messages_per_conversation,
            seed: self.seed,
        }
    }
}

/// Bytes a generated message costs on disk with its share of indexes, users and conversations
/// (measured at 5 M messages: about 0.35 KB; doubled for WAL and the migration's rewrite room).
const BYTES_PER_MESSAGE: u128 = 700;
/// Most messages one run generates, whatever the disk says.
pub const MAX_MESSAGES: u128 = 200_000_000;

/// The size rules every generator flag set shares (db-local-test's and db-rehearse's).
pub fn check_size(users: u64, messages: u128, dir: &std::path::Path) -> anyhow::Result<()> {
    if users < 2 {
        anyhow::bail!("--users {users}: the cross-user probes need at least 2 users");
    }
    if messages > MAX_MESSAGES {
        anyhow::bail!("{messages} messages is more than this tool generates ({MAX_MESSAGES}); lower --users or the per-user sizes");
    }
    let need = messages * BYTES_PER_MESSAGE;
    if let Some(free) = free_bytes(dir) {
        if need > u128::from(free) {
            anyhow::bail!(
                "{messages} messages need about {:.1} GB and {} has {:.1} GB free; lower the sizes or free space",
                need as f64 / 1e9,
                dir.display(),
                free as f64 / 1e9
            );
        }
    }
    Ok(())
}

#[cfg(unix)]
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    // fsblkcnt_t and c_ulong are u32 on some platforms.
    #[allow(clippy::useless_conversion)]
    Some(u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size())))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &std::path::Path) -> Option<u64> {
    None
}

/// `TABLE=ROWS` as typed on the command line.
pub fn parse_target_rows(text: &str) -> Result<(String, f64), String> {
    let (table, rows) =
        text.split_once('=').ok_or_else(|| format!("`{text}`: write TABLE=ROWS, e.g. public.orders=50000000"))?;
    let rows: f64 = rows.replace('_', "").parse().map_err(|_| format!("`{text}`: ROWS is a number"))?;
    if !rows.is_finite() || rows < 0.0 {
        return Err(format!("`{text}`: ROWS is a count of rows, 0 or more"));
    }
    Ok((table.trim().to_string(), rows))
}

#[cfg(test)]
mod target_rows_tests {
    use super::parse_target_rows;

    #[test]
    fn target_rows_read_as_table_and_count() {
        assert_eq!(parse_target_rows("public.orders=50_000_000"), Ok(("public.orders".into(), 5e7)));
        assert!(parse_target_rows("public.orders").is_err());
        assert!(parse_target_rows("t=many").is_err());
        assert!(parse_target_rows("t=-1").is_err(), "a negative count");
        assert!(parse_target_rows("t=NaN").is_err());
        assert!(parse_target_rows("t=inf").is_err());
    }
}
