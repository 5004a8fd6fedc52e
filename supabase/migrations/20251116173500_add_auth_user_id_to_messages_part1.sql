-- Denormalise the conversation owner (conversations.auth_user_id) into messages so the message
-- policies need no join. What the runbook's version got wrong, and what this file does instead:
-- * its INSERT/UPDATE policies only compared auth_user_id with auth.uid(), so a user could put a
--   message into someone else's conversation with their own id: here a composite foreign key
--   (conversation_id, auth_user_id) -> conversations (id, auth_user_id) makes the copy always equal
--   the conversation's owner (ON UPDATE CASCADE keeps it equal when a conversation changes owner);
-- * its policies called auth.uid() once per row: here it is wrapped in (select ...);
-- * its plain foreign key to auth.users locked sign-ups out for the whole migration: the composite
--   key reaches auth.users through conversations, which already references it;
-- * rows inserted by an app that does not set the column yet get it from a trigger.

-- Intended access change (checked by `cargo xtask db-rls`): conversations created by newer app
-- versions have auth_user_id but no user_id; the old policies found the owner through user_id, so
-- those owners could not see their own messages. The new policies let them, and nobody else.
-- xtask:rls-widens public.messages owners now reach the messages of their conversations that have no user_id (created by newer app versions)

-- Refuse to run on data the copy would get wrong (see checks/pre/).
DO $$
DECLARE
  v_missing bigint;
BEGIN
  SELECT count(*) INTO v_missing
  FROM public.messages m
  LEFT JOIN public.conversations c ON c.id = m.conversation_id
  WHERE c.auth_user_id IS NULL;
  IF v_missing > 0 THEN
    RAISE EXCEPTION '% message(s) belong to a conversation without auth_user_id (or to none); fix the data first', v_missing
      USING HINT = 'cargo xtask db-validate lists them (pre checks null_conversation_auth_user_id, orphaned_messages)';
  END IF;
END
$$;

ALTER TABLE public.messages ADD COLUMN IF NOT EXISTS auth_user_id uuid;

COMMENT ON COLUMN public.messages.auth_user_id IS
  'Copy of conversations.auth_user_id for RLS without a join; kept equal by messages_conversation_owner_fkey and trigger messages_set_auth_user_id.';

-- Fill the column from the conversation on every insert and on a move to another conversation,
-- whatever the client sent: the owner of a message is the owner of its conversation.
CREATE FUNCTION public.messages_set_auth_user_id()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = ''
AS $$
BEGIN
  SELECT c.auth_user_id INTO NEW.auth_user_id
  FROM public.conversations c
  WHERE c.id = NEW.conversation_id;
  RETURN NEW;
END
$$;
REVOKE EXECUTE ON FUNCTION public.messages_set_auth_user_id() FROM PUBLIC, anon, authenticated;

CREATE TRIGGER messages_set_auth_user_id
  BEFORE INSERT OR UPDATE OF conversation_id ON public.messages
  FOR EACH ROW EXECUTE FUNCTION public.messages_set_auth_user_id();

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

ALTER TABLE public.messages ALTER COLUMN auth_user_id SET NOT NULL;

ALTER TABLE public.conversations
  ADD CONSTRAINT conversations_id_auth_user_id_key UNIQUE (id, auth_user_id);

ALTER TABLE public.messages
  ADD CONSTRAINT messages_conversation_owner_fkey
  FOREIGN KEY (conversation_id, auth_user_id)
  REFERENCES public.conversations (id, auth_user_id)
  ON UPDATE CASCADE ON DELETE CASCADE;

-- Serves the policies (auth_user_id = uid), the app's per-conversation reads and the foreign key.
CREATE INDEX idx_messages_auth_user_id
  ON public.messages (auth_user_id, conversation_id, created_at);

DROP POLICY "Users can view messages from their conversations" ON public.messages;
DROP POLICY "Users can insert messages to their conversations" ON public.messages;
DROP POLICY "Users can update messages in their conversations" ON public.messages;
DROP POLICY "Users can delete messages from their conversations" ON public.messages;

CREATE POLICY "Users can view own messages"
ON public.messages FOR SELECT TO authenticated
USING (auth_user_id = (select auth.uid()));

CREATE POLICY "Users can insert own messages"
ON public.messages FOR INSERT TO authenticated
WITH CHECK (auth_user_id = (select auth.uid()));

CREATE POLICY "Users can update own messages"
ON public.messages FOR UPDATE TO authenticated
USING (auth_user_id = (select auth.uid()))
WITH CHECK (auth_user_id = (select auth.uid()));

CREATE POLICY "Users can delete own messages"
ON public.messages FOR DELETE TO authenticated
USING (auth_user_id = (select auth.uid()));
