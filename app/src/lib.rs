//! The chat app's database contract: every call the app makes, made the way the app makes it
//! through PostgREST — one transaction per call, `SET LOCAL ROLE authenticated` (or `anon`) and the
//! JWT claims in `request.jwt.claims`. Also the app's test-data generator and its smoke test.

pub mod fixture;
pub mod probes;
pub mod queries;
pub mod smoke;

use std::fmt;

use sqlx::{postgres::PgPoolOptions, PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Tables, columns and functions the app relies on. A database without them is not ours: the
/// app-specific steps (test data, smoke) do not apply to it.
pub const CONTRACT: &[(&str, &[&str])] = &[
    ("public.users", &["id", "auth_user_id", "email", "full_name"]),
    ("public.conversations", &["id", "user_id", "auth_user_id", "title", "updated_at"]),
    ("public.messages", &["id", "conversation_id", "role", "content", "image_url", "metadata", "created_at"]),
];
pub const CONTRACT_FUNCTIONS: &[&str] = &["public.add_message", "public.get_conversation_messages"];

/// What of the contract is missing from the database at `pool` (empty: the app applies).
pub async fn missing_contract(pool: &PgPool) -> sqlx::Result<Vec<String>> {
    let mut missing = Vec::new();
    for (table, columns) in CONTRACT {
        let (schema, name) = table.split_once('.').unwrap_or(("public", table));
        let present: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
        )
        .bind(schema)
        .bind(name)
        .fetch_all(pool)
        .await?;
        if present.is_empty() {
            missing.push(format!("table {table}"));
            continue;
        }
        for col in *columns {
            if !present.iter().any(|p| p == col) {
                missing.push(format!("column {table}.{col}"));
            }
        }
    }
    for func in CONTRACT_FUNCTIONS {
        let (schema, name) = func.split_once('.').unwrap_or(("public", func));
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = $2)",
        )
        .bind(schema)
        .bind(name)
        .fetch_one(pool)
        .await?;
        if !exists {
            missing.push(format!("function {func}"));
        }
    }
    Ok(missing)
}

/// Who a call runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Persona {
    Anon,
    User {
        auth_id: Uuid,
        email: String,
    },
    /// A token with role `authenticated` but no `sub`: `auth.uid()` is NULL.
    NoSubject,
}

impl fmt::Display for Persona {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Persona::Anon => f.write_str("anon"),
            Persona::User { email, .. } => write!(f, "user {email}"),
            Persona::NoSubject => f.write_str("a token without sub"),
        }
    }
}

impl Persona {
    fn role(&self) -> &'static str {
        match self {
            Persona::Anon => "anon",
            Persona::User { .. } | Persona::NoSubject => "authenticated",
        }
    }

    /// The claims PostgREST puts in `request.jwt.claims` for this persona's JWT.
    pub fn claims(&self) -> serde_json::Value {
        match self {
            Persona::Anon => serde_json::json!({ "role": "anon" }),
            Persona::User { auth_id, email } => serde_json::json!({
                "sub": auth_id.to_string(),
                "role": "authenticated",
                "aud": "authenticated",
                "email": email,
            }),
            Persona::NoSubject => serde_json::json!({ "role": "authenticated", "aud": "authenticated" }),
        }
    }
}

/// A failed app call: which call, as whom, and the database's error.
#[derive(Debug)]
pub struct CallError {
    pub call: &'static str,
    pub persona: String,
    pub source: sqlx::Error,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = match &self.source {
            sqlx::Error::Database(db) => {
                format!("ERROR {}: {}", db.code().unwrap_or_default(), db.message())
            }
            other => other.to_string(),
        };
        write!(f, "{} as {} failed: {db}", self.call, self.persona)
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub type CallResult<T> = Result<T, CallError>;

/// A signed-up user of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub auth_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: Uuid,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub role: String,
    pub content: String,
}

// Rows by column name, as `#[derive(FromRow)]` would (written out: the derive needs sqlx's
// macros, which build sqlx a second time for the host).
impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for Conversation {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> sqlx::Result<Self> {
        use sqlx::Row;
        Ok(Conversation { id: row.try_get("id")?, title: row.try_get("title")? })
    }
}

impl<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> for Message {
    fn from_row(row: &'r sqlx::postgres::PgRow) -> sqlx::Result<Self> {
        use sqlx::Row;
        Ok(Message {
            id: row.try_get("id")?,
            conversation_id: row.try_get("conversation_id")?,
            role: row.try_get("role")?,
            content: row.try_get("content")?,
        })
    }
}

/// The app's connection, shared by every persona (as PostgREST shares its pool).
#[derive(Clone)]
pub struct Client {
    pool: PgPool,
}

impl Client {
    pub async fn connect(url: &str) -> sqlx::Result<Client> {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        Ok(Client { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Signs a user up as Supabase Auth does: the `auth.users` row (written by the auth server as
    /// `supabase_auth_admin`), then the app creates its profile row as the new user.
    pub async fn sign_up(&self, email: &str) -> CallResult<User> {
        let persona = format!("sign-up of {email}");
        let err = |source| CallError { call: "sign_up", persona: persona.clone(), source };
        let mut tx = self.pool.begin().await.map_err(err)?;
        sqlx::query("SELECT set_config('role', 'supabase_auth_admin', true)").execute(&mut *tx).await.map_err(err)?;
        let auth_id: Uuid = sqlx::query_scalar(
            "INSERT INTO auth.users (id, aud, role, email, raw_app_meta_data, raw_user_meta_data, \
             email_confirmed_at, created_at, updated_at) \
             VALUES (gen_random_uuid(), 'authenticated', 'authenticated', $1, \
             '{\"provider\":\"email\"}', '{}', now(), now(), now()) RETURNING id",
        )
        .bind(email)
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
        let user = Persona::User { auth_id, email: email.to_string() };
        act_as(&mut tx, &user).await.map_err(err)?;
        let user_id: Uuid = sqlx::query_scalar(
            "INSERT INTO public.users (auth_user_id, email, full_name) VALUES ((select auth.uid()), $1, $2) RETURNING id",
        )
        .bind(email)
        .bind(email.split('@').next().unwrap_or(email))
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(User { auth_id, user_id, email: email.to_string() })
    }

    pub fn as_user(&self, user: &User) -> Session {
        Session {
            pool: self.pool.clone(),
            persona: Persona::User { auth_id: user.auth_id, email: user.email.clone() },
            user_id: Some(user.user_id),
        }
    }

    /// A signed-in session for an auth id alone (users loaded by the fixture, for example).
    pub fn as_auth_id(&self, auth_id: Uuid, email: &str, user_id: Option<Uuid>) -> Session {
        Session { pool: self.pool.clone(), persona: Persona::User { auth_id, email: email.to_string() }, user_id }
    }

    pub fn anon(&self) -> Session {
        Session { pool: self.pool.clone(), persona: Persona::Anon, user_id: None }
    }

    /// Signed in with a token that carries no subject (`auth.uid()` is NULL).
    pub fn without_subject(&self) -> Session {
        Session { pool: self.pool.clone(), persona: Persona::NoSubject, user_id: None }
    }
}

/// Sets the role and JWT claims for the rest of the transaction, as PostgREST does per request.
pub async fn act_as(tx: &mut Transaction<'_, Postgres>, persona: &Persona) -> sqlx::Result<()> {
    sqlx::query("SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)")
        .bind(persona.role())
        .bind(persona.claims().to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Calls made as one persona. Every call is its own transaction.
pub struct Session {
    pool: PgPool,
    persona: Persona,
    user_id: Option<Uuid>,
}

impl Session {
    pub fn persona(&self) -> &Persona {
        &self.persona
    }

    async fn begin(&self, call: &'static str) -> CallResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(call, e))?;
        act_as(&mut tx, &self.persona).await.map_err(|e| self.err(call, e))?;
        Ok(tx)
    }

    fn err(&self, call: &'static str, source: sqlx::Error) -> CallError {
        CallError { call, persona: self.persona.to_string(), source }
    }

    /// `current_user` inside a call (the app's invariant: never a superuser).
    pub async fn whoami(&self) -> CallResult<(String, bool)> {
        let mut tx = self.begin("whoami").await?;
        let row: (String, bool) =
            sqlx::query_as("SELECT current_user::text, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)")
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err("whoami", e))?;
        Ok(row)
    }

    pub async fn create_conversation(&self, title: &str) -> CallResult<Uuid> {
        const CALL: &str = "create_conversation";
        let mut tx = self.begin(CALL).await?;
        let id: Uuid = sqlx::query_scalar(
            "INSERT INTO public.conversations (user_id, auth_user_id, title) \
             VALUES ($1, (select auth.uid()), $2) RETURNING id",
        )
        .bind(self.user_id)
        .bind(title)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(CALL, e))?;
        tx.commit().await.map_err(|e| self.err(CALL, e))?;
        Ok(id)
    }

    pub async fn list_conversations(&self) -> CallResult<Vec<Conversation>> {
        const CALL: &str = "list_conversations";
        let mut tx = self.begin(CALL).await?;
        sqlx::query_as("SELECT id, title FROM public.conversations ORDER BY updated_at DESC, id")
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.err(CALL, e))
    }

    /// The `add_message` RPC (POST /rest/v1/rpc/add_message).
    pub async fn send_message(&self, conversation_id: Uuid, role: &str, content: &str) -> CallResult<Uuid> {
        const CALL: &str = "send_message (rpc add_message)";
        let mut tx = self.begin(CALL).await?;
        let id: Uuid =
            sqlx::query_scalar("SELECT public.add_message(p_conversation_id => $1, p_role => $2, p_content => $3)")
                .bind(conversation_id)
                .bind(role)
                .bind(content)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err(CALL, e))?;
        tx.commit().await.map_err(|e| self.err(CALL, e))?;
        Ok(id)
    }

    /// The `add_message` RPC, always rolled back: for probes that expect a refusal.
    pub async fn try_send_message(&self, conversation_id: Uuid, content: &str) -> CallResult<Uuid> {
        const CALL: &str = "send_message (rpc add_message)";
        let mut tx = self.begin(CALL).await?;
        let id =
            sqlx::query_scalar("SELECT public.add_message(p_conversation_id => $1, p_role => 'user', p_content => $2)")
                .bind(conversation_id)
                .bind(content)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.err(CALL, e))?;
        tx.rollback().await.map_err(|e| self.err(CALL, e))?;
        Ok(id)
    }

    /// The `get_conversation_messages` RPC.
    pub async fn messages_rpc(&self, conversation_id: Uuid) -> CallResult<Vec<Message>> {
        const CALL: &str = "messages (rpc get_conversation_messages)";
        let mut tx = self.begin(CALL).await?;
        sqlx::query_as("SELECT id, conversation_id, role, content FROM public.get_conversation_messages($1)")
            .bind(conversation_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.err(CALL, e))
    }

    /// GET /rest/v1/messages?conversation_id=eq.X&order=created_at
    pub async fn messages_select(&self, conversation_id: Uuid) -> CallResult<Vec<Message>> {
        const CALL: &str = "messages (select on messages)";
        let mut tx = self.begin(CALL).await?;
        sqlx::query_as(
            "SELECT id, conversation_id, role, content FROM public.messages \
             WHERE conversation_id = $1 ORDER BY created_at, id",
        )
        .bind(conversation_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(CALL, e))
    }

    /// The latest messages across all of the user's conversations (the app's inbox view).
    pub async fn latest_messages(&self, limit: i64) -> CallResult<Vec<Message>> {
        const CALL: &str = "latest_messages";
        let mut tx = self.begin(CALL).await?;
        sqlx::query_as(
            "SELECT id, conversation_id, role, content FROM public.messages ORDER BY created_at DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(CALL, e))
    }

    /// PATCH /rest/v1/messages?id=eq.X — returns the number of rows changed.
    pub async fn edit_message(&self, id: Uuid, content: &str) -> CallResult<u64> {
        const CALL: &str = "edit_message";
        let mut tx = self.begin(CALL).await?;
        let n = sqlx::query("UPDATE public.messages SET content = $2 WHERE id = $1")
            .bind(id)
            .bind(content)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(CALL, e))?
            .rows_affected();
        tx.commit().await.map_err(|e| self.err(CALL, e))?;
        Ok(n)
    }

    /// DELETE /rest/v1/messages?id=eq.X — returns the number of rows deleted.
    pub async fn delete_message(&self, id: Uuid) -> CallResult<u64> {
        const CALL: &str = "delete_message";
        let mut tx = self.begin(CALL).await?;
        let n = sqlx::query("DELETE FROM public.messages WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(CALL, e))?
            .rows_affected();
        tx.commit().await.map_err(|e| self.err(CALL, e))?;
        Ok(n)
    }
}
