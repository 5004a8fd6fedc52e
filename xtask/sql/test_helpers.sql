-- The test helpers Supabase's testing guide points to (`tests.*`), written for this tool from
-- their documented behaviour, so suites that install them from a package registry run offline.
-- Installed inside each test file's transaction (rolled back with it).
CREATE SCHEMA IF NOT EXISTS tests;
CREATE SCHEMA IF NOT EXISTS test_overrides;
GRANT USAGE ON SCHEMA tests, test_overrides TO anon, authenticated, service_role;

-- A user signed up in auth.users, found again by `identifier` (kept in its user metadata).
CREATE OR REPLACE FUNCTION tests.create_supabase_user(identifier text, email text DEFAULT NULL,
    phone text DEFAULT NULL, metadata jsonb DEFAULT NULL)
  RETURNS uuid LANGUAGE plpgsql SECURITY DEFINER SET search_path = auth, pg_temp AS $f$
DECLARE
  new_id uuid := gen_random_uuid();
BEGIN
  INSERT INTO auth.users (id, instance_id, aud, role, email, phone, email_confirmed_at, raw_app_meta_data,
                          raw_user_meta_data, created_at, updated_at)
  VALUES (new_id, '00000000-0000-0000-0000-000000000000', 'authenticated', 'authenticated',
          coalesce(email, concat(identifier, '@test.com')), phone, now(),
          '{"provider": "email", "providers": ["email"]}',
          jsonb_build_object('test_identifier', identifier) || coalesce(metadata, '{}'), now(), now());
  RETURN new_id;
END
$f$;

CREATE OR REPLACE FUNCTION tests.get_supabase_user(identifier text)
  RETURNS json LANGUAGE plpgsql SECURITY DEFINER SET search_path = auth, pg_temp AS $f$
DECLARE
  found json;
BEGIN
  SELECT json_build_object('id', u.id, 'email', u.email, 'phone', u.phone,
                           'raw_user_meta_data', u.raw_user_meta_data, 'raw_app_meta_data', u.raw_app_meta_data)
    INTO found FROM auth.users u WHERE u.raw_user_meta_data ->> 'test_identifier' = identifier LIMIT 1;
  IF found IS NULL THEN
    RAISE EXCEPTION 'User with identifier % not found', identifier;
  END IF;
  RETURN found;
END
$f$;

CREATE OR REPLACE FUNCTION tests.get_supabase_uid(identifier text)
  RETURNS uuid LANGUAGE sql SECURITY DEFINER SET search_path = auth, pg_temp AS $f$
  SELECT (tests.get_supabase_user(identifier) ->> 'id')::uuid
$f$;

-- The rest of the transaction runs as that user, as PostgREST would run its requests.
CREATE OR REPLACE FUNCTION tests.authenticate_as(identifier text)
  RETURNS void LANGUAGE plpgsql AS $f$
DECLARE
  u json := tests.get_supabase_user(identifier);
BEGIN
  PERFORM set_config('role', 'authenticated', true);
  PERFORM set_config('request.jwt.claims', json_build_object(
    'sub', u ->> 'id', 'role', 'authenticated', 'aud', 'authenticated', 'email', u ->> 'email',
    'phone', u ->> 'phone', 'user_metadata', u -> 'raw_user_meta_data',
    'app_metadata', u -> 'raw_app_meta_data')::text, true);
  PERFORM set_config('request.jwt.claim.sub', u ->> 'id', true);
END
$f$;

CREATE OR REPLACE FUNCTION tests.authenticate_as_service_role()
  RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM set_config('role', 'service_role', true);
  PERFORM set_config('request.jwt.claims', json_build_object('role', 'service_role')::text, true);
  PERFORM set_config('request.jwt.claim.sub', '', true);
END
$f$;

-- Back to an anonymous request.
CREATE OR REPLACE FUNCTION tests.clear_authentication()
  RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM set_config('role', 'anon', true);
  PERFORM set_config('request.jwt.claims', json_build_object('role', 'anon')::text, true);
  PERFORM set_config('request.jwt.claim.sub', '', true);
END
$f$;

-- pgTAP assertions: every table of a schema (or one table) has row-level security on.
CREATE OR REPLACE FUNCTION tests.rls_enabled(testing_schema text)
  RETURNS text LANGUAGE sql AS $f$
  SELECT is((SELECT count(*)::integer FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = testing_schema AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity),
            0, format('All tables in the %s schema should have row level security enabled', testing_schema))
$f$;

CREATE OR REPLACE FUNCTION tests.rls_enabled(testing_schema text, testing_table text)
  RETURNS text LANGUAGE sql AS $f$
  SELECT is((SELECT c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = testing_schema AND c.relname = testing_table),
            true, format('Table %s.%s should have row level security enabled', testing_schema, testing_table))
$f$;

-- now() returns `frozen` for the rest of the transaction (test_overrides comes first on the
-- search_path), until unfreeze_time().
CREATE OR REPLACE FUNCTION tests.freeze_time(frozen timestamptz)
  RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
  EXECUTE format('CREATE OR REPLACE FUNCTION test_overrides.now() RETURNS timestamptz LANGUAGE sql STABLE AS %L',
                 format('SELECT %L::timestamptz', frozen));
  GRANT EXECUTE ON FUNCTION test_overrides.now() TO anon, authenticated, service_role;
  IF NOT 'test_overrides' = ANY (string_to_array(replace(current_setting('search_path'), ' ', ''), ',')) THEN
    PERFORM set_config('search_path', 'test_overrides, ' || current_setting('search_path') || ', pg_catalog', true);
  END IF;
END
$f$;

CREATE OR REPLACE FUNCTION tests.unfreeze_time()
  RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $f$
BEGIN
  DROP FUNCTION IF EXISTS test_overrides.now();
END
$f$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO anon, authenticated, service_role;
