//! Postgres's table lock modes as a type that knows what each one blocks, instead of mode names
//! compared as strings (the conflict table of the "Explicit Locking" chapter).

use std::{fmt, str::FromStr};

/// A table-level lock mode, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

/// What the app does to a table, by the lock it needs: reads take ACCESS SHARE; inserts,
/// updates and deletes take ROW EXCLUSIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppOperation {
    Select,
    Insert,
    Update,
    Delete,
}

impl AppOperation {
    pub const ALL: [AppOperation; 4] =
        [AppOperation::Select, AppOperation::Insert, AppOperation::Update, AppOperation::Delete];

    fn lock(self) -> LockMode {
        match self {
            AppOperation::Select => LockMode::AccessShare,
            _ => LockMode::RowExclusive,
        }
    }
}

impl fmt::Display for AppOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppOperation::Select => "SELECT",
            AppOperation::Insert => "INSERT",
            AppOperation::Update => "UPDATE",
            AppOperation::Delete => "DELETE",
        })
    }
}

impl LockMode {
    /// Every mode, weakest first.
    pub const ALL: [LockMode; 8] = [
        LockMode::AccessShare,
        LockMode::RowShare,
        LockMode::RowExclusive,
        LockMode::ShareUpdateExclusive,
        LockMode::Share,
        LockMode::ShareRowExclusive,
        LockMode::Exclusive,
        LockMode::AccessExclusive,
    ];

    /// Whether a lock in `self` and one in `other` cannot be held at once by two sessions.
    pub fn conflicts_with(self, other: LockMode) -> bool {
        use LockMode::*;
        let (weak, strong) = if self <= other { (self, other) } else { (other, self) };
        match strong {
            AccessShare | RowShare | RowExclusive => strong == Exclusive,
            ShareUpdateExclusive => weak >= ShareUpdateExclusive,
            Share => weak == RowExclusive || weak == ShareUpdateExclusive,
            ShareRowExclusive => weak >= RowExclusive,
            Exclusive => weak >= RowShare,
            AccessExclusive => true,
        }
    }

    /// The app's operations this mode stops on its table while it is held.
    pub fn blocks(self) -> Vec<AppOperation> {
        AppOperation::ALL.into_iter().filter(|op| self.conflicts_with(op.lock())).collect()
    }

    pub fn pg_name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "AccessShareLock",
            LockMode::RowShare => "RowShareLock",
            LockMode::RowExclusive => "RowExclusiveLock",
            LockMode::ShareUpdateExclusive => "ShareUpdateExclusiveLock",
            LockMode::Share => "ShareLock",
            LockMode::ShareRowExclusive => "ShareRowExclusiveLock",
            LockMode::Exclusive => "ExclusiveLock",
            LockMode::AccessExclusive => "AccessExclusiveLock",
        }
    }
}

impl FromStr for LockMode {
    type Err = String;
    /// Parses `pg_locks.mode` (`AccessExclusiveLock`).
    fn from_str(s: &str) -> Result<LockMode, String> {
        use LockMode::*;
        [
            AccessShare,
            RowShare,
            RowExclusive,
            ShareUpdateExclusive,
            Share,
            ShareRowExclusive,
            Exclusive,
            AccessExclusive,
        ]
        .into_iter()
        .find(|m| m.pg_name() == s)
        .ok_or_else(|| format!("unknown lock mode {s}"))
    }
}

impl fmt::Display for LockMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.pg_name())
    }
}

#[cfg(test)]
mod tests {
    use super::{AppOperation::*, LockMode::*, *};

    fn check(mode: LockMode, expected: &[AppOperation]) {
        assert_eq!(mode.blocks(), expected, "{mode}");
    }

    #[test]
    fn each_mode_blocks_what_the_conflict_table_says() {
        check(AccessShare, &[]);
        check(RowShare, &[]);
        check(RowExclusive, &[]);
        check(ShareUpdateExclusive, &[]);
        check(Share, &[Insert, Update, Delete]);
        check(ShareRowExclusive, &[Insert, Update, Delete]);
        check(Exclusive, &[Insert, Update, Delete]);
        check(AccessExclusive, &[Select, Insert, Update, Delete]);
    }

    #[test]
    fn conflicts_are_symmetric_and_match_postgres() {
        let all = [
            AccessShare,
            RowShare,
            RowExclusive,
            ShareUpdateExclusive,
            Share,
            ShareRowExclusive,
            Exclusive,
            AccessExclusive,
        ];
        // Postgres's table: row = requested, columns in the order above; X = conflict.
        let table = ["_______X", "______XX", "____XXXX", "___XXXXX", "__XX_XXX", "__XXXXXX", "_XXXXXXX", "XXXXXXXX"];
        for (i, a) in all.into_iter().enumerate() {
            for (j, b) in all.into_iter().enumerate() {
                assert_eq!(a.conflicts_with(b), table[i].as_bytes()[j] == b'X', "{a} vs {b}");
            }
        }
    }

    #[test]
    fn pg_lock_names_parse() {
        assert_eq!("ShareRowExclusiveLock".parse::<LockMode>(), Ok(ShareRowExclusive));
        assert!("SIReadLock".parse::<LockMode>().is_err());
    }
}
