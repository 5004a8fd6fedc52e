-- title: add_message writes messages.auth_user_id
-- Static: the function's INSERT into messages names the column (the app smoke proves it at run time).
SELECT 'add_message_sets_auth_user_id' AS id,
       bool_or(p.prosrc ~* 'insert\s+into\s+(public\.)?messages\s*\([^)]*auth_user_id') AS ok,
       count(*) AS value,
       'public.add_message must insert auth_user_id, or inserts fail once the column is NOT NULL' AS detail
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND p.proname = 'add_message'
