-- Functions and procedures: signature, body, language, volatility, security, config, owner,
-- EXECUTE grants, comment.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'function ' || quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')',
     jsonb_build_object(
       'returns', pg_get_function_result(p.oid),
       'arguments', pg_get_function_arguments(p.oid),
       'language', l.lanname,
       'volatility', p.provolatile,
       'strict', p.proisstrict,
       'security_definer', p.prosecdef,
       'leakproof', p.proleakproof,
       'parallel', p.proparallel,
       'config', array_to_string(p.proconfig, ', '),
       'owner', pg_get_userbyid(p.proowner),
       'body', p.prosrc,
       'execute_grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END AS g FROM aclexplode(coalesce(p.proacl, acldefault('f'::"char", p.proowner))) a WHERE a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner) s),
       'comment', obj_description(p.oid, 'pg_proc'))
   FROM pg_proc p
   JOIN pg_namespace n ON n.oid = p.pronamespace
   JOIN pg_language l ON l.oid = p.prolang
   WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
