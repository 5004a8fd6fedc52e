//! The app's read queries whose speed a migration changes, as the app runs them for the user
//! with the most messages: one conversation (select and RPC), the latest messages, an
//! unfiltered page and a count. `db-rehearse` times them before and after.

use sqlx::PgConnection;
use uuid::Uuid;

pub struct AppQuery {
    pub name: &'static str,
    pub sql: String,
}

/// The queries and the user (auth id) to run them as; empty when the data has no conversation.
pub async fn for_busiest_user(conn: &mut PgConnection) -> sqlx::Result<(Vec<AppQuery>, Option<Uuid>)> {
    let row: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT c.auth_user_id, c.id FROM public.conversations c JOIN public.messages m ON m.conversation_id = c.id \
         WHERE c.auth_user_id IS NOT NULL AND c.user_id IS NOT NULL GROUP BY c.id ORDER BY count(*) DESC, c.id LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some((user, conv)) = row else { return Ok((Vec::new(), None)) };
    let q = |name, sql: &str| AppQuery { name, sql: sql.replace("$CONV", &format!("'{conv}'")) };
    Ok((
        vec![
            q(
                "load one conversation (select)",
                "SELECT id, role, content, created_at FROM public.messages WHERE conversation_id = $CONV ORDER BY created_at",
            ),
            q("load one conversation (rpc get_conversation_messages)", "SELECT id FROM public.get_conversation_messages($CONV)"),
            q("latest 50 messages", "SELECT id, created_at FROM public.messages ORDER BY created_at DESC LIMIT 50"),
            q("messages LIMIT 100", "SELECT id FROM public.messages LIMIT 100"),
            q("count(*) of messages", "SELECT count(*) FROM public.messages"),
        ],
        Some(user),
    ))
}
