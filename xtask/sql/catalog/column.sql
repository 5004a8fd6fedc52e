-- Columns: type, nullability, default, identity, generated, column grants, comment.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'column ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' || quote_ident(a.attname),
     jsonb_build_object(
       -- The rank among live columns, not attnum: a dropped column leaves a gap a restore does not.
       'position', (SELECT count(*) FROM pg_attribute l WHERE l.attrelid = a.attrelid AND l.attnum > 0 AND NOT l.attisdropped AND l.attnum <= a.attnum),
       'type', format_type(a.atttypid, a.atttypmod),
       'not_null', a.attnotnull,
       'default', pg_get_expr(d.adbin, d.adrelid),
       'identity', a.attidentity,
       'generated', a.attgenerated,
       'collation', CASE WHEN a.attcollation <> t.typcollation THEN a.attcollation::regcollation::text END,
       'grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C") FROM (SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END || ':' || x.privilege_type AS g FROM aclexplode(a.attacl) x) s),
       'comment', col_description(c.oid, a.attnum))
   FROM pg_attribute a
   JOIN pg_class c ON c.oid = a.attrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace
   JOIN pg_type t ON t.oid = a.atttypid
   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
     AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
     AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e')
