-- title: table in an exposed schema without row-level security
-- severity: fail
SELECT format('table %I.%I', n.nspname, c.relname), 'every API role can read and write all of it'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity AND n.nspname = ANY($1);
