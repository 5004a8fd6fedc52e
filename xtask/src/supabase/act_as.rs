//! Acting as PostgREST does for a request: `SET LOCAL role` to `anon`, `authenticated` or
//! `service_role` and the JWT claims in `request.jwt.claims`, inside the caller's transaction.
//! Everything in xtask that impersonates a Supabase client goes through here.

use serde_json::Value;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Who a request runs as.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Persona {
    Anon,
    ServiceRole,
    User { email: String, auth_id: Uuid, token: TokenClaims },
}

/// The claims a signed-in user's token carries as Supabase Auth issues them (`app_metadata`,
/// `user_metadata`, `aal`, `amr`, `session_id`, `is_anonymous` …, after the project's
/// access-token hook). `None`: only sub, role, aud and email. They never tell two personas
/// apart: the same user before and after a migration is one persona.
#[derive(Debug, Clone, Default)]
pub struct TokenClaims(pub Option<Value>);

impl PartialEq for TokenClaims {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for TokenClaims {}

impl PartialOrd for TokenClaims {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TokenClaims {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Persona {
    pub fn label(&self) -> String {
        match self {
            Persona::Anon => "anon".into(),
            Persona::ServiceRole => "service_role".into(),
            Persona::User { email, .. } => email.clone(),
        }
    }

    pub fn role(&self) -> &'static str {
        match self {
            Persona::Anon => "anon",
            Persona::ServiceRole => "service_role",
            Persona::User { .. } => "authenticated",
        }
    }

    /// The claims PostgREST would set from the request's JWT.
    pub fn claims(&self) -> Value {
        match self {
            Persona::Anon => serde_json::json!({"role": "anon"}),
            Persona::ServiceRole => serde_json::json!({"role": "service_role"}),
            Persona::User { token: TokenClaims(Some(claims)), .. } => claims.clone(),
            Persona::User { email, auth_id, .. } if email.is_empty() => serde_json::json!({
                "sub": auth_id.to_string(), "role": "authenticated", "aud": "authenticated"
            }),
            Persona::User { email, auth_id, .. } => serde_json::json!({
                "sub": auth_id.to_string(), "role": "authenticated", "aud": "authenticated", "email": email
            }),
        }
    }

    pub fn auth_id(&self) -> Option<Uuid> {
        match self {
            Persona::User { auth_id, .. } => Some(*auth_id),
            _ => None,
        }
    }
}

/// Switches the transaction to `persona` until it ends (both settings are `SET LOCAL`).
pub async fn act_as(tx: &mut Transaction<'_, Postgres>, persona: &Persona) -> sqlx::Result<()> {
    sqlx::query("SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)")
        .bind(persona.role())
        .bind(persona.claims().to_string())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_what_postgrest_sets() {
        let id = Uuid::nil();
        let cases = [
            (Persona::Anon, "anon", r#"{"role":"anon"}"#),
            (Persona::ServiceRole, "service_role", r#"{"role":"service_role"}"#),
            (
                Persona::User { email: "a@x.test".into(), auth_id: id, token: TokenClaims::default() },
                "authenticated",
                r#"{"aud":"authenticated","email":"a@x.test","role":"authenticated","sub":"00000000-0000-0000-0000-000000000000"}"#,
            ),
        ];
        for (persona, role, claims) in cases {
            assert_eq!(persona.role(), role);
            assert_eq!(persona.claims().to_string(), claims);
        }
    }
}
