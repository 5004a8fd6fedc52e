-- title: several permissive policies for the same role and command (each is evaluated)
-- severity: warn
SELECT format('%s on %I.%I for %s', r.role, n.nspname, c.relname, cmd.cmd),
       string_agg(p.polname, ', ' ORDER BY p.polname)
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL (SELECT CASE WHEN x = 0 THEN 'public' ELSE pg_get_userbyid(x) END AS role FROM unnest(p.polroles) x) r
CROSS JOIN LATERAL (SELECT unnest(CASE p.polcmd WHEN '*' THEN ARRAY['SELECT','INSERT','UPDATE','DELETE']
    WHEN 'r' THEN ARRAY['SELECT'] WHEN 'a' THEN ARRAY['INSERT'] WHEN 'w' THEN ARRAY['UPDATE'] ELSE ARRAY['DELETE'] END) AS cmd) cmd
WHERE p.polpermissive AND n.nspname = ANY($1)
GROUP BY r.role, n.nspname, c.relname, cmd.cmd HAVING count(*) > 1;
