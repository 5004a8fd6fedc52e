-- Constraints (including foreign keys with their actions): the normalised definition.
-- Returns (name text, attrs jsonb) for the objects outside the schemas in $1.
SELECT 'constraint ' || quote_ident(con.conname) || ' on ' || quote_ident(n.nspname) || '.' || quote_ident(c.relname),
     jsonb_build_object('definition', pg_get_constraintdef(con.oid), 'validated', con.convalidated,
                        'deferrable', con.condeferrable, 'deferred', con.condeferred,
                        'comment', obj_description(con.oid, 'pg_constraint'))
   FROM pg_constraint con
   JOIN pg_class c ON c.oid = con.conrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname <> ALL($1) AND n.nspname NOT LIKE 'pg\_%'
