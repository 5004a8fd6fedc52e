-- Rollback of 20251116173502: nothing to undo here. The backfilled values live in
-- messages.auth_user_id, a copy of conversations.auth_user_id, which the rollback of
-- 20251116173500 drops; no other data changed.
SELECT 1;
