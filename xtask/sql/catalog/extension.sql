-- Extensions: version and schema.
SELECT 'extension ' || quote_ident(e.extname),
     jsonb_build_object('version', e.extversion, 'schema', e.extnamespace::regnamespace::text)
   FROM pg_extension e WHERE cardinality($1::text[]) >= 0
