-- title: messages without a conversation_id
SELECT 'null_conversation_id' AS id,
       count(*) = 0 AS ok,
       count(*) AS value,
       'messages with conversation_id IS NULL; the backfill cannot give them an owner' AS detail
FROM public.messages
WHERE conversation_id IS NULL
