-- title: table in an exposed schema without row-level security, not granted to an API role yet
-- severity: warn
SELECT format('table %I.%I', n.nspname, c.relname),
       'no RLS, and neither anon nor authenticated has a grant on it (hosted Supabase grants nothing on new '
       'tables since 2026-10-30): unreachable through the Data API today, but a later grant opens every row; '
       'enable row level security now'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND n.nspname = ANY($1)
  AND NOT has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
  AND NOT has_table_privilege('authenticated', c.oid, 'SELECT, INSERT, UPDATE, DELETE');
