-- Default privileges (ALTER DEFAULT PRIVILEGES): for whose objects, in which schema, what grants.
SELECT 'default privileges for ' || pg_get_userbyid(d.defaclrole) || ' in '
         || coalesce(quote_ident(n.nspname), 'every schema') || ' on '
         || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
                                 WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' END,
     jsonb_build_object('grants', (SELECT string_agg(g, ', ' ORDER BY g COLLATE "C")
       FROM (SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type AS g
             FROM aclexplode(d.defaclacl) a) s))
   FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
   WHERE cardinality($1::text[]) >= 0
