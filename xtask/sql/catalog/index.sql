-- Indexes.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'index ' || quote_ident(n.nspname) || '.' || quote_ident(i.relname),
     jsonb_build_object('definition', pg_get_indexdef(x.indexrelid), 'valid', x.indisvalid,
                        'comment', obj_description(i.oid, 'pg_class'))
   FROM pg_index x
   JOIN pg_class i ON i.oid = x.indexrelid
   JOIN pg_namespace n ON n.oid = i.relnamespace
   WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
