-- title: an index leads with messages.auth_user_id
SELECT 'auth_user_id_index' AS id,
       count(*) > 0 AS ok,
       string_agg(i.relname, ', ') AS value,
       'the new policies filter on auth_user_id; without this index they scan all messages' AS detail
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
WHERE x.indrelid = 'public.messages'::regclass AND a.attname = 'auth_user_id' AND x.indisvalid
