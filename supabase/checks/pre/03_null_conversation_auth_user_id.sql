-- title: conversations without auth_user_id (their messages would get no owner)
SELECT 'null_conversation_auth_user_id' AS id,
       count(*) = 0 AS ok,
       count(*) AS value,
       format('%s of them hold messages', count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM public.messages m WHERE m.conversation_id = c.id))) AS detail
FROM public.conversations c
WHERE c.auth_user_id IS NULL
