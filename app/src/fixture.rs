//! Deterministic test data for the chat app: auth users, profiles, conversations and messages,
//! loaded with COPY. The same seed and sizes always give the same ids and rows.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixtureSize {
    pub users: u32,
    pub conversations_per_user: u32,
    pub messages_per_conversation: u32,
    pub seed: u64,
}

impl Default for FixtureSize {
    fn default() -> Self {
        FixtureSize { users: 20, conversations_per_user: 3, messages_per_conversation: 20, seed: 1 }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixtureStats {
    pub auth_users: u64,
    pub users: u64,
    pub conversations: u64,
    pub messages: u64,
}

/// Every `LEGACY_EVERY`-th conversation was created by a newer app version that fills only
/// `auth_user_id`, leaving `user_id` NULL (as in production).
pub const LEGACY_EVERY: u32 = 10;

/// The tables the generator writes (besides auth.users), parents first.
pub const TABLES: &[&str] = &["public.users", "public.conversations", "public.messages"];

#[derive(Clone)]
pub struct Fixture {
    size: FixtureSize,
    namespace: Uuid,
    epoch: DateTime<Utc>,
}

impl Fixture {
    pub fn new(size: FixtureSize) -> Fixture {
        let namespace = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("xtask-chat-fixture-{}", size.seed).as_bytes());
        let epoch = DateTime::<Utc>::from_timestamp(1_735_689_600, 0).unwrap_or_default(); // 2025-01-01
        Fixture { size, namespace, epoch }
    }

    fn id(&self, kind: &str, n: u64) -> Uuid {
        Uuid::new_v5(&self.namespace, format!("{kind}-{n}").as_bytes())
    }

    pub fn auth_id(&self, user: u32) -> Uuid {
        self.id("auth-user", user.into())
    }

    pub fn user_id(&self, user: u32) -> Uuid {
        self.id("user", user.into())
    }

    pub fn email(&self, user: u32) -> String {
        format!("user{user}@fixture.test")
    }

    pub fn conversation_id(&self, user: u32, n: u32) -> Uuid {
        self.id("conversation", u64::from(user) << 32 | u64::from(n))
    }

    /// True for conversations written by the newer app version (no `user_id`).
    pub fn is_legacy_free(&self, user: u32, n: u32) -> bool {
        (user * self.size.conversations_per_user + n) % LEGACY_EVERY == LEGACY_EVERY - 1
    }

    fn ts(&self, seconds: u64) -> String {
        (self.epoch + Duration::seconds(seconds as i64)).to_rfc3339()
    }

    /// Loads the data with COPY, in one transaction the caller owns.
    pub async fn load(&self, conn: &mut PgConnection) -> sqlx::Result<FixtureStats> {
        let s = self.size;
        let mut stats = FixtureStats::default();

        let mut auth = String::new();
        let mut users = String::new();
        for u in 0..s.users {
            let created = self.ts(u64::from(u) * 60);
            let _ = writeln!(
                auth,
                "{}\tauthenticated\tauthenticated\t{}\t{{\"provider\":\"email\"}}\t{{}}\t{created}\t{created}",
                self.auth_id(u),
                self.email(u)
            );
            let tier = ["free", "pro", "free", "enterprise"][u as usize % 4];
            let _ = writeln!(
                users,
                "{}\t{}\t{}\tUser {u}\t{tier}\t{created}\t{created}",
                self.user_id(u),
                self.auth_id(u),
                self.email(u)
            );
        }
        copy(conn, "COPY auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, created_at, updated_at) FROM STDIN", auth).await?;
        stats.auth_users = u64::from(s.users);
        copy(
            conn,
            "COPY public.users (id, auth_user_id, email, full_name, tier, created_at, updated_at) FROM STDIN",
            users,
        )
        .await?;
        stats.users = u64::from(s.users);

        let mut convs = String::new();
        for u in 0..s.users {
            for c in 0..s.conversations_per_user {
                let user_id = if self.is_legacy_free(u, c) { "\\N".to_string() } else { self.user_id(u).to_string() };
                let created = self.ts(86_400 + u64::from(u) * 3_600 + u64::from(c) * 60);
                let _ = writeln!(
                    convs,
                    "{}\t{user_id}\t{}\tConversation {c} of user {u}\t{}\t{created}\t{created}",
                    self.conversation_id(u, c),
                    self.auth_id(u),
                    if c == 0 { "t" } else { "f" },
                );
                stats.conversations += 1;
            }
        }
        copy(conn, "COPY public.conversations (id, user_id, auth_user_id, title, is_game_hub, created_at, updated_at) FROM STDIN", convs).await?;

        // Messages are the bulk: a thread generates 4 MB chunks while this one streams the previous
        // ones into a single COPY, so generation and the server's parsing overlap and memory stays
        // flat at any size.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let producer = {
            let fixture = self.clone();
            std::thread::spawn(move || fixture.message_chunks(&tx))
        };
        let mut copy = conn.copy_in_raw(MESSAGES_COPY).await?;
        let mut sent: sqlx::Result<()> = Ok(());
        while let Some(chunk) = rx.recv().await {
            if let Err(e) = copy.send(chunk).await {
                sent = Err(e);
                break;
            }
        }
        drop(rx);
        let n = producer.join().unwrap_or(0);
        match sent {
            Ok(()) => {
                copy.finish().await?;
            }
            Err(e) => {
                let _ = copy.abort("generator stopped").await;
                return Err(e);
            }
        }
        stats.messages = n;
        Ok(stats)
    }
}

impl Fixture {
    /// Generates the messages as COPY text in chunks; returns how many.
    fn message_chunks(&self, tx: &tokio::sync::mpsc::Sender<Vec<u8>>) -> u64 {
        let s = self.size;
        let mut msgs = String::with_capacity(4 << 20);
        let mut n: u64 = 0;
        for u in 0..s.users {
            for c in 0..s.conversations_per_user {
                let conv = self.conversation_id(u, c);
                for m in 0..s.messages_per_conversation {
                    let role = if m % 2 == 0 { "user" } else { "assistant" };
                    let at = self.ts(2 * 86_400 + n * 7);
                    let _ = writeln!(
                        msgs,
                        "{}\t{conv}\t{role}\tMessage {m} of conversation {c} of user {u}\t\\N\t{{}}\t{at}",
                        self.id("message", n)
                    );
                    n += 1;
                    if msgs.len() > 4 << 20 && tx.blocking_send(std::mem::take(&mut msgs).into_bytes()).is_err() {
                        return n;
                    }
                }
            }
        }
        if !msgs.is_empty() {
            let _ = tx.blocking_send(msgs.into_bytes());
        }
        n
    }
}

const MESSAGES_COPY: &str =
    "COPY public.messages (id, conversation_id, role, content, image_url, metadata, created_at) FROM STDIN";

async fn copy(conn: &mut PgConnection, statement: &str, data: String) -> sqlx::Result<u64> {
    let mut copy = conn.copy_in_raw(statement).await?;
    copy.send(data.into_bytes()).await?;
    copy.finish().await
}

/// Production's row counts (users, conversations, messages), read-only.
pub async fn row_counts(conn: &mut PgConnection) -> sqlx::Result<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM public.users), (SELECT count(*) FROM public.conversations), \
         (SELECT count(*) FROM public.messages)",
    )
    .fetch_one(conn)
    .await
}

impl FixtureSize {
    /// The generator sizes that reproduce these row counts (at least two users).
    pub fn like_counts(users: i64, conversations: i64, messages: i64, seed: u64) -> FixtureSize {
        let users = users.max(2);
        FixtureSize {
            users: u32::try_from(users).unwrap_or(u32::MAX),
            conversations_per_user: u32::try_from((conversations / users).max(1)).unwrap_or(u32::MAX),
            messages_per_conversation: u32::try_from((messages / conversations.max(1)).max(1)).unwrap_or(u32::MAX),
            seed,
        }
    }

    pub fn messages(&self) -> u64 {
        u64::from(self.users) * u64::from(self.conversations_per_user) * u64::from(self.messages_per_conversation)
    }
}

impl FixtureStats {
    pub fn rows(&self) -> u64 {
        self.auth_users + self.users + self.conversations + self.messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_counts_reproduce_the_fan_out() {
        let check = |counts: (i64, i64, i64), expected: (u32, u32, u32)| {
            let s = FixtureSize::like_counts(counts.0, counts.1, counts.2, 1);
            assert_eq!((s.users, s.conversations_per_user, s.messages_per_conversation), expected, "{counts:?}");
        };
        check((3, 6, 30), (3, 2, 5));
        check((0, 0, 0), (2, 1, 1));
        check((10, 5, 0), (10, 1, 1));
    }

    #[test]
    fn same_seed_same_ids_other_seed_other_ids() {
        let size = FixtureSize::default();
        let a = Fixture::new(size);
        assert_eq!(a.auth_id(3), Fixture::new(size).auth_id(3));
        assert_ne!(a.auth_id(3), Fixture::new(FixtureSize { seed: 2, ..size }).auth_id(3));
        assert_ne!(a.auth_id(3), a.auth_id(4));
    }
}
