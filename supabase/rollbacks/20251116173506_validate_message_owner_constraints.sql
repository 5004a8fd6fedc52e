-- Rollback of 20251116173506: back to the state 20251116173505 left, each constraint as it was
-- there: the column nullable, the NOT NULL check again, and the owner foreign key not validated
-- (a validated constraint cannot be made NOT VALID but by adding it again, without a scan).
-- The rollback of 20251116173505 then drops them.
ALTER TABLE public.messages ALTER COLUMN auth_user_id DROP NOT NULL;
ALTER TABLE public.messages
  ADD CONSTRAINT messages_auth_user_id_not_null CHECK (auth_user_id IS NOT NULL) NOT VALID;
ALTER TABLE public.messages DROP CONSTRAINT messages_conversation_owner_fkey;
ALTER TABLE public.messages
  ADD CONSTRAINT messages_conversation_owner_fkey
  FOREIGN KEY (conversation_id, auth_user_id)
  REFERENCES public.conversations (id, auth_user_id)
  ON UPDATE CASCADE ON DELETE CASCADE
  NOT VALID;
