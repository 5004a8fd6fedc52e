//! The platform's own tables the generator writes: users signed up as Supabase Auth signs them
//! up, and objects as storage-api stores them.

use anyhow::Context;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::{Generated, ROWS_PER_USER};

/// Two users (and an anonymous sign-in when the project allows them), inserted into auth.users
/// and auth.identities as Supabase Auth does (as supabase_auth_admin, so the project's triggers
/// on auth.users run as in production). When that fails, the users are written as the superuser
/// and the error is returned for the report.
pub(super) async fn sign_up(
    conn: &mut PgConnection,
    seed: u64,
    anonymous: bool,
) -> anyhow::Result<(Vec<(Uuid, String)>, Option<String>)> {
    let mut users = Vec::new();
    let mut error = None;
    let labels: &[&str] = if anonymous { &["a", "b", "anonymous"] } else { &["a", "b"] };
    for &label in labels {
        // An anonymous sign-in has no e-mail (`is_anonymous` in its token).
        let email = if label == "anonymous" { String::new() } else { format!("generated-{label}@xtask.test") };
        let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("xtask-generated-{seed}-{label}").as_bytes());
        let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM auth.users WHERE id = $1)")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        if !exists {
            let as_auth = sign_up_one(conn, id, &email, Some("supabase_auth_admin")).await;
            if let Err(e) = as_auth {
                error.get_or_insert(e.to_string());
                sign_up_one(conn, id, &email, None).await.with_context(|| format!("signing up {email}"))?;
            }
        }
        users.push((id, email));
    }
    Ok((users, error))
}

async fn sign_up_one(conn: &mut PgConnection, id: Uuid, email: &str, role: Option<&str>) -> sqlx::Result<()> {
    let mut tx = conn.begin().await?;
    if let Some(role) = role {
        sqlx::raw_sql(&format!("SET LOCAL ROLE {role}")).execute(&mut *tx).await?;
    }
    let name = email.split('@').next().unwrap_or(email).to_string();
    let meta = serde_json::json!({
        "sub": id.to_string(), "email": email, "email_verified": true, "phone_verified": false,
        "full_name": name, "name": name, "user_name": name, "username": name,
        "avatar_url": format!("https://example.test/{name}.png"),
    });
    sqlx::query(
        "INSERT INTO auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, \
           raw_app_meta_data, raw_user_meta_data, created_at, updated_at, last_sign_in_at, is_anonymous) \
         VALUES ('00000000-0000-0000-0000-000000000000', $1, 'authenticated', 'authenticated', nullif($2, ''), '', \
           CASE WHEN $2 = '' THEN NULL ELSE now() END, \
           CASE WHEN $2 = '' THEN '{}'::jsonb ELSE '{\"provider\": \"email\", \"providers\": [\"email\"]}'::jsonb END, \
           $3, now(), now(), now(), $2 = '')",
    )
    .bind(id)
    .bind(email)
    .bind(&meta)
    .execute(&mut *tx)
    .await?;
    // Anonymous sign-ins have no identity.
    if !email.is_empty() {
        sqlx::query(
            "INSERT INTO auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, \
               updated_at) VALUES ($1::text, $1, $2, 'email', now(), now(), now())",
        )
        .bind(id)
        .bind(&meta)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// An object under each user's folder (`<uid>/…`) in every bucket, owned by that user, as
/// storage-api writes them.
pub(super) async fn storage_objects(conn: &mut PgConnection, out: &mut Generated) -> anyhow::Result<()> {
    if !sqlx::query_scalar::<_, bool>("SELECT to_regclass('storage.objects') IS NOT NULL").fetch_one(&mut *conn).await?
    {
        return Ok(());
    }
    let buckets: Vec<String> =
        sqlx::query_scalar("SELECT id FROM storage.buckets ORDER BY id").fetch_all(&mut *conn).await?;
    if buckets.is_empty() {
        // Only a project with storage policies needs objects to prove them.
        let policies: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_policies WHERE schemaname = 'storage' AND tablename = 'objects'",
        )
        .fetch_one(&mut *conn)
        .await?;
        if policies > 0 {
            out.unfilled.push((
                "storage.objects".into(),
                format!("{policies} policies on it, but no bucket in storage.buckets to put objects in"),
            ));
        }
        return Ok(());
    }
    let mut count = 0;
    let mut refused = Vec::new();
    'buckets: for bucket in &buckets {
        for (user, _) in &out.users {
            for r in 0..ROWS_PER_USER {
                let done = sqlx::query(
                    "INSERT INTO storage.objects (bucket_id, name, owner, owner_id, metadata) \
                     VALUES ($1, $2, $3, $3::text, '{\"mimetype\": \"image/png\", \"size\": 68}') \
                     ON CONFLICT (bucket_id, name) DO NOTHING",
                )
                .bind(bucket)
                .bind(format!("{user}/generated-{r}.png"))
                .bind(user)
                .execute(&mut *conn)
                .await;
                match done {
                    Ok(done) => count += done.rows_affected() as usize,
                    // The project's trigger or constraint refused the object: said, then the next bucket.
                    Err(sqlx::Error::Database(db)) => {
                        refused.push((
                            format!("storage.objects (bucket {bucket})"),
                            format!(
                                "the project's trigger or constraint refused a generated object: ERROR {}: {}",
                                db.code().unwrap_or_default(),
                                db.message()
                            ),
                        ));
                        continue 'buckets;
                    }
                    Err(e) => {
                        return Err(anyhow::Error::new(e).context(format!("writing objects into bucket {bucket}")))
                    }
                }
            }
        }
    }
    if count > 0 {
        out.rows.insert("storage.objects".into(), count);
    }
    out.unfilled.extend(refused);
    Ok(())
}
