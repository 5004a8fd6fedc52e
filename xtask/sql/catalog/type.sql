-- Enums and domains.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'type ' || quote_ident(n.nspname) || '.' || quote_ident(t.typname),
     jsonb_build_object(
       'kind', CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' END,
       'labels', (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
       'base', CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       'owner', pg_get_userbyid(t.typowner),
       'comment', obj_description(t.oid, 'pg_type'))
   FROM pg_type t
   JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE t.typtype IN ('e', 'd') AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
