-- Rollback of 20251116173505: the constraints (the unique constraint takes its index along).
ALTER TABLE public.messages DROP CONSTRAINT IF EXISTS messages_conversation_owner_fkey;
ALTER TABLE public.messages DROP CONSTRAINT IF EXISTS messages_auth_user_id_not_null;
ALTER TABLE public.conversations DROP CONSTRAINT IF EXISTS conversations_id_auth_user_id_key;
