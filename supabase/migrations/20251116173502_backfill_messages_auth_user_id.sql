-- Backfill messages.auth_user_id from the conversation, in a file of its own. New rows are
-- already filled by the trigger of 20251116173500.
--
-- xtask runs this UPDATE in batches by primary-key range, each its own short transaction, so no
-- message stays row-locked (edits, deletes and cascades from conversations wait on such locks)
-- for longer than one batch. `supabase db push` runs it as written, one statement: the same
-- rows end up filled. The WHERE skips rows already done, so a run interrupted after some batches
-- resumes where it stopped.
-- xtask:backfill batch-size=10000
UPDATE public.messages m
SET auth_user_id = c.auth_user_id
FROM public.conversations c
WHERE c.id = m.conversation_id
  AND m.auth_user_id IS NULL;
