//! The app smoke: what a person clicking through the app does, through the app's own calls.
//! Sign up two users; A starts a conversation, sends a message and reads it back (RPC and plain
//! select); B and anon see none of it. Each step names the call, the user and the error.

use uuid::Uuid;

use crate::{CallError, Client};

#[derive(Debug, Clone)]
pub struct SmokeStep {
    /// Stable id, e.g. `send_message`.
    pub id: &'static str,
    pub title: &'static str,
    pub outcome: Result<String, String>,
}

/// What the smoke wrote, so data comparisons can account for it.
#[derive(Debug, Clone, Default)]
pub struct SmokeWrites {
    pub auth_users: Vec<Uuid>,
    pub users: Vec<Uuid>,
    pub conversations: Vec<Uuid>,
    pub messages: Vec<Uuid>,
}

#[derive(Debug, Clone, Default)]
pub struct SmokeRun {
    pub steps: Vec<SmokeStep>,
    pub writes: SmokeWrites,
}

impl SmokeRun {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.outcome.is_ok())
    }

    fn step(&mut self, id: &'static str, title: &'static str, outcome: Result<String, String>) -> bool {
        let ok = outcome.is_ok();
        self.steps.push(SmokeStep { id, title, outcome });
        ok
    }
}

fn call<T>(r: Result<T, CallError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

/// Runs the smoke. `tag` keeps emails unique when it runs several times on one database.
pub async fn run(client: &Client, tag: &str) -> SmokeRun {
    let mut run = SmokeRun::default();
    let (a, b) = match (
        client.sign_up(&format!("smoke-a-{tag}@example.test")).await,
        client.sign_up(&format!("smoke-b-{tag}@example.test")).await,
    ) {
        (Ok(a), Ok(b)) => {
            run.writes.auth_users.extend([a.auth_id, b.auth_id]);
            run.writes.users.extend([a.user_id, b.user_id]);
            run.step("sign_up", "users A and B sign up", Ok(format!("{} and {}", a.email, b.email)));
            (a, b)
        }
        (a, b) => {
            let err = [a.err(), b.err()].into_iter().flatten().map(|e| e.to_string()).collect::<Vec<_>>();
            run.step("sign_up", "users A and B sign up", Err(err.join("; ")));
            return run;
        }
    };
    let (sa, sb, anon) = (client.as_user(&a), client.as_user(&b), client.anon());

    let conv = match call(sa.create_conversation("Smoke test conversation").await) {
        Ok(id) => {
            run.writes.conversations.push(id);
            run.step("create_conversation", "A creates a conversation", Ok(format!("conversation {id}")));
            id
        }
        Err(e) => {
            run.step("create_conversation", "A creates a conversation", Err(e));
            return run;
        }
    };

    let msg = match call(sa.send_message(conv, "user", "Hello from the smoke test").await) {
        Ok(id) => {
            run.writes.messages.push(id);
            run.step("send_message", "A sends a message with add_message", Ok(format!("message {id}")));
            id
        }
        Err(e) => {
            run.step("send_message", "A sends a message with add_message", Err(e));
            return run;
        }
    };

    let rpc = call(sa.messages_rpc(conv).await).and_then(|ms| {
        if ms.iter().any(|m| m.id == msg) {
            Ok(format!("{} message(s)", ms.len()))
        } else {
            Err(format!("message {msg} missing from get_conversation_messages as {}", sa.persona()))
        }
    });
    run.step("read_back_rpc", "A reads it back with get_conversation_messages", rpc);

    let select = call(sa.messages_select(conv).await).and_then(|ms| {
        if ms.iter().any(|m| m.id == msg) {
            Ok(format!("{} message(s)", ms.len()))
        } else {
            Err(format!("message {msg} not visible to {} through select on messages", sa.persona()))
        }
    });
    run.step("read_back_select", "A reads it back with a select on messages", select);

    let b_sees = async {
        let by_select = call(sb.messages_select(conv).await)?;
        let by_rpc = call(sb.messages_rpc(conv).await)?;
        let seen = by_select.len() + by_rpc.len();
        if seen == 0 {
            Ok("B sees 0 of A's messages".to_string())
        } else {
            Err(format!("B sees {seen} of A's messages (select {}, rpc {})", by_select.len(), by_rpc.len()))
        }
    };
    run.step("isolation_user_b", "B sees none of A's messages", b_sees.await);

    let anon_sees = async {
        let by_select = call(anon.messages_select(conv).await)?;
        let latest = call(anon.latest_messages(100).await)?;
        let convs = call(anon.list_conversations().await)?;
        let seen = by_select.len() + latest.len() + convs.len();
        if seen == 0 {
            Ok("anon sees nothing".to_string())
        } else {
            Err(format!(
                "anon sees {} message(s) of A's conversation, {} message(s) overall, {} conversation(s)",
                by_select.len(),
                latest.len(),
                convs.len()
            ))
        }
    };
    run.step("isolation_anon", "anon sees nothing", anon_sees.await);
    run
}
