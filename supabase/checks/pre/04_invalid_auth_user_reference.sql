-- title: conversations whose auth_user_id is not a user in auth.users
SELECT 'invalid_auth_user_reference' AS id,
       count(*) = 0 AS ok,
       count(*) AS value,
       'conversations.auth_user_id with no auth.users row' AS detail
FROM public.conversations c
LEFT JOIN auth.users u ON u.id = c.auth_user_id
WHERE c.auth_user_id IS NOT NULL AND u.id IS NULL
