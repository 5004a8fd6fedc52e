-- Denormalise the conversation owner (conversations.auth_user_id) into messages so the message
-- policies need no join. The change is split so that no file holds a lock that stops the app's
-- reads or inserts for more than a moment (`cargo xtask db-rehearse` proves it at 5 M messages):
--   173500 (this file)  add the column and the trigger that fills it for new rows      ms
--   173501              add_message sets it and checks ownership                         ms
--   173502              backfill existing rows (row locks only: reads and inserts go on)  long
--   173503, 173504      CREATE [UNIQUE] INDEX CONCURRENTLY, each in a file of its own     long, no blocking
--   173505              constraints NOT VALID (composite foreign key, NOT NULL check)     ms
--   173506              VALIDATE them (SHARE UPDATE EXCLUSIVE), then SET NOT NULL         scan, no blocking
--   173507              swap the four message policies                                    ms
-- What the runbook's version got wrong, and what these files do instead:
-- * its INSERT/UPDATE policies only compared auth_user_id with auth.uid(), so a user could put a
--   message into someone else's conversation with their own id: here a composite foreign key
--   (conversation_id, auth_user_id) -> conversations (id, auth_user_id) keeps the copy equal to the
--   conversation's owner (ON UPDATE CASCADE when a conversation changes owner);
-- * its policies called auth.uid() once per row: here it is wrapped in (select ...);
-- * its plain foreign key to auth.users locked sign-ups out during the migration: the composite
--   key reaches auth.users through conversations, which already references it;
-- * its single transaction held ACCESS EXCLUSIVE on messages through the whole backfill;
-- * rows inserted by an app that does not set the column yet get it from a trigger.

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
