-- title: five most recent messages (ids and timestamps only, never contents)
SELECT 'sample_messages' AS id,
       NULL::boolean AS ok,
       count(*) AS value,
       string_agg(format('%s in conversation %s at %s', s.id, s.conversation_id, s.created_at), E'\n' ORDER BY s.created_at DESC) AS detail
FROM (SELECT id, conversation_id, created_at FROM public.messages ORDER BY created_at DESC LIMIT 5) s
