-- title: messages.auth_user_id equals its conversation's auth_user_id
SELECT 'auth_user_id_matches_conversation' AS id,
       count(*) = 0 AS ok,
       count(*) AS value,
       'messages whose auth_user_id differs from their conversation''s' AS detail
FROM public.messages m
JOIN public.conversations c ON c.id = m.conversation_id
WHERE m.auth_user_id IS DISTINCT FROM c.auth_user_id
