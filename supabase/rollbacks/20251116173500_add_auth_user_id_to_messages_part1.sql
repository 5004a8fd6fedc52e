-- Rollback of 20251116173500: the trigger, its function and the column. The column is dropped
-- (its values are a copy of conversations.auth_user_id, so nothing is lost); the old add_message,
-- restored by the rollback of 20251116173501, does not write it.
DROP TRIGGER IF EXISTS messages_set_auth_user_id ON public.messages;
DROP FUNCTION IF EXISTS public.messages_set_auth_user_id();
ALTER TABLE public.messages DROP COLUMN IF EXISTS auth_user_id;
