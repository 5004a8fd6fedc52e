-- title: policy calls auth.uid()/auth.jwt()/current_setting() per row (wrap it in (select …))
-- severity: warn
-- pg_get_expr prints a wrapped call as `( SELECT auth.uid() AS uid)`: any call not right
-- after SELECT runs once per row.
SELECT format('policy %I on %I.%I', p.policyname, p.schemaname, p.tablename),
       concat_ws(' / ', 'USING ' || p.qual, 'WITH CHECK ' || p.with_check)
FROM pg_policies p
WHERE p.schemaname = ANY($1)
  AND concat_ws(' ', p.qual, p.with_check) ~* '(?<!select )(auth\.(uid|jwt|role|email)\(\)|current_setting\()';
