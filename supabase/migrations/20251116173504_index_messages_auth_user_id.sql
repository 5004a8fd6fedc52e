-- Serves the new policies (auth_user_id = uid), the app's per-conversation reads and the
-- composite foreign key; built without blocking reads or writes of messages.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_messages_auth_user_id
  ON public.messages (auth_user_id, conversation_id, created_at);
