-- The unique key the composite foreign key points at, built without blocking writes to
-- conversations (a CONCURRENTLY statement runs outside a transaction: alone in its file).
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS conversations_id_auth_user_id_key
  ON public.conversations (id, auth_user_id);
