//! The catalog snapshot on its own: deterministic, blind to Supabase's schemas, and each kind of
//! change read back as a sentence.

use std::time::Instant;

use sqlx::Connection;
use xtask::analysis::catalog::CatalogSnapshot;

use crate::support::{any_backend, our_supabase_dir, start};

/// A Postgres with the layer and our baseline applied.
async fn baseline() -> (xtask::pg::EphemeralPostgres, sqlx::PgConnection) {
    let pg = start(any_backend()).await;
    let mut conn = pg.connect().await.expect("connect");
    xtask::supabase::layer::install(&mut conn).await.expect("layer");
    let dir = xtask::runner::scan(&our_supabase_dir()).expect("scan");
    xtask::runner::apply(&mut conn, &dir.files[0]).await.expect("baseline");
    (pg, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_is_deterministic_cheap_and_ignores_supabase_schemas() {
    let (pg, mut conn) = baseline().await;
    let started = Instant::now();
    let first = CatalogSnapshot::take(&mut conn).await.expect("snapshot");
    eprintln!("catalog snapshot of our baseline: {} objects in {:?}", first.objects.len(), started.elapsed());
    let second = CatalogSnapshot::take(&mut conn).await.expect("snapshot");
    assert_eq!(first, second);
    assert_eq!(serde_json::to_string(&first).expect("json"), serde_json::to_string(&second).expect("json"));
    assert!(first.objects.keys().all(|k| !k.contains(" auth.") && !k.contains("supabase_migrations")));

    sqlx::raw_sql(
        "alter table auth.users add column nickname text; create table supabase_migrations.seed_files (path text)",
    )
    .execute(&mut conn)
    .await
    .expect("change Supabase's schemas");
    let third = CatalogSnapshot::take(&mut conn).await.expect("snapshot");
    assert_eq!(first.diff(&third), vec![], "changes in auth and supabase_migrations are not ours");

    let names: Vec<&String> = first.objects.keys().collect();
    insta::assert_debug_snapshot!("baseline_catalog_objects", names);
    pg.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_kind_of_change_reads_as_a_sentence() {
    let (pg, mut conn) = baseline().await;
    let before = CatalogSnapshot::take(&mut conn).await.expect("snapshot");
    let cases: &[(&str, &[&str])] = &[
        (
            "alter table public.messages alter column content drop not null",
            &["column public.messages.content differs from before the migration: not_null: true → false"],
        ),
        ("create policy x on public.messages for select using (true)", &["policy x on public.messages still exists"]),
        (
            "alter function public.add_message(uuid, text, text, text, jsonb) set search_path = ''",
            &["function public.add_message(p_conversation_id uuid,", "config: (none) → search_path=\"\""],
        ),
        (
            "revoke execute on function public.add_message(uuid, text, text, text, jsonb) from anon",
            &["execute_grants: no longer anon"],
        ),
        (
            "alter table public.messages drop constraint messages_conversation_id_fkey,
             add constraint messages_conversation_id_fkey foreign key (conversation_id)
             references public.conversations (id) on delete set null",
            &["constraint messages_conversation_id_fkey on public.messages differs", "ON DELETE SET NULL"],
        ),
        (
            "comment on table public.messages is 'chat lines'",
            &["table public.messages differs", "comment: (none) → chat lines"],
        ),
        ("alter table public.messages force row level security", &["rls_forced: false → true"]),
        ("revoke delete on public.messages from anon", &["table public.messages differs", "grants:"]),
        (
            "create function public.t() returns trigger language plpgsql as $$ begin return new; end $$;
             create trigger t before insert on public.messages for each row execute function public.t()",
            &["trigger t on public.messages still exists", "function public.t() still exists"],
        ),
        (
            "drop index public.idx_messages_conversation_created",
            &["index public.idx_messages_conversation_created is missing"],
        ),
        (
            "alter table public.messages add column auth_user_id uuid",
            &["column public.messages.auth_user_id still exists (uuid, nullable now)"],
        ),
    ];
    for (sql, expected) in cases {
        let mut tx = conn.begin().await.expect("begin");
        sqlx::raw_sql(sql).execute(&mut *tx).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        let after = CatalogSnapshot::take(&mut tx).await.expect("snapshot");
        tx.rollback().await.expect("rollback");
        let text: Vec<String> = before.diff(&after).iter().map(|d| d.describe_after_rollback()).collect();
        let text = text.join("\n");
        for e in *expected {
            assert!(text.contains(e), "after `{sql}` expected {e:?} in:\n{text}");
        }
    }
    pg.close().await.expect("close");
}
