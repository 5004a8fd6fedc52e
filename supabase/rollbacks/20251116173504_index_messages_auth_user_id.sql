-- Rollback of 20251116173504, without blocking reads or writes of messages.
DROP INDEX CONCURRENTLY IF EXISTS public.idx_messages_auth_user_id;
