-- title: SECURITY DEFINER function an API role may call that returns rows of a row-level-secured table
-- severity: fail
-- A definer function runs as its owner: the rows it returns are read past the table's policies,
-- unless its body filters them by auth.uid() itself. The probes call it as each persona; this
-- names it where they cannot reach (no data, arguments that cannot be generated).
SELECT format('function %I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
       format('runs as its owner and returns rows of %s, which has row-level security, to %s: make it SECURITY '
              'INVOKER, or keep it definer and filter by auth.uid() in its body (then declare it with '
              '`-- xtask:rls-widens %I.%I <why>`), or REVOKE EXECUTE ON FUNCTION it FROM anon, authenticated, '
              'or move it to a schema the API does not expose',
              t.oid::regclass,
              concat_ws(' and ',
                CASE WHEN has_function_privilege('anon', p.oid, 'EXECUTE') THEN 'anon' END,
                CASE WHEN has_function_privilege('authenticated', p.oid, 'EXECUTE') THEN 'authenticated' END),
              n.nspname, p.proname)
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type ty ON ty.oid = p.prorettype
JOIN pg_class t ON t.oid = ty.typrelid AND t.relkind IN ('r', 'p') AND t.relrowsecurity
WHERE p.prosecdef AND n.nspname = ANY($1) AND p.prokind = 'f'
  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon')
  AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated')
  AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'));
