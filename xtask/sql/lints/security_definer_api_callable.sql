-- title: SECURITY DEFINER functions anon or authenticated may execute (reported, not judged)
-- severity: info
SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       concat_ws(', ',
         CASE WHEN has_function_privilege('anon', p.oid, 'EXECUTE') THEN 'anon' END,
         CASE WHEN has_function_privilege('authenticated', p.oid, 'EXECUTE') THEN 'authenticated' END)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prosecdef AND n.nspname = ANY($1) AND p.prokind = 'f'
  -- Postgres refuses to call a trigger function directly: no role can execute it as an RPC.
  AND p.prorettype <> 'trigger'::regtype
  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon')
  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')
  AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'));
