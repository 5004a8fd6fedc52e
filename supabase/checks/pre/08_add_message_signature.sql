-- title: add_message signature
SELECT 'add_message_signature' AS id,
       NULL::boolean AS ok,
       count(*) AS value,
       string_agg(format('public.add_message(%s)%s', pg_get_function_identity_arguments(p.oid),
                         CASE WHEN p.prosecdef THEN ' SECURITY DEFINER' ELSE '' END), E'\n') AS detail
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname = 'add_message'
