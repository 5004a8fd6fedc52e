-- title: table in an exposed schema without row-level security
-- severity: fail
SELECT format('table %I.%I', n.nspname, c.relname),
       format('%s can read or write all of it (no RLS)',
              concat_ws(' and ',
                CASE WHEN has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE') THEN 'anon' END,
                CASE WHEN has_table_privilege('authenticated', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
                     THEN 'every signed-in user' END))
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND n.nspname = ANY($1)
  AND (has_table_privilege('anon', c.oid, 'SELECT, INSERT, UPDATE, DELETE')
       OR has_table_privilege('authenticated', c.oid, 'SELECT, INSERT, UPDATE, DELETE'));
