-- supabase-layer v4 (modelled on Supabase platform 15.8.1 and its 2026 changes: GoTrue v2.170 auth, storage-api v1.19, its supautils.conf)
-- What a bare PostgreSQL lacks and Supabase migrations assume: its roles, the auth schema and
-- helpers (as Supabase Auth defines them), the extensions schema, the default privileges Supabase
-- grants on public, and the migration history table the supabase CLI reads and writes.
-- Everything is created only when missing: a target that already has it is left alone.

DO $layer$
DECLARE
  fresh_authenticator boolean := NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator');
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator NOINHERIT LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_auth_admin') THEN
    CREATE ROLE supabase_auth_admin NOINHERIT CREATEROLE LOGIN;
  END IF;
  -- The rest of the platform's roles (supabase/postgres' init scripts), created only if missing.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_admin') THEN
    CREATE ROLE supabase_admin SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_storage_admin') THEN
    CREATE ROLE supabase_storage_admin NOINHERIT CREATEROLE LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dashboard_user') THEN
    CREATE ROLE dashboard_user NOSUPERUSER CREATEDB CREATEROLE REPLICATION;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_realtime_admin') THEN
    CREATE ROLE supabase_realtime_admin NOINHERIT NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_replication_admin') THEN
    CREATE ROLE supabase_replication_admin LOGIN REPLICATION;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_read_only_user') THEN
    CREATE ROLE supabase_read_only_user BYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_etl_admin') THEN
    CREATE ROLE supabase_etl_admin LOGIN REPLICATION;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_functions_admin') THEN
    CREATE ROLE supabase_functions_admin NOINHERIT CREATEROLE LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgbouncer') THEN
    CREATE ROLE pgbouncer LOGIN;
  END IF;
  -- The migration role. On hosted Supabase `postgres` is not a superuser (supabase_admin is).
  -- Roles are cluster-wide: one that existed before (a shared server, the url backend) is never
  -- altered or granted anything; only a role created here gets its platform memberships.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres') THEN
    CREATE ROLE postgres NOSUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS;
    -- postgres' memberships as on the platform: the API roles and the monitoring roles, with admin.
    GRANT anon, authenticated, service_role, authenticator TO postgres WITH ADMIN OPTION;
    GRANT pg_monitor, pg_read_all_data, pg_signal_backend TO postgres WITH ADMIN OPTION;
    GRANT supabase_realtime_admin TO postgres;
  END IF;
  IF fresh_authenticator THEN
    GRANT anon, authenticated, service_role TO authenticator;
  END IF;
  -- The API roles' timeouts for this database only (ALTER ROLE … SET would change them on every
  -- database of the server; this setting goes with the database).
  EXECUTE format('ALTER ROLE anon IN DATABASE %I SET statement_timeout = %L', current_database(), '3s');
  EXECUTE format('ALTER ROLE authenticated IN DATABASE %I SET statement_timeout = %L', current_database(), '8s');
END
$layer$;

CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
-- Supabase databases resolve unqualified names in public, then extensions (uuid_generate_v4()…).
DO $layer$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path TO "$user", public, extensions', current_database());
END
$layer$;

DO $layer$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
    COMMENT ON SCHEMA auth IS 'supabase-layer (installed by cargo xtask)';
  END IF;
END
$layer$;

GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;

CREATE TABLE IF NOT EXISTS auth.users (
  instance_id uuid,
  id uuid PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  phone text,
  is_anonymous boolean NOT NULL DEFAULT false
);
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
-- Supabase's image creates an earlier auth.users and leaves the rest to GoTrue's migrations,
-- which do not run here: play their renames first (confirmed_at became email_confirmed_at).
DO $layer$
BEGIN
  IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'auth.users'::regclass AND attname = 'confirmed_at'
             AND attgenerated = '')
     AND NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'auth.users'::regclass
                     AND attname = 'email_confirmed_at') THEN
    ALTER TABLE auth.users RENAME COLUMN confirmed_at TO email_confirmed_at;
  END IF;
END
$layer$;
ALTER TABLE auth.users
  ADD COLUMN IF NOT EXISTS email_confirmed_at timestamptz,
  ADD COLUMN IF NOT EXISTS phone text,
  ADD COLUMN IF NOT EXISTS is_anonymous boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS users_email_idx ON auth.users (email);
-- Every column GoTrue's migrations give auth.users (seeds write them by name).
ALTER TABLE auth.users
  ADD COLUMN IF NOT EXISTS invited_at timestamptz,
  ADD COLUMN IF NOT EXISTS confirmation_token varchar(255),
  ADD COLUMN IF NOT EXISTS confirmation_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS recovery_token varchar(255),
  ADD COLUMN IF NOT EXISTS recovery_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS email_change_token_new varchar(255),
  ADD COLUMN IF NOT EXISTS email_change varchar(255),
  ADD COLUMN IF NOT EXISTS email_change_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS last_sign_in_at timestamptz,
  ADD COLUMN IF NOT EXISTS phone_confirmed_at timestamptz,
  ADD COLUMN IF NOT EXISTS phone_change text DEFAULT '',
  ADD COLUMN IF NOT EXISTS phone_change_token varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS phone_change_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS email_change_token_current varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS email_change_confirm_status smallint DEFAULT 0,
  ADD COLUMN IF NOT EXISTS banned_until timestamptz,
  ADD COLUMN IF NOT EXISTS reauthentication_token varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS reauthentication_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS is_sso_user boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS deleted_at timestamptz;
DO $layer$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'auth.users'::regclass AND attname = 'confirmed_at') THEN
    ALTER TABLE auth.users ADD COLUMN confirmed_at timestamptz
      GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED;
  END IF;
END
$layer$;

CREATE TABLE IF NOT EXISTS auth.identities (
  provider_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  identity_data jsonb NOT NULL,
  provider text NOT NULL,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  UNIQUE (provider_id, provider)
);
ALTER TABLE auth.identities OWNER TO supabase_auth_admin;
CREATE TABLE IF NOT EXISTS auth.sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  created_at timestamptz,
  updated_at timestamptz,
  factor_id uuid,
  aal text,
  not_after timestamptz,
  refreshed_at timestamp,
  user_agent text,
  ip inet,
  tag text
);
ALTER TABLE auth.sessions OWNER TO supabase_auth_admin;
CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
  instance_id uuid,
  id bigserial PRIMARY KEY,
  token varchar(255) UNIQUE,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255),
  session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE
);
ALTER TABLE auth.refresh_tokens
  ADD COLUMN IF NOT EXISTS parent varchar(255),
  ADD COLUMN IF NOT EXISTS session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE;
ALTER TABLE auth.refresh_tokens OWNER TO supabase_auth_admin;
CREATE TABLE IF NOT EXISTS auth.audit_log_entries (
  instance_id uuid,
  id uuid PRIMARY KEY,
  payload json,
  created_at timestamptz,
  ip_address varchar(64) NOT NULL DEFAULT ''
);
ALTER TABLE auth.audit_log_entries ADD COLUMN IF NOT EXISTS ip_address varchar(64) NOT NULL DEFAULT '';
ALTER TABLE auth.audit_log_entries OWNER TO supabase_auth_admin;
CREATE TABLE IF NOT EXISTS auth.instances (
  id uuid PRIMARY KEY,
  uuid uuid,
  raw_base_config text,
  created_at timestamptz,
  updated_at timestamptz
);
ALTER TABLE auth.instances OWNER TO supabase_auth_admin;

-- The helpers read the claims PostgREST sets per request: `request.jwt.claims` (JSON, PostgREST
-- 9+), falling back to the older per-claim settings `request.jwt.claim.<name>`. Helpers that read
-- only the older settings (Supabase's image before GoTrue's migrations) are replaced, as GoTrue does;
-- a project's own helper (anything else) is left alone.
DO $layer$
BEGIN
  IF to_regprocedure('auth.uid()') IS NULL OR EXISTS (
    SELECT FROM pg_proc WHERE oid = to_regprocedure('auth.uid()')
      AND prosrc LIKE '%request.jwt.claim.sub%' AND prosrc NOT LIKE '%request.jwt.claims%'
  ) THEN
    CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
  END IF;
  IF to_regprocedure('auth.role()') IS NULL OR EXISTS (
    SELECT FROM pg_proc WHERE oid = to_regprocedure('auth.role()')
      AND prosrc LIKE '%request.jwt.claim.role%' AND prosrc NOT LIKE '%request.jwt.claims%'
  ) THEN
    CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $f$;
  END IF;
  IF to_regprocedure('auth.email()') IS NULL OR EXISTS (
    SELECT FROM pg_proc WHERE oid = to_regprocedure('auth.email()')
      AND prosrc LIKE '%request.jwt.claim.email%' AND prosrc NOT LIKE '%request.jwt.claims%'
  ) THEN
    CREATE OR REPLACE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.email', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
      )::text
    $f$;
  END IF;
  IF to_regprocedure('auth.jwt()') IS NULL THEN
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
  END IF;
END
$layer$;

ALTER FUNCTION auth.uid() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.role() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.email() OWNER TO supabase_auth_admin;
ALTER FUNCTION auth.jwt() OWNER TO supabase_auth_admin;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.email(), auth.jwt()
  TO anon, authenticated, service_role;
GRANT ALL ON auth.users TO service_role;
-- postgres may use auth's tables (a trigger on auth.users, seeds) but owns none of them.
GRANT USAGE ON SCHEMA auth TO postgres, dashboard_user;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO postgres, dashboard_user;
GRANT ALL ON ALL SEQUENCES IN SCHEMA auth TO postgres, dashboard_user;

-- The privileges Supabase grants on public: API roles may use everything, RLS decides what rows.
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;

-- storage (storage-api's schema): buckets and objects with RLS enabled, owned by its admin.
DO $layer$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'storage') THEN
    CREATE SCHEMA storage AUTHORIZATION supabase_storage_admin;
  END IF;
END
$layer$;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
CREATE TABLE IF NOT EXISTS storage.buckets (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  owner uuid,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  public boolean DEFAULT false,
  avif_autodetection boolean DEFAULT false,
  file_size_limit bigint,
  allowed_mime_types text[],
  owner_id text
);
CREATE TABLE IF NOT EXISTS storage.objects (
  id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
  bucket_id text REFERENCES storage.buckets (id),
  name text,
  owner uuid,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  last_accessed_at timestamptz DEFAULT now(),
  metadata jsonb,
  path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
  version text,
  owner_id text,
  user_metadata jsonb
);
-- Supabase's image creates the first buckets and objects; storage-api's migrations add the rest.
ALTER TABLE storage.buckets
  ADD COLUMN IF NOT EXISTS public boolean DEFAULT false,
  ADD COLUMN IF NOT EXISTS avif_autodetection boolean DEFAULT false,
  ADD COLUMN IF NOT EXISTS file_size_limit bigint,
  ADD COLUMN IF NOT EXISTS allowed_mime_types text[],
  ADD COLUMN IF NOT EXISTS owner_id text;
ALTER TABLE storage.objects
  ADD COLUMN IF NOT EXISTS path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
  ADD COLUMN IF NOT EXISTS version text,
  ADD COLUMN IF NOT EXISTS owner_id text,
  ADD COLUMN IF NOT EXISTS user_metadata jsonb;
CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects (bucket_id, name);
CREATE TABLE IF NOT EXISTS storage.migrations (
  id integer PRIMARY KEY,
  name varchar(100) NOT NULL UNIQUE,
  hash varchar(40) NOT NULL,
  executed_at timestamp DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS storage.s3_multipart_uploads (
  id text PRIMARY KEY,
  in_progress_size bigint NOT NULL DEFAULT 0,
  upload_signature text NOT NULL,
  bucket_id text NOT NULL REFERENCES storage.buckets (id),
  key text NOT NULL,
  version text NOT NULL,
  owner_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  user_metadata jsonb
);
CREATE TABLE IF NOT EXISTS storage.s3_multipart_uploads_parts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  upload_id text NOT NULL REFERENCES storage.s3_multipart_uploads (id) ON DELETE CASCADE,
  size bigint NOT NULL DEFAULT 0,
  part_number integer NOT NULL,
  bucket_id text NOT NULL REFERENCES storage.buckets (id),
  key text NOT NULL,
  etag text NOT NULL,
  owner_id text,
  version text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.s3_multipart_uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.s3_multipart_uploads_parts ENABLE ROW LEVEL SECURITY;
DO $layer$
BEGIN
  IF to_regprocedure('storage.foldername(text)') IS NULL THEN
    EXECUTE $q$CREATE FUNCTION storage.foldername(name text) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE _parts text[];
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  RETURN _parts[1:array_length(_parts, 1) - 1];
END
$f$$q$;
  END IF;
END
$layer$;
DO $layer$
BEGIN
  IF to_regprocedure('storage.filename(text)') IS NULL THEN
    EXECUTE $q$CREATE FUNCTION storage.filename(name text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE _parts text[];
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  RETURN _parts[array_length(_parts, 1)];
END
$f$$q$;
  END IF;
END
$layer$;
DO $layer$
BEGIN
  IF to_regprocedure('storage.extension(text)') IS NULL THEN
    EXECUTE $q$CREATE FUNCTION storage.extension(name text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE _parts text[]; _filename text;
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  SELECT _parts[array_length(_parts, 1)] INTO _filename;
  RETURN reverse(split_part(reverse(_filename), '.', 1));
END
$f$$q$;
  END IF;
END
$layer$;
DO $layer$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['buckets', 'objects', 'migrations', 's3_multipart_uploads', 's3_multipart_uploads_parts'] LOOP
    EXECUTE format('ALTER TABLE storage.%I OWNER TO supabase_storage_admin', t);
  END LOOP;
END
$layer$;
ALTER FUNCTION storage.foldername(text) OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.filename(text) OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.extension(text) OWNER TO supabase_storage_admin;
GRANT ALL ON ALL TABLES IN SCHEMA storage TO anon, authenticated, service_role;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA storage TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA storage TO postgres;
GRANT ALL ON ALL TABLES IN SCHEMA storage TO postgres;

-- Realtime's publication, graphql_public, and vault (secrets kept in clear text here: the
-- ephemeral database has no pgsodium key; the API is the same).
DO $layer$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    CREATE PUBLICATION supabase_realtime;
  END IF;
END
$layer$;
CREATE SCHEMA IF NOT EXISTS graphql_public;
GRANT USAGE ON SCHEMA graphql_public TO anon, authenticated, service_role;
CREATE SCHEMA IF NOT EXISTS vault;
CREATE TABLE IF NOT EXISTS vault.secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text UNIQUE,
  description text NOT NULL DEFAULT '',
  secret text NOT NULL,
  key_id uuid,
  nonce bytea,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
DO $layer$
BEGIN
  IF to_regclass('vault.decrypted_secrets') IS NULL THEN
    CREATE VIEW vault.decrypted_secrets AS
      SELECT id, name, description, secret, secret AS decrypted_secret, key_id, nonce, created_at, updated_at
      FROM vault.secrets;
  END IF;
END
$layer$;
DO $layer$
BEGIN
  IF to_regprocedure('vault.create_secret(text, text, text, uuid)') IS NULL THEN
    EXECUTE $q$CREATE FUNCTION vault.create_secret(new_secret text, new_name text DEFAULT NULL,
    new_description text DEFAULT '', new_key_id uuid DEFAULT NULL)
  RETURNS uuid LANGUAGE sql AS $f$
    INSERT INTO vault.secrets (secret, name, description, key_id)
    VALUES (new_secret, new_name, new_description, new_key_id) RETURNING id
  $f$$q$;
  END IF;
END
$layer$;
DO $layer$
BEGIN
  IF to_regprocedure('vault.update_secret(uuid, text, text, text, uuid)') IS NULL THEN
    EXECUTE $q$CREATE FUNCTION vault.update_secret(secret_id uuid, new_secret text DEFAULT NULL,
    new_name text DEFAULT NULL, new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL)
  RETURNS void LANGUAGE sql AS $f$
    UPDATE vault.secrets SET secret = coalesce(new_secret, secret), name = coalesce(new_name, name),
      description = coalesce(new_description, description), key_id = coalesce(new_key_id, key_id),
      updated_at = now()
    WHERE id = secret_id
  $f$$q$;
  END IF;
END
$layer$;
REVOKE ALL ON SCHEMA vault FROM PUBLIC;
GRANT USAGE ON SCHEMA vault TO postgres, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA vault TO postgres, service_role;

-- pg_net where this Postgres lacks the real extension: schema `net` with its functions and
-- signatures, recording each request in net.http_request_queue instead of sending it (the
-- ephemeral database has no network; a test reads which webhooks fired). The runner treats
-- CREATE/DROP EXTENSION pg_net as done by this stand-in.
DO $layer$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_net') AND to_regnamespace('net') IS NULL THEN
    CREATE SCHEMA net;
    COMMENT ON SCHEMA net IS 'supabase-layer stand-in for pg_net: requests are recorded, never sent';
    CREATE TABLE net.http_request_queue (
      id bigserial PRIMARY KEY,
      method text NOT NULL,
      url text NOT NULL,
      headers jsonb NOT NULL,
      body bytea,
      timeout_milliseconds integer NOT NULL,
      created timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE net._http_response (
      id bigint,
      status_code integer,
      content_type text,
      headers jsonb,
      content text,
      timed_out boolean,
      error_msg text,
      created timestamptz NOT NULL DEFAULT now()
    );
    EXECUTE $q$CREATE FUNCTION net.http_get(url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}',
        timeout_milliseconds integer DEFAULT 5000)
      RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = net AS $f$
        INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
        VALUES ('GET', $1 || CASE WHEN $2 = '{}' THEN '' ELSE '?' || (SELECT string_agg(k || '=' || v, '&')
          FROM jsonb_each_text($2) AS p(k, v)) END, $3, NULL, $4)
        RETURNING id
      $f$$q$;
    EXECUTE $q$CREATE FUNCTION net.http_post(url text, body jsonb DEFAULT '{}', params jsonb DEFAULT '{}',
        headers jsonb DEFAULT '{"Content-Type": "application/json"}', timeout_milliseconds integer DEFAULT 5000)
      RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = net AS $f$
        INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
        VALUES ('POST', $1, $4, convert_to($2::text, 'UTF8'), $5)
        RETURNING id
      $f$$q$;
    EXECUTE $q$CREATE FUNCTION net.http_delete(url text, params jsonb DEFAULT '{}', headers jsonb DEFAULT '{}',
        timeout_milliseconds integer DEFAULT 5000)
      RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = net AS $f$
        INSERT INTO net.http_request_queue (method, url, headers, body, timeout_milliseconds)
        VALUES ('DELETE', $1, $3, NULL, $4)
        RETURNING id
      $f$$q$;
    REVOKE ALL ON ALL FUNCTIONS IN SCHEMA net FROM PUBLIC;
    GRANT USAGE ON SCHEMA net TO supabase_functions_admin, postgres, anon, authenticated, service_role;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA net TO supabase_functions_admin, postgres, anon, authenticated, service_role;
    GRANT SELECT ON ALL TABLES IN SCHEMA net TO postgres, service_role;
  END IF;
END
$layer$;

-- Stand-ins for the platform's own extensions where this Postgres lacks them, so a migration
-- taken from `supabase db dump` that creates them loads (the runner treats CREATE/DROP
-- EXTENSION of each as done by its stand-in). None computes what user SQL depends on for a
-- result: pg_graphql answers every query with an error; pgsodium has no functions.
DO $layer$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'supabase_vault')
     AND obj_description(to_regnamespace('vault'), 'pg_namespace') IS NULL THEN
    COMMENT ON SCHEMA vault IS 'supabase-layer stand-in for supabase_vault: secrets are kept in clear text';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_graphql') AND to_regnamespace('graphql') IS NULL THEN
    CREATE SCHEMA graphql;
    COMMENT ON SCHEMA graphql IS 'supabase-layer stand-in for pg_graphql: every query is answered with an error';
    EXECUTE $q$CREATE FUNCTION graphql_public.graphql("operationName" text DEFAULT NULL, query text DEFAULT NULL,
        variables jsonb DEFAULT NULL, extensions jsonb DEFAULT NULL)
      RETURNS jsonb LANGUAGE sql AS $f$
        SELECT jsonb_build_object('errors', jsonb_build_array(jsonb_build_object('message',
          'pg_graphql is not installed on this Postgres: the supabase-layer stand-in answers every query with this error')))
      $f$$q$;
    GRANT EXECUTE ON FUNCTION graphql_public.graphql(text, text, jsonb, jsonb) TO anon, authenticated, service_role;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgsodium') AND to_regnamespace('pgsodium') IS NULL THEN
    CREATE SCHEMA pgsodium;
    COMMENT ON SCHEMA pgsodium IS 'supabase-layer stand-in for pgsodium: no functions, so any use fails';
  END IF;
END
$layer$;

-- Database webhooks: the trigger function the dashboard's webhooks call, posting the row through
-- pg_net (or its stand-in) as Supabase's does.
CREATE SCHEMA IF NOT EXISTS supabase_functions;
GRANT USAGE ON SCHEMA supabase_functions TO postgres, anon, authenticated, service_role;
CREATE TABLE IF NOT EXISTS supabase_functions.hooks (
  id bigserial PRIMARY KEY,
  hook_table_id integer NOT NULL,
  hook_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  request_id bigint
);
DO $layer$
BEGIN
  IF to_regprocedure('supabase_functions.http_request()') IS NULL THEN
    EXECUTE $q$CREATE FUNCTION supabase_functions.http_request() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = supabase_functions AS $f$
DECLARE
  request_id bigint;
  payload jsonb;
  url text := TG_ARGV[0]::text;
  method text := TG_ARGV[1]::text;
  headers jsonb := coalesce(TG_ARGV[2]::jsonb, '{}');
  params jsonb := coalesce(TG_ARGV[3]::jsonb, '{}');
  timeout_ms integer := coalesce(TG_ARGV[4]::integer, 1000);
BEGIN
  payload := jsonb_build_object('old_record', CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
    'record', CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END,
    'type', TG_OP, 'table', TG_TABLE_NAME, 'schema', TG_TABLE_SCHEMA);
  IF method = 'GET' THEN
    request_id := net.http_get(url, params, headers, timeout_ms);
  ELSE
    request_id := net.http_post(url, payload, params, headers, timeout_ms);
  END IF;
  INSERT INTO supabase_functions.hooks (hook_table_id, hook_name, request_id) VALUES (TG_RELID, TG_NAME, request_id);
  RETURN coalesce(NEW, OLD);
END
$f$$q$;
  END IF;
END
$layer$;
GRANT EXECUTE ON FUNCTION supabase_functions.http_request() TO postgres, anon, authenticated, service_role;

-- The history table `supabase db push` and `supabase migration list` use.
CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
  version text PRIMARY KEY,
  statements text[],
  name text
);

-- What the migration role owns on the platform: the database (so `public`, owned by
-- pg_database_owner, is its to create in), `extensions`, the history table, the realtime
-- publication, and default
-- privileges for what it creates. Only where the installer can hand these over.
DO $layer$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
     AND NOT (SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres') THEN
    EXECUTE format('ALTER DATABASE %I OWNER TO postgres', current_database());
    ALTER SCHEMA extensions OWNER TO postgres;
    ALTER SCHEMA supabase_migrations OWNER TO postgres;
    ALTER TABLE supabase_migrations.schema_migrations OWNER TO postgres;
    ALTER PUBLICATION supabase_realtime OWNER TO postgres;
  END IF;
  IF pg_has_role(current_user, 'postgres', 'USAGE') THEN
    ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
  END IF;
END
$layer$;
