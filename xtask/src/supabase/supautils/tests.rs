//! supautils' verdicts, one table per family of statements.

use super::*;

fn check(sql: &str, expected: Verdict) {
    assert_eq!(classify(sql, &["pg_net"]), expected, "{sql}");
}

fn refused(text: &str) -> Verdict {
    Verdict::Refused(text.to_string())
}

#[test]
fn privileged_extensions_run_as_the_superuser_and_others_as_postgres() {
    let superuser = Verdict::AsSuperuser("supautils.privileged_extensions");
    check("create extension if not exists pg_cron with schema pg_catalog", superuser.clone());
    check("CREATE EXTENSION \"uuid-ossp\" WITH SCHEMA extensions", superuser.clone());
    check("drop extension if exists pg_trgm, hstore cascade", superuser.clone());
    check("alter extension pg_trgm update", superuser);
    // Not on the list: Postgres decides (a trusted extension works, another fails as in production).
    check("create extension vector with schema extensions", Verdict::AsMigrationRole);
    check("drop extension pg_trgm, vector", Verdict::AsMigrationRole);
}

#[test]
fn a_stand_in_extension_is_not_sent() {
    for sql in ["create extension if not exists \"pg_net\" with schema \"extensions\"", "drop extension pg_net"] {
        assert!(matches!(classify(sql, &["pg_net"]), Verdict::StandIn(_)), "{sql}");
    }
    assert_eq!(classify("create extension pg_net", &[]), Verdict::AsSuperuser("supautils.privileged_extensions"));
}

#[test]
fn policies_and_dropped_triggers_on_platform_tables_use_the_grants() {
    let policy = Verdict::AsSuperuser("supautils.policy_grants");
    check(
        "create policy \"avatars are their owner's\" on storage.objects for select to authenticated using (true)",
        policy.clone(),
    );
    check("CREATE POLICY p ON \"storage\".\"objects\" FOR ALL USING (true)", policy.clone());
    check("drop policy if exists \"Give users access\" on storage.objects", policy.clone());
    check("alter policy p on auth.users using (false)", policy);
    check("create policy p on public.profiles using (true)", Verdict::AsMigrationRole);
    check(
        "drop trigger if exists on_auth_user_created on auth.users",
        Verdict::AsSuperuser("supautils.drop_trigger_grants"),
    );
    check("drop trigger t on public.profiles", Verdict::AsMigrationRole);
    // Not covered by any grant: Postgres refuses it as in production (must be owner).
    check("alter table storage.objects enable row level security", Verdict::AsMigrationRole);
}

#[test]
fn reserved_roles_and_memberships_are_refused_in_supautils_words() {
    check(
        "alter role authenticator nosuperuser",
        refused("\"authenticator\" is a reserved role, only superusers can modify it"),
    );
    check(
        "ALTER USER supabase_storage_admin WITH PASSWORD 'x'",
        refused("\"supabase_storage_admin\" is a reserved role, only superusers can modify it"),
    );
    check(
        "alter role supabase_auth_admin set search_path = auth",
        refused("\"supabase_auth_admin\" is a reserved role, only superusers can modify it"),
    );
    check("alter role app rename to anon", refused("\"anon\" is a reserved role, only superusers can modify it"));
    check(
        "drop role if exists app_reader, anon",
        refused("\"anon\" is a reserved role, only superusers can modify it"),
    );
    check(
        "grant authenticator to app_user",
        refused("\"authenticator\" role memberships are reserved, only superusers can grant them"),
    );
    check(
        "create role spy login in role pg_read_server_files",
        refused("\"pg_read_server_files\" role memberships are reserved, only superusers can grant them"),
    );
    check("set session authorization supabase_admin", refused("permission denied to set session authorization"));
    // Allowed: settings of the API roles, ordinary roles, grants of privileges.
    check("alter role authenticated set statement_timeout = '15s'", Verdict::AsMigrationRole);
    check("alter role app_reader nologin", Verdict::AsMigrationRole);
    check("grant anon to app_user", Verdict::AsMigrationRole);
    check("grant select on all tables in schema public to authenticator", Verdict::AsMigrationRole);
    check("alter role postgres nosuperuser", Verdict::AsMigrationRole);
}

#[test]
fn settings_the_privileged_role_may_change_run_as_the_superuser() {
    let allowed = Verdict::AsSuperuser("supautils.privileged_role_allowed_configs");
    check("SET session_replication_role = replica", allowed.clone());
    check("set local session_replication_role to 'origin'", allowed.clone());
    check("reset session_replication_role", allowed);
    check("set search_path = public", Verdict::AsMigrationRole);
    check("set statement_timeout = 0", Verdict::AsMigrationRole);
}

#[test]
fn a_do_block_creating_a_policy_on_a_platform_table_uses_the_grants() {
    let policy = Verdict::AsSuperuser("supautils.policy_grants");
    check(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE schemaname = 'storage' AND policyname = 'docs') \
         THEN CREATE POLICY docs ON storage.objects FOR SELECT TO authenticated USING (bucket_id = 'docs'); \
         END IF; END $$",
        policy,
    );
    check(
        "do $$ begin\n  drop trigger if exists on_auth_user_created on auth.users;\nend $$",
        Verdict::AsSuperuser("supautils.drop_trigger_grants"),
    );
    // A policy on the project's own table, or a block with no policy: Postgres decides.
    check("DO $$ BEGIN CREATE POLICY p ON public.notes USING (true); END $$", Verdict::AsMigrationRole);
    check("DO $$ BEGIN PERFORM 1; END $$", Verdict::AsMigrationRole);
}

#[test]
fn a_policy_spread_over_lines_in_a_do_block_is_read_whole() {
    check(
        "DO $$ BEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE policyname = 'up') THEN\n    CREATE POLICY \"up\"\n      ON storage.objects FOR INSERT TO authenticated\n      WITH CHECK (bucket_id = 'docs');\n  END IF;\nEND $$",
        Verdict::AsSuperuser("supautils.policy_grants"),
    );
}

#[test]
fn event_triggers_and_allowed_settings_follow_supautils_of_2026() {
    // supautils test/expected/event_triggers.out.in: the privileged role creates event triggers.
    let event = Verdict::AsSuperuser("supautils: event triggers by the privileged role");
    check("create event trigger log_ddl on ddl_command_end execute function public.log_ddl()", event.clone());
    check("alter event trigger log_ddl disable", event.clone());
    check("drop event trigger if exists log_ddl", event);
    // supautils test/init.conf.in allows `pgrst.*`; privileged_role.out.in sets it on authenticator.
    let configs = Verdict::AsSuperuser("supautils.privileged_role_allowed_configs");
    check("alter role authenticator set pgrst.db_schemas = 'public, api'", configs.clone());
    check("ALTER ROLE authenticator RESET pgrst.db_aggregates_enabled", configs.clone());
    check("alter role authenticator in database postgres set pgrst.db_max_rows to 100", configs.clone());
    check("set session_replication_role = replica", configs.clone());
    check("alter role app_user set session_replication_role = replica", configs);
    // A setting not on the list is Postgres' business; a reserved role still refuses the rest.
    check("alter role authenticator set statement_timeout = '8s'", Verdict::AsMigrationRole);
    check(
        "alter role supabase_admin set pgrst.db_schemas = 'x'",
        refused("\"supabase_admin\" is a reserved role, only superusers can modify it"),
    );
}
