-- title: policy on a table whose row-level security is disabled
-- severity: fail
SELECT format('policy %I on %I.%I', p.polname, n.nspname, c.relname), 'the policy is not enforced'
FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT c.relrowsecurity AND n.nspname = ANY($1);
