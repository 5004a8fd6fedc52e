-- Tables, views, sequences: kind, RLS, grants, view definition, comment.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'table ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
     jsonb_build_object(
       'kind', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view'
                              WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence'
                              WHEN 'f' THEN 'foreign table' END,
       'owner', pg_get_userbyid(c.relowner),
       'rls_enabled', c.relrowsecurity,
       'rls_forced', c.relforcerowsecurity,
       'grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type AS g FROM aclexplode(coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) a WHERE a.grantee <> c.relowner) s),
       'definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       'comment', obj_description(c.oid, 'pg_class'))
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
