//! The personas of the matrix: anon, service_role, and the signed-in users with the claims their
//! tokens would carry in production.

use serde_json::Value;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{Persona, MAX_USERS};
use crate::supabase::act_as::TokenClaims;

/// anon, service_role, and each user of auth.users (the first [`MAX_USERS`] by email) with the
/// claims Supabase Auth would put in its token, passed through the project's access-token
/// `hook` (`schema.function`, called as supabase_auth_admin as Supabase Auth calls it). A hook
/// that fails is an error of the matrix, and the user keeps the unhooked claims.
pub(super) async fn load_personas(
    conn: &mut PgConnection,
    hook: Option<&str>,
    errors: &mut Vec<String>,
) -> anyhow::Result<Vec<Persona>> {
    let has_users: bool =
        sqlx::query_scalar("SELECT to_regclass('auth.users') IS NOT NULL").fetch_one(&mut *conn).await?;
    let mut personas = vec![Persona::Anon, Persona::ServiceRole];
    if !has_users {
        return Ok(personas);
    }
    let users: Vec<(Uuid, Option<String>, Value)> = sqlx::query_as(
        "SELECT id, email::text, jsonb_build_object( \
           'aud', coalesce(aud, 'authenticated'), 'role', 'authenticated', 'sub', id::text, \
           'email', coalesce(email, ''), 'phone', coalesce(phone, ''), \
           'app_metadata', coalesce(raw_app_meta_data, '{}'), 'user_metadata', coalesce(raw_user_meta_data, '{}'), \
           'iss', 'http://127.0.0.1:54321/auth/v1', 'iat', extract(epoch FROM now())::bigint, \
           'exp', extract(epoch FROM now())::bigint + 3600, 'aal', 'aal1', \
           'amr', jsonb_build_array(jsonb_build_object('method', 'password', \
                                                       'timestamp', extract(epoch FROM now())::bigint)), \
           'session_id', md5(id::text)::uuid::text, 'is_anonymous', coalesce(is_anonymous, false)) \
         FROM auth.users ORDER BY email, id LIMIT $1",
    )
    .bind(MAX_USERS)
    .fetch_all(&mut *conn)
    .await?;
    for (auth_id, email, claims) in users {
        let email = email.unwrap_or_else(|| format!("anonymous {auth_id}"));
        let claims = match hook {
            Some(hook) => match hooked_claims(conn, hook, auth_id, &claims).await {
                Ok(hooked) => hooked,
                Err(e) => {
                    errors.push(format!("access-token hook {hook} for {email}: {e}"));
                    claims
                }
            },
            None => claims,
        };
        personas.push(Persona::User { email, auth_id, token: TokenClaims(Some(claims)) });
    }
    Ok(personas)
}

/// The claims after the project's custom access-token hook, as Supabase Auth calls it.
async fn hooked_claims(conn: &mut PgConnection, hook: &str, user: Uuid, claims: &Value) -> anyhow::Result<Value> {
    let mut tx = conn.begin().await?;
    sqlx::raw_sql("SET LOCAL ROLE supabase_auth_admin").execute(&mut *tx).await?;
    let event =
        serde_json::json!({ "user_id": user.to_string(), "claims": claims, "authentication_method": "password" });
    let sql = format!("SELECT {hook}($1::jsonb)");
    let result: Result<Value, sqlx::Error> = sqlx::query_scalar(&sql).bind(&event).fetch_one(&mut *tx).await;
    tx.rollback().await?;
    let out = result.map_err(|e| match e {
        sqlx::Error::Database(db) => anyhow::anyhow!("ERROR {}: {}", db.code().unwrap_or_default(), db.message()),
        other => other.into(),
    })?;
    out.get("claims").cloned().ok_or_else(|| anyhow::anyhow!("the hook returned no `claims`: {out}"))
}
