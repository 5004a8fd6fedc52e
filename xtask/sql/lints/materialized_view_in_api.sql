-- title: materialized view of a row-level-secured table readable by an API role
-- severity: fail
-- A materialized view has no row-level security: whoever may select it reads every row it
-- copied, whatever the table's policies say. Supabase's advisor reports materialized_view_in_api.
WITH api AS (
  SELECT r.rolname FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated')
)
SELECT format('materialized view %I.%I', n.nspname, m.relname),
       format('copies rows of %s, which has row-level security, and %s may read all of them: REVOKE SELECT ON '
              '%I.%I FROM anon, authenticated (serve it through a security_invoker view or a function that '
              'filters), or move it to a schema the Data API does not expose',
              string_agg(DISTINCT t.oid::regclass::text, ', '),
              (SELECT string_agg(a.rolname, ' and ' ORDER BY a.rolname) FROM api a
                WHERE has_table_privilege(a.rolname, m.oid, 'SELECT')),
              n.nspname, m.relname)
FROM pg_class m
JOIN pg_namespace n ON n.oid = m.relnamespace
JOIN pg_rewrite rw ON rw.ev_class = m.oid
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> m.oid AND t.relkind IN ('r', 'p') AND t.relrowsecurity
WHERE m.relkind = 'm' AND n.nspname = ANY($1)
  AND EXISTS (SELECT 1 FROM api a WHERE has_table_privilege(a.rolname, m.oid, 'SELECT'))
GROUP BY n.nspname, m.relname, m.oid;
