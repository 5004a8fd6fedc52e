-- Schemas.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'schema ' || quote_ident(n.nspname),
     jsonb_build_object('owner', pg_get_userbyid(n.nspowner),
       'grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type AS g FROM aclexplode(coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))) a WHERE a.grantee <> n.nspowner) s),
       'comment', obj_description(n.oid, 'pg_namespace'))
   FROM pg_namespace n
   WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
