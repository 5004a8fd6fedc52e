//! The access matrix on a project without our app's contract: generated users and rows make it
//! exercise every RLS table (the project's schemas and storage's), and each kind of hole fails
//! with the table's check. The project is the platform fixture plus one pending migration.

use std::path::Path;

use xtask::report::{Report, Status};

use crate::support::{any_backend, assert_fails_on, assert_passes, copy_dir, detail, run_local_test};

/// The platform fixture with `sql` as a pending migration (and a rollback that is never run).
async fn with_pending(sql: &str) -> Report {
    with_pending_and_config(sql, "").await
}

/// As [`with_pending`], with `config` appended to config.toml.
async fn with_pending_and_config(sql: &str, config: &str) -> Report {
    let project = crate::support::platform_with_pending(sql, "select 1;\n", config);
    run_local_test(&project.path().join("supabase"), any_backend()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_users_and_rows_exercise_every_rls_table() {
    let report = with_pending("comment on table public.profiles is 'unchanged access';\n").await;
    assert_passes(&report);
    let generated = report.check("data.generate").expect("generator ran");
    assert_eq!(generated.status, Status::Pass, "{generated:?}");
    for table in ["public.profiles", "storage.objects", "storage.buckets"] {
        let check = report.check(&format!("rls.matrix.{table}")).expect("compared");
        assert_eq!(check.status, Status::Pass, "{check:?}");
        assert!(check.value.as_deref().is_some_and(|v| !v.contains(" 0 row(s)")), "{table} has rows: {check:?}");
    }
    let state = report.check("rls.state.before").and_then(|c| c.value.clone()).unwrap_or_default();
    assert!(state.contains("3 RLS tables, 3 with rows"), "{state}");
}

/// The studyu pattern: a migration that lets anon read an existing table passed as "unchanged".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_letting_anon_read_an_existing_table_fails() {
    let report =
        with_pending("create policy \"public profiles\" on public.profiles for select to anon using (true);\n").await;
    assert_fails_on(&report, "rls.matrix.public.profiles");
    assert!(detail(&report, "rls.matrix.public.profiles").contains("anon can now see"), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_policy_letting_a_user_read_another_users_folder_fails() {
    let report = with_pending(
        "create policy \"avatars are shared\" on storage.objects for select to authenticated \
         using (bucket_id = 'avatars');\n",
    )
    .await;
    assert_fails_on(&report, "rls.matrix.storage.objects");
    let d = detail(&report, "rls.matrix.storage.objects");
    assert!(d.contains("that are not its own"), "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_table_is_judged_against_did_not_exist() {
    // Owner-only: each user reaches its own generated rows, nothing else.
    let owned = "create table public.notes (id uuid primary key default gen_random_uuid(), \
                 user_id uuid not null references auth.users (id), body text not null);\n\
                 alter table public.notes enable row level security;\n\
                 create policy \"own notes\" on public.notes for all to authenticated \
                 using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);\n\
                 grant select, insert, update, delete on public.notes to authenticated;\n";
    let report = with_pending(owned).await;
    assert_passes(&report);
    let notes = report.check("rls.matrix.public.notes").expect("new table compared");
    assert!(notes.value.as_deref().is_some_and(|v| v.contains("each user reaching only its own")), "{notes:?}");
    let after = report.check("data.generate.after_pending").expect("rows for the new table");
    assert_eq!(after.status, Status::Pass, "{after:?}");

    // Readable by anon: undeclared, so it fails once anon may reach the table.
    let open_policy =
        format!("{owned}create policy \"anyone reads\" on public.notes for select to anon using (true);\n");
    // Today's platform grants nothing on a new table: a policy open to anon opens nothing while
    // anon has no grant, and api.reach says who may reach the table at all.
    let report = with_pending(&open_policy).await;
    let matrix = report.check("rls.matrix.public.notes").expect("compared");
    assert_ne!(matrix.status, Status::Fail, "{matrix:?}");
    let reach = report.check("api.reach.public.notes").expect("reach judged");
    assert_eq!(reach.value.as_deref(), Some("authenticated: select, insert, update, delete"), "{reach:?}");
    // Granted to anon as well: the open policy is a hole.
    let report = with_pending(&format!("{open_policy}grant select on public.notes to anon;\n")).await;
    assert_fails_on(&report, "rls.matrix.public.notes");
    assert!(detail(&report, "rls.matrix.public.notes").contains("anon can see"), "{report:?}");

    // RLS off in an exposed schema: a warning while no API role has a grant on the table (the
    // reach check says so too), a failure once one has.
    let open = "create table public.open_notes (id int primary key, body text);\n";
    let report = with_pending(open).await;
    let lint = report.check("lint.rls_disabled_without_grants").expect("linted");
    assert_eq!(lint.status, Status::Warn, "{lint:?}");
    assert_ne!(report.check("lint.rls_disabled_in_exposed_schema").map(|c| c.status), Some(Status::Fail));
    // db-lint's static guess, checked by the database: not reachable yet, so a warning.
    let static_guess = |report: &Report| {
        report.checks.iter().find(|c| c.id.starts_with("lint.static.xtask-table-without-rls.")).map(|c| c.status)
    };
    assert_eq!(static_guess(&report), Some(Status::Warn), "{report:?}");
    let report = with_pending(&format!("{open}grant select on public.open_notes to anon;\n")).await;
    assert_fails_on(&report, "lint.rls_disabled_in_exposed_schema");
    assert!(detail(&report, "lint.rls_disabled_in_exposed_schema").contains("anon can read or write"), "{report:?}");
    assert_eq!(static_guess(&report), Some(Status::Fail), "confirmed: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erroring_trigger_shows_its_sqlstate_in_the_matrix() {
    let report = with_pending(
        "create function public.no_deletes() returns trigger language plpgsql as $$ \
         begin raise exception 'profiles are never deleted' using errcode = 'XT001'; end $$;\n\
         create trigger no_deletes before delete on public.profiles for each row execute function public.no_deletes();\n",
    )
    .await;
    let state = report.check("rls.state.after").expect("matrix after");
    assert_eq!(state.status, Status::Warn, "{state:?}");
    let d = state.detail.clone().unwrap_or_default();
    assert!(d.contains("delete public.profiles: ERROR XT001: profiles are never deleted"), "{d}");
}

/// A policy that reads a claim only the project's access-token hook adds is exercised through the
/// hook, as production tokens carry it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_reading_a_custom_claim_is_exercised_through_the_hook() {
    let migration = "create function public.custom_access_token_hook(event jsonb) returns jsonb \
         language plpgsql stable as $$ \
         declare claims jsonb := event -> 'claims'; \
         begin \
           if (select email from auth.users where id = (event ->> 'user_id')::uuid) like 'generated-a%' then \
             claims := jsonb_set(claims, '{user_role}', '\"admin\"'); \
           end if; \
           return jsonb_set(event, '{claims}', claims); \
         end $$;\n\
         grant usage on schema public to supabase_auth_admin;\n\
         grant execute on function public.custom_access_token_hook(jsonb) to supabase_auth_admin;\n\
         create policy \"admins read every profile\" on public.profiles for select to authenticated \
           using ((select auth.jwt() ->> 'user_role') = 'admin');\n";
    let hook = "\n[auth.hook.custom_access_token]\nenabled = true\n\
                uri = \"pg-functions://postgres/public/custom_access_token_hook\"\n";
    let report = with_pending_and_config(migration, hook).await;
    let said = report.check("env.access_token_hook").and_then(|c| c.value.clone());
    assert_eq!(said.as_deref(), Some("public.custom_access_token_hook"));
    assert_fails_on(&report, "rls.matrix.public.profiles");
    let d = detail(&report, "rls.matrix.public.profiles");
    assert!(
        d.contains("generated-a@xtask.test can now see") && !d.contains("generated-b@xtask.test can now see"),
        "{d}"
    );
    // Without the hook no token carries the claim: the policy is dead and access is unchanged.
    let report = with_pending(migration).await;
    assert_eq!(report.check("rls.matrix.public.profiles").map(|c| c.status), Some(Status::Pass));
}

/// With anonymous sign-ins on, an anonymous user (role authenticated, `is_anonymous` true) is a
/// persona: a policy for every authenticated user reaches it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_sign_in_is_a_persona_when_the_project_allows_them() {
    let report = with_pending_and_config(
        "create policy \"signed-in users read every profile\" on public.profiles for select to authenticated \
         using (true);\n",
        "\n[auth]\nenable_anonymous_sign_ins = true\n",
    )
    .await;
    assert_fails_on(&report, "rls.matrix.public.profiles");
    let d = detail(&report, "rls.matrix.public.profiles");
    assert!(d.lines().any(|l| l.starts_with("anonymous ") && l.contains("can now see")), "{d}");
}

/// A child whose name sorts before its parent (`achild → zparent`) was never filled: the parent's
/// name came back from the catalog without its schema, so the order fell back to names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_named_before_its_parent_is_filled_after_it() {
    let sql = "create table public.zparent (id bigint generated always as identity primary key, \
               user_id uuid not null references auth.users (id));\n\
               create table public.achild (id bigint generated always as identity primary key, \
               parent_id bigint not null references public.zparent (id), note text not null);\n\
               alter table public.zparent enable row level security;\n\
               alter table public.achild enable row level security;\n\
               create policy own on public.zparent for all to authenticated using ((select auth.uid()) = user_id);\n\
               create policy own on public.achild for all to authenticated using (exists (select 1 from public.zparent p \
               where p.id = parent_id and p.user_id = (select auth.uid())));\n";
    let report = with_pending(sql).await;
    let after = report.check("data.generate.after_pending").expect("rows for the new tables");
    assert_eq!(after.status, Status::Pass, "{after:?}");
    for table in ["public.zparent", "public.achild"] {
        let check = report.check(&format!("rls.matrix.{table}")).expect("compared");
        assert!(check.value.as_deref().is_some_and(|v| !v.contains(" 0 row(s)")), "{table} has rows: {check:?}");
        assert_ne!(check.status, Status::Warn, "{table} exercised: {check:?}");
    }
}

/// A project's own deferred constraint trigger that refuses generated rows ("A System requires at
/// least one Module") ended the run with exit 2; it is a fact about the data: a warning naming the
/// table and the message, and the run goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projects_deferred_trigger_refusing_generated_rows_is_a_warning_not_an_error() {
    let sql = "create table public.systems (id bigint generated always as identity primary key, \
               user_id uuid not null references auth.users (id));\n\
               create function public.system_needs_module() returns trigger language plpgsql as $$ \
               begin raise exception 'A System requires at least one Module'; end $$;\n\
               create constraint trigger system_needs_module after insert on public.systems \
               deferrable initially deferred for each row execute function public.system_needs_module();\n\
               alter table public.systems enable row level security;\n\
               create policy own on public.systems for all to authenticated using ((select auth.uid()) = user_id);\n";
    let report = with_pending(sql).await;
    assert!(report.error.is_none(), "not an environment error: {:?}", report.error);
    let after = report.check("data.generate.after_pending").expect("the generator's word on the new table");
    assert_eq!(after.status, Status::Warn, "{after:?}");
    let d = after.detail.clone().unwrap_or_default();
    assert!(d.contains("public.systems") && d.contains("A System requires at least one Module"), "{d}");
}

/// A migration that deletes rows was reported as "can no longer see N rows — declare
/// rls-narrows". Rows gone are data loss, their own finding, and RLS is not blamed for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_rows_are_data_loss_not_an_rls_narrowing() {
    let report = with_pending("delete from public.profiles;\n").await;
    assert_fails_on(&report, "data.loss.public.profiles");
    let d = detail(&report, "data.loss.public.profiles");
    assert!(d.contains("row(s) of public.profiles present before the pending migrations are gone"), "{d}");
    let matrix = report.check("rls.matrix.public.profiles").expect("compared");
    assert_ne!(matrix.status, Status::Fail, "RLS is not blamed for deleted rows: {matrix:?}");

    let report = with_pending(
        "-- xtask:data-loss public.profiles profiles are rebuilt from auth.users\ndelete from public.profiles;\n",
    )
    .await;
    assert_eq!(report.check("data.loss.public.profiles").map(|c| c.status), Some(Status::Warn));
    let failed: Vec<&str> = report.checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.id.as_str()).collect();
    // What stays failed is the static lint on an unbatched whole-table DELETE, and the proof's
    // coverage (the table is empty after it), not data or RLS.
    assert!(failed.iter().all(|id| id.starts_with("lint.static") || *id == "proof.coverage"), "{failed:?}");
}

/// A run passed with the one table the pending migration changes left empty. Coverage is the
/// first line of the verdict, and a table the migration names without rows fails the proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_the_migration_changes_without_rows_fails_the_proof() {
    let sql = "create table public.lonely (id bigint primary key, body text not null \
               check (body = 'a' and body = 'b'));\n\
               alter table public.lonely enable row level security;\n";
    let report = with_pending(sql).await;
    assert_fails_on(&report, "proof.coverage");
    let coverage = report.check("proof.coverage").expect("coverage");
    let d = coverage.detail.clone().unwrap_or_default();
    assert!(d.contains("not exercised: public.lonely, which 20250301000000_under_test.sql changes"), "{d}");
    let mut verdict = Vec::new();
    xtask::report::render::summary(&mut verdict, &report, xtask::report::render::Colors::Off).expect("render");
    let verdict = String::from_utf8_lossy(&verdict).to_string();
    assert!(verdict.contains(" FAILED (") && verdict.contains("tables exercised): "), "{verdict}");
}

/// A bucket the pending migration creates got no objects, so a policy letting every signed-in
/// user read it passed as "not exercised". Objects are generated in it after the migration, and
/// reaching another user's new objects is judged against "did not exist".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_bucket_every_user_can_read_fails() {
    let sql = "insert into storage.buckets (id, name) values ('shared', 'shared');\n\
               create policy \"read shared\" on storage.objects for select to authenticated \
               using (bucket_id = 'shared');\n";
    let report = with_pending(sql).await;
    assert_fails_on(&report, "rls.matrix.storage.objects");
    let d = detail(&report, "rls.matrix.storage.objects");
    assert!(d.contains("written after the migrations that are not its own"), "{d}");
}

/// "anon may execute" on a `create or replace` of a function whose ACL already excluded anon: a
/// static guess the database dismisses (its ACL survives `create or replace`); one that anon
/// may in fact execute is confirmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_guess_about_execute_is_checked_by_the_database() {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/platform/supabase");
    let project = tempfile::tempdir().expect("tmp");
    let dir = project.path().join("supabase");
    copy_dir(&from, &dir);
    let definer = |name: &str| {
        format!(
            "create or replace function public.{name}() returns int language sql security definer \
             set search_path = '' as $$ select 1 $$;\n"
        )
    };
    let baseline = format!("{}revoke execute on function public.kept() from public, anon;\n", definer("kept"));
    std::fs::write(dir.join("migrations/20250201000000_definer.sql"), baseline).expect("write");
    // Executable by anon (PUBLIC's default) before the pending migrations replace it.
    std::fs::write(dir.join("migrations/20250115000000_already.sql"), definer("already")).expect("write");
    let pending = format!("{}{}{}", definer("kept"), definer("opened"), definer("already"));
    std::fs::write(dir.join("migrations/20250301000000_under_test.sql"), pending).expect("write");
    std::fs::write(dir.join("rollbacks/20250301000000_under_test.sql"), "select 1;\n").expect("write");
    let report = run_local_test(&dir, any_backend()).await;
    let finding = |name: &str| {
        report
            .checks
            .iter()
            .find(|c| {
                c.id.starts_with("lint.static.xtask-security-definer-callable-by-anon.")
                    && c.detail.as_deref().is_some_and(|d| d.contains(&format!("public.{name} is SECURITY DEFINER")))
            })
            .cloned()
            .unwrap_or_else(|| panic!("a static finding for {name}: {report:#?}"))
    };
    let kept = finding("kept");
    assert_eq!(kept.status, Status::Info, "{kept:?}");
    assert!(kept
        .detail
        .unwrap_or_default()
        .starts_with("dismissed by the database: after the pending migrations anon may not execute public.kept"));
    let opened = finding("opened");
    assert_eq!(opened.status, Status::Fail, "{opened:?}");
    assert!(opened.detail.unwrap_or_default().contains("confirmed by the database: anon may execute public.opened"));
    let already = finding("already");
    assert_eq!(already.status, Status::Info, "{already:?}");
    assert!(already.detail.unwrap_or_default().starts_with("already so: anon could execute public.already before"));
}

/// Values inside their ranges and patterns: a `smallint` key (the generator's keys start at a
/// million), `numeric(3,1)`, a regex CHECK — each left its table empty before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_and_regex_checks_are_met() {
    let sql = "create table public.badges (id smallint primary key, user_id uuid not null references auth.users (id), \
               code text not null check (code ~ '^[a-z]{3}-[0-9]{2}$'), score numeric(3,1) not null);\n\
               alter table public.badges enable row level security;\n\
               create policy own on public.badges for all to authenticated using ((select auth.uid()) = user_id);\n";
    let report = with_pending(sql).await;
    let after = report.check("data.generate.after_pending").expect("rows for the new table");
    assert_eq!(after.status, Status::Pass, "{after:?}");
    assert_eq!(report.check("proof.coverage").map(|c| c.status), Some(Status::Pass));
}

/// Multi-column CHECKs (the generator reads the violated constraint and adjusts the row), a
/// cycle of foreign keys (the nullable reference filled once its parent has rows) and a composite
/// foreign key, two references to one parent that a CHECK keeps apart (blocker and blocked): each
/// left its table empty, or its reference NULL, before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_column_checks_and_cycles_are_filled() {
    let own = |t: &str| {
        format!(
            "alter table public.{t} enable row level security;\n\
             create policy own on public.{t} for all to authenticated using ((select auth.uid()) = user_id);\n\
             grant select, insert, update, delete on public.{t} to authenticated;\n"
        )
    };
    let mut sql = "create table public.bookings (id uuid primary key default gen_random_uuid(), \
                   user_id uuid not null references auth.users (id), starts_at timestamptz not null, \
                   ends_at timestamptz not null, check (ends_at > starts_at));\n\
                   create table public.contacts (id uuid primary key default gen_random_uuid(), \
                   user_id uuid not null references auth.users (id), email text, phone text, \
                   check (email is not null or phone is not null));\n\
                   create table public.teams (id uuid primary key default gen_random_uuid(), \
                   user_id uuid not null references auth.users (id), captain_id uuid);\n\
                   create table public.members (id uuid primary key default gen_random_uuid(), \
                   user_id uuid not null references auth.users (id), team_id uuid not null references public.teams (id));\n\
                   alter table public.teams add foreign key (captain_id) references public.members (id);\n\
                   create table public.seats (org text not null, num int not null, \
                   user_id uuid not null references auth.users (id), primary key (org, num));\n\
                   create table public.seat_notes (id uuid primary key default gen_random_uuid(), \
                   user_id uuid not null references auth.users (id), org text not null, num int not null, \
                   foreign key (org, num) references public.seats (org, num));\n\
                   create table public.follows (id uuid primary key default gen_random_uuid(), \
                   user_id uuid not null references auth.users (id), followed_id uuid not null references auth.users (id), \
                   check (user_id <> followed_id));\n\
                   create table public.blocks (id uuid primary key default gen_random_uuid(), \
                   user_id uuid not null references auth.users (id), \
                   blocker_id uuid not null references public.profiles (id), \
                   blocked_id uuid not null references public.profiles (id), check (blocker_id <> blocked_id));\n"
        .to_string();
    for t in ["bookings", "contacts", "teams", "members", "seats", "seat_notes", "follows", "blocks"] {
        sql.push_str(&own(t));
    }
    let report = with_pending(&sql).await;
    let after = report.check("data.generate.after_pending").expect("rows for the new tables");
    assert_eq!(after.status, Status::Pass, "{after:?}");
    let d = after.detail.clone().unwrap_or_default();
    assert!(d.contains("public.teams.(captain_id) → public.members: a cycle, filled after public.members ("), "{d}");
    assert_eq!(report.check("proof.coverage").map(|c| c.status), Some(Status::Pass), "{report:?}");
}

/// Tenancy through an organisation (seen on a public project): a user reaching its own
/// organisation's rows was "reaching rows that are not its own", because no column of them holds
/// its id. A row the generator made for a user is that user's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_the_users_own_organisation_are_its_own() {
    let sql = "create table public.orgs (id uuid primary key default gen_random_uuid(), name text not null);\n\
               create table public.staff (id uuid primary key default gen_random_uuid(), \
               auth_id uuid not null references auth.users (id), org_id uuid not null references public.orgs (id));\n\
               create table public.branches (id uuid primary key default gen_random_uuid(), \
               org_id uuid not null references public.orgs (id), name text not null);\n\
               create function public.auth_org_id() returns uuid language sql stable security definer \
               set search_path = '' as $$ select org_id from public.staff where auth_id = auth.uid() limit 1 $$;\n\
               alter table public.orgs enable row level security;\n\
               alter table public.staff enable row level security;\n\
               alter table public.branches enable row level security;\n\
               create policy own on public.staff for select to authenticated using (auth_id = (select auth.uid()));\n\
               create policy org on public.orgs for select to authenticated using (id = public.auth_org_id());\n\
               create policy org on public.branches for select to authenticated using (org_id = public.auth_org_id());\n\
               grant select on public.orgs, public.staff, public.branches to authenticated;\n";
    let report = with_pending(sql).await;
    for table in ["public.orgs", "public.branches"] {
        let check = report.check(&format!("rls.matrix.{table}")).expect("compared");
        assert_ne!(check.status, Status::Fail, "{table}: {check:?}");
    }
    // The other user's organisation stays out of reach: a policy that opens it fails.
    let open = format!("{sql}create policy everyone on public.branches for select to authenticated using (true);\n");
    let report = with_pending(&open).await;
    assert_fails_on(&report, "rls.matrix.public.branches");
}

/// A trigger that refuses every update (a public project's price lock) makes the update
/// measurement fail after the migration: said and not compared, never "can no longer update".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_refusing_updates_is_not_an_rls_narrowing() {
    let report = with_pending(
        "create function public.locked() returns trigger language plpgsql as $$ \
         begin raise exception 'profiles are locked'; end $$;\n\
         create trigger locked before update on public.profiles for each row execute function public.locked();\n",
    )
    .await;
    let check = report.check("rls.matrix.public.profiles").expect("compared");
    assert_eq!(check.status, Status::Warn, "{check:?}");
    let detail = check.detail.clone().unwrap_or_default();
    assert!(detail.contains("could not be measured after") && !detail.contains("no longer"), "{detail}");
}

/// The prestige-construction pattern: a table no one may read (`using (false)`) but anon may
/// write to once the pending migration adds an insert policy. The insert probes copy a row the
/// user owns even when it cannot see it, so "anon can now insert" is measured, not "n/a".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_policy_opening_a_write_only_table_to_anon_fails() {
    let project = crate::support::platform_with_pending(
        "create policy \"anyone may write\" on public.enquiries for insert with check (body is not null);\n",
        "select 1;\n",
        "",
    );
    let baseline = "create table public.enquiries (id uuid primary key default gen_random_uuid(), \
                    user_id uuid references auth.users (id), body text);\n\
                    alter table public.enquiries enable row level security;\n\
                    create policy \"nobody reads\" on public.enquiries for select using (false);\n\
                    grant select, insert on public.enquiries to anon, authenticated;\n";
    std::fs::write(project.path().join("supabase/migrations/20250115000000_enquiries.sql"), baseline).expect("write");
    let report = run_local_test(&project.path().join("supabase"), any_backend()).await;
    assert_fails_on(&report, "rls.matrix.public.enquiries");
    let d = detail(&report, "rls.matrix.public.enquiries");
    assert!(d.contains("probe insert_as_anon: now allowed") && d.contains("denied by RLS"), "{d}");
}

/// A project that revokes service_role's grants (seen on a drawn project): its deletes are
/// measured as the session's, and a foreign key refusing them is measured without it, as for
/// every other persona, instead of "could not be measured".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_roles_delete_past_a_foreign_key_is_measured_without_grants() {
    let report = with_pending(
        "create table public.pins (id uuid primary key default gen_random_uuid(), \
         user_id uuid not null references public.profiles (id), label text not null);\n\
         alter table public.pins enable row level security;\n\
         create policy own on public.pins for all to authenticated using ((select auth.uid()) = user_id);\n\
         grant select, insert, update, delete on public.pins to authenticated;\n\
         revoke all on public.profiles from service_role;\n",
    )
    .await;
    let after = report.check("rls.state.after").expect("measured");
    let d = after.detail.clone().unwrap_or_default();
    assert!(!d.contains("23503"), "{after:?}");
    assert_eq!(report.check("data.generate.after_pending").map(|c| c.status), Some(Status::Pass), "{report:?}");
}
