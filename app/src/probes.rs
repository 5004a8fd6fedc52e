//! Probes of the app's RPCs that must be refused: add_message as anon, into someone else's
//! conversation, and with a token whose `auth.uid()` is NULL (a `!=` test against NULL is not a
//! check). Every probe call is rolled back, so a hole leaves no row behind.

use crate::{
    smoke::{SmokeRun, SmokeStep},
    Client, Session,
};

pub async fn run(client: &Client, tag: &str) -> SmokeRun {
    let mut run = SmokeRun::default();
    let setup = async {
        let a = client.sign_up(&format!("probe-a-{tag}@example.test")).await?;
        let b = client.sign_up(&format!("probe-b-{tag}@example.test")).await?;
        let conv = client.as_user(&a).create_conversation("Probe conversation").await?;
        Ok::<_, crate::CallError>((a, b, conv))
    };
    let (a, b, conv) = match setup.await {
        Ok(v) => v,
        Err(e) => {
            run.steps.push(SmokeStep {
                id: "setup",
                title: "probe users and conversation",
                outcome: Err(e.to_string()),
            });
            return run;
        }
    };
    run.writes.auth_users.extend([a.auth_id, b.auth_id]);
    run.writes.users.extend([a.user_id, b.user_id]);
    run.writes.conversations.push(conv);

    let steps = [
        ("add_message_as_anon", "anon cannot call add_message", refused(&client.anon(), conv, &a.email).await),
        (
            "add_message_into_other_conversation",
            "B cannot add a message to A's conversation",
            refused(&client.as_user(&b), conv, &a.email).await,
        ),
        (
            "add_message_without_uid",
            "a token without sub (auth.uid() NULL) cannot add a message",
            refused(&client.without_subject(), conv, &a.email).await,
        ),
    ];
    for (id, title, outcome) in steps {
        run.steps.push(SmokeStep { id, title, outcome });
    }
    run
}

/// How a probe that failed without being refused begins (a broken call, not a hole).
pub const NOT_A_REFUSAL: &str = "failed for another reason than a refusal";

/// Ok when the call is refused for the right reason (a privilege, a policy, or the function's own
/// refusal); Err (naming who and where) when it went through, or when it failed for another
/// reason (a broken function refuses everyone, which proves nothing about who may call it).
async fn refused(session: &Session, conv: uuid::Uuid, owner: &str) -> Result<String, String> {
    match session.try_send_message(conv, "probe").await {
        Ok(id) => Err(format!(
            "{} added message {id} to conversation {conv} owned by {owner}; it must be refused",
            session.persona()
        )),
        Err(e) if is_refusal(&e.source) => Ok(format!("refused: {e}")),
        Err(e) => Err(format!(
            "{NOT_A_REFUSAL}: {e}; a broken call refuses everyone, so this proves nothing about who may call it"
        )),
    }
}

/// Insufficient privilege (a grant, a policy, or the function raising 42501), or the function's
/// own RAISE (class P0).
fn is_refusal(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| c == "42501" || c.starts_with("P0")),
        _ => false,
    }
}
