-- title: SECURITY DEFINER function anon may execute
-- severity: fail
SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       'bypasses RLS and is callable without signing in; REVOKE EXECUTE … FROM PUBLIC, anon'
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef AND n.nspname = ANY($1) AND p.prokind = 'f'
  -- Postgres refuses to call a trigger function directly: no role can execute it as an RPC.
  AND p.prorettype <> 'trigger'::regtype
  AND EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'anon')
  AND has_function_privilege('anon', p.oid, 'EXECUTE');
