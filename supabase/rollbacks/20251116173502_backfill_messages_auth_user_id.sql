-- Rollback of 20251116173502: the backfilled values back to NULL, as they were before it.
-- What the backfill wrote cannot be told from what the trigger of 20251116173500 wrote since,
-- and both are copies of conversations.auth_user_id that the rollback of 20251116173500 drops:
-- clearing them loses nothing. (Alone, after a push that failed later, this is the state the
-- backfill found; the stepwise proof of db-rollback-test checks it.)
-- Like the backfill, in batches by primary key, each its own short transaction: one UPDATE of
-- every message would keep them all row-locked until it commits (the app's edits wait).
-- xtask:backfill batch-size=10000
UPDATE public.messages SET auth_user_id = NULL WHERE auth_user_id IS NOT NULL;
