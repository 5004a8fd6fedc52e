-- Rollback of 20251116173507: the four message policies exactly as the baseline has them.
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
