-- Triggers (not the internal ones behind foreign keys).
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'trigger ' || quote_ident(t.tgname) || ' on ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
     jsonb_build_object('definition', pg_get_triggerdef(t.oid), 'enabled', t.tgenabled,
                        'comment', obj_description(t.oid, 'pg_trigger'))
   FROM pg_trigger t
   JOIN pg_class c ON c.oid = t.tgrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE NOT t.tgisinternal AND n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
