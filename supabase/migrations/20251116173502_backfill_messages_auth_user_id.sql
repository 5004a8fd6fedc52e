-- Backfill messages.auth_user_id from the conversation, in a file of its own: the UPDATE takes
-- ROW EXCLUSIVE on messages (reads and inserts go on; only updates of the same rows wait), and
-- nothing in this transaction holds a stronger lock. New rows are already filled by the trigger.
DO $$
DECLARE
  v_rows bigint;
BEGIN
  UPDATE public.messages m
  SET auth_user_id = c.auth_user_id
  FROM public.conversations c
  WHERE c.id = m.conversation_id
    AND m.auth_user_id IS NULL;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RAISE NOTICE 'backfill: % message(s) got auth_user_id', v_rows;
END
$$;
