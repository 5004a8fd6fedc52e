-- Rollback of 20251116173503 (already gone if 173505's rollback dropped the constraint).
DROP INDEX CONCURRENTLY IF EXISTS public.conversations_id_auth_user_id_key;
