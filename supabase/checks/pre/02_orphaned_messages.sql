-- title: messages whose conversation does not exist
SELECT 'orphaned_messages' AS id,
       count(*) = 0 AS ok,
       count(*) AS value,
       'messages pointing at a missing conversation' AS detail
FROM public.messages m
LEFT JOIN public.conversations c ON c.id = m.conversation_id
WHERE c.id IS NULL
