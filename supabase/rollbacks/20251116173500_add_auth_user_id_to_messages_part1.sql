-- Rollback of 20251116173500: the message policies, constraints and column exactly as the
-- baseline has them. The column is dropped (its values are a copy of conversations.auth_user_id,
-- so nothing is lost); the old add_message, restored first, does not write it.
DROP POLICY IF EXISTS "Users can view own messages" ON public.messages;
DROP POLICY IF EXISTS "Users can insert own messages" ON public.messages;
DROP POLICY IF EXISTS "Users can update own messages" ON public.messages;
DROP POLICY IF EXISTS "Users can delete own messages" ON public.messages;

CREATE POLICY "Users can view messages from their conversations"
ON public.messages FOR SELECT
USING (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

CREATE POLICY "Users can insert messages to their conversations"
ON public.messages FOR INSERT
WITH CHECK (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

CREATE POLICY "Users can update messages in their conversations"
ON public.messages FOR UPDATE
USING (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

CREATE POLICY "Users can delete messages from their conversations"
ON public.messages FOR DELETE
USING (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

DROP INDEX IF EXISTS public.idx_messages_auth_user_id;
ALTER TABLE public.messages DROP CONSTRAINT IF EXISTS messages_conversation_owner_fkey;
ALTER TABLE public.conversations DROP CONSTRAINT IF EXISTS conversations_id_auth_user_id_key;
DROP TRIGGER IF EXISTS messages_set_auth_user_id ON public.messages;
DROP FUNCTION IF EXISTS public.messages_set_auth_user_id();
ALTER TABLE public.messages DROP COLUMN IF EXISTS auth_user_id;
