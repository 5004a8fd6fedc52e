-- title: every message has auth_user_id
SELECT 'messages_have_auth_user_id' AS id,
       count(*) FILTER (WHERE auth_user_id IS NULL) = 0 AS ok,
       count(*) FILTER (WHERE auth_user_id IS NULL) AS value,
       format('%s messages, %s without auth_user_id', count(*), count(*) FILTER (WHERE auth_user_id IS NULL)) AS detail
FROM public.messages
