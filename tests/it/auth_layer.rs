//! The Supabase layer: auth helpers see JWT claims exactly as PostgREST sets them, and an
//! existing installation is left alone.

use sqlx::Connection;

use crate::support::{any_backend, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_using_auth_uid_sees_claims_set_as_postgrest_sets_them() {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    let (alice, bob) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    sqlx::raw_sql(&format!(
        "create table public.notes (owner uuid not null, body text);
         alter table public.notes enable row level security;
         create policy own on public.notes for select using (owner = (select auth.uid()));
         grant select on public.notes to authenticated, anon;
         insert into public.notes values ('{alice}', 'a1'), ('{alice}', 'a2'), ('{bob}', 'b1');"
    ))
    .execute(&mut conn)
    .await
    .expect("setup");

    let visible = |claims: serde_json::Value, role: &'static str| {
        let url = pg.url().to_string();
        async move {
            let mut conn = xtask::pg::connect(&url).await.expect("connect");
            let mut tx = conn.begin().await.expect("begin");
            // Exactly what PostgREST does per request.
            sqlx::query("select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)")
                .bind(role)
                .bind(claims.to_string())
                .execute(&mut *tx)
                .await
                .expect("claims");
            let row: (i64, Option<String>, Option<String>, Option<String>) = sqlx::query_as(
                "select (select count(*) from public.notes), auth.uid()::text, auth.role(), auth.email()",
            )
            .fetch_one(&mut *tx)
            .await
            .expect("query");
            row
        }
    };
    let claims = serde_json::json!({"sub": alice.to_string(), "role": "authenticated", "email": "alice@example.test"});
    let (count, uid, role, email) = visible(claims, "authenticated").await;
    assert_eq!(count, 2, "alice sees her two notes");
    assert_eq!(uid, Some(alice.to_string()));
    assert_eq!(role.as_deref(), Some("authenticated"));
    assert_eq!(email.as_deref(), Some("alice@example.test"));

    let (count, uid, ..) = visible(serde_json::json!({"role": "anon"}), "anon").await;
    assert_eq!((count, uid), (0, None), "anon has no uid and sees nothing");

    // Older PostgREST versions set one setting per claim.
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("select set_config('role', 'authenticated', true), set_config('request.jwt.claim.sub', $1, true)")
        .bind(bob.to_string())
        .execute(&mut *tx)
        .await
        .expect("legacy claim");
    let count: i64 = sqlx::query_scalar("select count(*) from public.notes").fetch_one(&mut *tx).await.expect("q");
    assert_eq!(count, 1, "bob sees his note through request.jwt.claim.sub");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_is_idempotent_and_leaves_existing_helpers_alone() {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    sqlx::raw_sql(
        "create schema auth; create function auth.uid() returns uuid language sql stable as
         $$ select '00000000-0000-0000-0000-000000000001'::uuid $$;",
    )
    .execute(&mut conn)
    .await
    .expect("pre-existing auth.uid");
    let present = xtask::supabase::layer::already_present(&mut conn).await.expect("present");
    assert_eq!(present, ["schema auth"], "only what the database had is named");
    xtask::supabase::layer::install(&mut conn).await.expect("first install");
    xtask::supabase::layer::install(&mut conn).await.expect("second install");
    let uid: String = sqlx::query_scalar("select auth.uid()::text").fetch_one(&mut conn).await.expect("q");
    assert_eq!(uid, "00000000-0000-0000-0000-000000000001", "existing auth.uid() kept");
    let roles: i64 = sqlx::query_scalar(
        "select count(*) from pg_roles where rolname in ('anon','authenticated','service_role','authenticator')",
    )
    .fetch_one(&mut conn)
    .await
    .expect("q");
    assert_eq!(roles, 4);
    let bypass: bool = sqlx::query_scalar("select rolbypassrls from pg_roles where rolname = 'service_role'")
        .fetch_one(&mut conn)
        .await
        .expect("q");
    assert!(bypass, "service_role bypasses RLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_images_early_per_claim_helper_is_upgraded_to_read_the_json_claims() {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    // What Supabase's image creates before GoTrue's migrations run: one setting per claim.
    sqlx::raw_sql(
        "create schema auth; create function auth.uid() returns uuid language sql stable as
         $$ select nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;",
    )
    .execute(&mut conn)
    .await
    .expect("early auth.uid");
    xtask::supabase::layer::install(&mut conn).await.expect("install");
    let alice = uuid::Uuid::new_v4();
    let mut tx = conn.begin().await.expect("begin");
    sqlx::query("select set_config('request.jwt.claims', $1, true)")
        .bind(serde_json::json!({"sub": alice.to_string()}).to_string())
        .execute(&mut *tx)
        .await
        .expect("claims");
    let uid: Option<String> = sqlx::query_scalar("select auth.uid()::text").fetch_one(&mut *tx).await.expect("q");
    assert_eq!(uid, Some(alice.to_string()), "the upgraded helper reads request.jwt.claims");
}
