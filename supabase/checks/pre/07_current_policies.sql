-- title: current RLS policies on public.messages
SELECT 'current_policies' AS id,
       NULL::boolean AS ok,
       count(*) AS value,
       string_agg(format('%s (%s)', policyname, cmd), E'\n' ORDER BY policyname) AS detail
FROM pg_policies
WHERE schemaname = 'public' AND tablename = 'messages'
