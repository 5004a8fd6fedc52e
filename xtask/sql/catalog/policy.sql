-- Row-level security policies.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'policy ' || quote_ident(p.polname) || ' on ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
     jsonb_build_object(
       'command', CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
       'permissive', p.polpermissive,
       'roles', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END AS g FROM unnest(p.polroles) r) s),
       'using', pg_get_expr(p.polqual, p.polrelid),
       'with_check', pg_get_expr(p.polwithcheck, p.polrelid))
   FROM pg_policy p
   JOIN pg_class c ON c.oid = p.polrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
