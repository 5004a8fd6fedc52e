-- Roles (cluster-wide, but created and altered by migrations): attributes and memberships.
SELECT 'role ' || quote_ident(r.rolname),
     jsonb_build_object(
       'attributes', concat_ws(' ', CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN r.rolcanlogin THEN 'LOGIN' END,
                               CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
                               CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END, CASE WHEN r.rolreplication THEN 'REPLICATION' END,
                               CASE WHEN NOT r.rolinherit THEN 'NOINHERIT' END),
       'member_of', (SELECT string_agg(pg_get_userbyid(m.roleid), ', ' ORDER BY pg_get_userbyid(m.roleid) COLLATE "C")
                     FROM pg_auth_members m WHERE m.member = r.oid),
       'settings', (SELECT array_to_string(s.setconfig, ', ') FROM pg_db_role_setting s
                    WHERE s.setrole = r.oid AND s.setdatabase = 0))
   FROM pg_roles r WHERE r.rolname NOT LIKE 'pg\_%' AND cardinality($1::text[]) >= 0
