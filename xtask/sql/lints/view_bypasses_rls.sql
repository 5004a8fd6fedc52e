-- title: view over a row-level-secured table that runs as its owner, readable by an API role
-- severity: fail
-- A view runs with its owner's rights unless it is `security_invoker` (Postgres 15+): whoever may
-- select it reads the table as the owner does, past its policies. Supabase's advisor reports
-- these as security_definer_view (ERROR).
WITH api AS (
  SELECT r.rolname FROM pg_roles r WHERE r.rolname IN ('anon', 'authenticated')
)
SELECT format('view %I.%I', n.nspname, v.relname),
       format('runs as its owner (not security_invoker), so the policies of %s do not apply to %s reading it: '
              'ALTER VIEW %I.%I SET (security_invoker = true), or REVOKE SELECT ON it FROM anon, authenticated',
              string_agg(DISTINCT t.oid::regclass::text, ', '),
              (SELECT string_agg(a.rolname, ' and ' ORDER BY a.rolname) FROM api a
                WHERE has_table_privilege(a.rolname, v.oid, 'SELECT')),
              n.nspname, v.relname)
FROM pg_class v
JOIN pg_namespace n ON n.oid = v.relnamespace
JOIN pg_rewrite rw ON rw.ev_class = v.oid
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass
JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> v.oid AND t.relkind IN ('r', 'p') AND t.relrowsecurity
WHERE v.relkind = 'v' AND n.nspname = ANY($1)
  AND NOT coalesce(v.reloptions && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1'], false)
  AND EXISTS (SELECT 1 FROM api a WHERE has_table_privilege(a.rolname, v.oid, 'SELECT'))
GROUP BY n.nspname, v.relname, v.oid;
