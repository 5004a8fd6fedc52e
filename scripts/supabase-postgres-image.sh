#!/usr/bin/env bash
# Builds a local stand-in for Supabase's own database image, `supabase/postgres`, on machines
# that reach Debian's package archive but no container registry (our CI). Real users pull the
# real image (`supabase start` already has); this script exists so the code path the tool takes
# on that image is tested where the image cannot be pulled.
#
# The stand-in honours the image's contract as supabase/postgres documents it in its Dockerfile
# and migrations (Dockerfile-15, migrations/db/migrate.sh, init-scripts/, and
# migrations/10000000000000_demote-postgres.sql; read 2026-12-04), written here in our own words:
#   - the bootstrap superuser is `supabase_admin` (POSTGRES_USER's default), database `postgres`;
#   - the official entrypoint contract (POSTGRES_PASSWORD, POSTGRES_INITDB_ARGS, extra arguments
#     passed to `postgres`), with the configuration in /etc/postgresql: CMD is
#     `postgres -D /etc/postgresql`, and /etc/postgresql/pg_hba.conf asks for a password from
#     other hosts;
#   - its init (migrate.sh in /docker-entrypoint-initdb.d): creates `postgres` as a superuser,
#     runs the init scripts as it (roles anon, authenticated, service_role, authenticator, the
#     auth and storage admins; schemas extensions, auth and storage with their first tables and
#     helpers; the realtime publication; default privileges granting public's new objects to
#     the API roles), then demotes `postgres` to NOSUPERUSER CREATEDB CREATEROLE LOGIN
#     REPLICATION BYPASSRLS with ALL on auth, storage and extensions;
#   - pgTAP, pg_cron and plpgsql_check inside, with pg_stat_statements, plpgsql_check and
#     pg_cron preloaded (cron.database_name = postgres).
# What it does not have: supautils, pg_graphql, pgsodium/vault, pg_net, pgvector and the other
# extensions Debian does not package; the tool's own layer and stand-ins cover those it can.
# The image carries the label dev.supabase-xtask.stand-in so reports can say it is one.
#
# Usage: scripts/supabase-postgres-image.sh [IMAGE]   (default: the tag the tool pins for 15)
# Prints the image name on its last line. Idempotent: an existing image is kept.
# Needs: root, a running Docker engine, debootstrap (installed here if missing).
set -euo pipefail
image=${1:-supabase/postgres:15.8.1.085}

if ! docker info >/dev/null 2>&1; then
  echo "supabase-postgres-image: no Docker engine answers on this machine; nothing built" >&2
  exit 3
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap) >&2
fi
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1 || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1=="deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "supabase-postgres-image: no Debian archive found in the apt sources" >&2; exit 4; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
echo "supabase-postgres-image: building $image from Debian bookworm (a minute or two)..." >&2
debootstrap --variant=minbase \
  --include=postgresql-15,postgresql-15-pgtap,postgresql-15-cron,postgresql-15-plpgsql-check \
  bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 5
}
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*

mkdir -p "$rootfs/docker-entrypoint-initdb.d" "$rootfs/var/lib/postgresql/data" \
  "$rootfs/var/run/postgresql" "$rootfs/etc/postgresql"
rm -rf "$rootfs/etc/postgresql/15"

cat >"$rootfs/etc/postgresql/postgresql.conf" <<'CONF'
# The server's configuration lives here, as in supabase/postgres (CMD: postgres -D /etc/postgresql).
data_directory = '/var/lib/postgresql/data'
hba_file = '/etc/postgresql/pg_hba.conf'
ident_file = '/etc/postgresql/pg_ident.conf'
listen_addresses = '*'
unix_socket_directories = '/var/run/postgresql'
wal_level = logical
shared_preload_libraries = 'pg_stat_statements, plpgsql, plpgsql_check, pg_cron, auto_explain'
cron.database_name = 'postgres'
auto_explain.log_min_duration = 10s
log_destination = 'stderr'
CONF
cat >"$rootfs/etc/postgresql/pg_hba.conf" <<'HBA'
local all all              trust
host  all all 127.0.0.1/32 trust
host  all all ::1/128      trust
host  all all 0.0.0.0/0    scram-sha-256
host  all all ::/0         scram-sha-256
HBA
: >"$rootfs/etc/postgresql/pg_ident.conf"

# The init, run once by the entrypoint: the image's roles, schemas and demotion of `postgres`.
cat >"$rootfs/docker-entrypoint-initdb.d/migrate.sh" <<'MIGRATE'
#!/bin/sh
set -eu
as() { role=$1; shift; psql -v ON_ERROR_STOP=1 --no-psqlrc -q -U "$role" -d postgres "$@"; }
as supabase_admin -c "CREATE ROLE postgres SUPERUSER LOGIN PASSWORD '${POSTGRES_PASSWORD:-}'"
as postgres <<'SQL'
CREATE PUBLICATION supabase_realtime;
ALTER ROLE supabase_admin WITH SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA extensions;
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
GRANT USAGE ON SCHEMA public, extensions TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON FUNCTIONS TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public GRANT ALL ON SEQUENCES TO postgres, anon, authenticated, service_role;
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';

-- auth, as the image creates it before GoTrue's own migrations run: the first tables, and
-- helpers that read the per-claim settings of PostgREST before 9.
CREATE SCHEMA auth AUTHORIZATION supabase_admin;
CREATE TABLE auth.users (
  instance_id uuid, id uuid PRIMARY KEY, aud varchar(255), role varchar(255), email varchar(255),
  encrypted_password varchar(255), confirmed_at timestamptz, invited_at timestamptz,
  confirmation_token varchar(255), confirmation_sent_at timestamptz, recovery_token varchar(255),
  recovery_sent_at timestamptz, email_change_token varchar(255), email_change varchar(255),
  email_change_sent_at timestamptz, last_sign_in_at timestamptz, raw_app_meta_data jsonb,
  raw_user_meta_data jsonb, is_super_admin boolean, created_at timestamptz, updated_at timestamptz
);
CREATE TABLE auth.refresh_tokens (
  instance_id uuid, id bigserial PRIMARY KEY, token varchar(255), user_id varchar(255),
  revoked boolean, created_at timestamptz, updated_at timestamptz
);
CREATE TABLE auth.instances (id uuid PRIMARY KEY, uuid uuid, raw_base_config text, created_at timestamptz, updated_at timestamptz);
CREATE TABLE auth.audit_log_entries (instance_id uuid, id uuid PRIMARY KEY, payload json, created_at timestamptz);
CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('request.jwt.claim.role', true), '')::text $$;
CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('request.jwt.claim.email', true), '')::text $$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
CREATE ROLE supabase_auth_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
GRANT ALL ON SCHEMA auth TO supabase_auth_admin;
GRANT ALL ON ALL TABLES IN SCHEMA auth TO supabase_auth_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA auth TO supabase_auth_admin;
ALTER ROLE supabase_auth_admin SET search_path = auth;
ALTER TABLE auth.users OWNER TO supabase_auth_admin;
ALTER TABLE auth.refresh_tokens OWNER TO supabase_auth_admin;
ALTER TABLE auth.instances OWNER TO supabase_auth_admin;
ALTER TABLE auth.audit_log_entries OWNER TO supabase_auth_admin;
ALTER TABLE auth.schema_migrations OWNER TO supabase_auth_admin;

-- storage, as the image creates it before storage-api's own migrations run.
CREATE SCHEMA storage AUTHORIZATION supabase_admin;
GRANT USAGE ON SCHEMA storage TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON FUNCTIONS TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA storage GRANT ALL ON SEQUENCES TO postgres, anon, authenticated, service_role;
CREATE TABLE storage.buckets (
  id text PRIMARY KEY, name text NOT NULL, owner uuid REFERENCES auth.users (id),
  created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX bname ON storage.buckets (name);
CREATE TABLE storage.objects (
  id uuid NOT NULL DEFAULT extensions.uuid_generate_v4() PRIMARY KEY,
  bucket_id text REFERENCES storage.buckets (id), name text, owner uuid REFERENCES auth.users (id),
  created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now(),
  last_accessed_at timestamptz DEFAULT now(), metadata jsonb
);
CREATE UNIQUE INDEX bucketid_objname ON storage.objects (bucket_id, name);
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION storage.foldername(name text) RETURNS text[] LANGUAGE sql IMMUTABLE
  AS $$ SELECT (string_to_array(name, '/'))[1:array_length(string_to_array(name, '/'), 1) - 1] $$;
CREATE FUNCTION storage.filename(name text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT (string_to_array(name, '/'))[array_length(string_to_array(name, '/'), 1)] $$;
CREATE FUNCTION storage.extension(name text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT split_part(storage.filename(name), '.', 2) $$;
CREATE TABLE storage.migrations (
  id integer PRIMARY KEY, name varchar(100) UNIQUE NOT NULL, hash varchar(40) NOT NULL,
  executed_at timestamp DEFAULT current_timestamp
);
CREATE ROLE supabase_storage_admin NOINHERIT CREATEROLE LOGIN NOREPLICATION;
GRANT ALL ON SCHEMA storage TO supabase_storage_admin;
GRANT ALL ON ALL TABLES IN SCHEMA storage TO supabase_storage_admin;
GRANT ALL ON ALL SEQUENCES IN SCHEMA storage TO supabase_storage_admin;
ALTER ROLE supabase_storage_admin SET search_path = storage;
ALTER TABLE storage.buckets OWNER TO supabase_storage_admin;
ALTER TABLE storage.objects OWNER TO supabase_storage_admin;
ALTER TABLE storage.migrations OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.foldername(text) OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.filename(text) OWNER TO supabase_storage_admin;
ALTER FUNCTION storage.extension(text) OWNER TO supabase_storage_admin;
SQL
as supabase_admin -c "ALTER ROLE supabase_admin WITH PASSWORD '${POSTGRES_PASSWORD:-}'"
# The migrations run as supabase_admin; the last one demotes postgres.
as supabase_admin <<'SQL'
GRANT ALL ON DATABASE postgres TO postgres;
GRANT ALL ON SCHEMA auth, storage, extensions TO postgres;
GRANT ALL ON ALL TABLES IN SCHEMA auth, storage, extensions TO postgres;
GRANT ALL ON ALL SEQUENCES IN SCHEMA auth, storage, extensions TO postgres;
GRANT ALL ON ALL ROUTINES IN SCHEMA auth, storage, extensions TO postgres;
ALTER ROLE postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS;
SQL
MIGRATE
chmod 755 "$rootfs/docker-entrypoint-initdb.d/migrate.sh"

cat >"$rootfs/usr/local/bin/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# The official postgres image's entrypoint contract, with the configuration in /etc/postgresql.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=supabase_admin}"
: "${POSTGRES_DB:=postgres}"
export PGDATA PGHOST=/var/run/postgresql
if [ "${1:-postgres}" != postgres ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi
[ "${1:-}" = postgres ] && shift
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "Error: set POSTGRES_PASSWORD (the image asks other hosts for a password)" >&2
    exit 1
  fi
  mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  pg_ctl -D "$PGDATA" -o "-c config_file=/etc/postgresql/postgresql.conf -c listen_addresses=''" -w start
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\""
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) . "$f" ;;
      *.sql) psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$f" ;;
      *) ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "PostgreSQL init process complete; ready for start up."
fi
exec postgres "$@"
ENTRY
chmod 755 "$rootfs/usr/local/bin/docker-entrypoint.sh"
chroot "$rootfs" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
  /docker-entrypoint-initdb.d /etc/postgresql

tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV PGDATA=/var/lib/postgresql/data' \
  -c 'ENV POSTGRES_USER=supabase_admin' \
  -c 'ENV POSTGRES_DB=postgres' \
  -c 'ENV POSTGRES_HOST=/var/run/postgresql' \
  -c 'ENV LANG=C.UTF-8' \
  -c 'LABEL dev.supabase-xtask.stand-in=supabase/postgres' \
  -c 'USER postgres' \
  -c 'WORKDIR /var/lib/postgresql' \
  -c 'EXPOSE 5432' \
  -c 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
  -c 'CMD ["postgres", "-D", "/etc/postgresql"]' \
  - "$image" >/dev/null
echo "$image"
