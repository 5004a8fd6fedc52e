-- Rollback of 20251116173506: the column nullable again (the constraints go with 173505's rollback).
ALTER TABLE public.messages ALTER COLUMN auth_user_id DROP NOT NULL;
ALTER TABLE public.messages DROP CONSTRAINT IF EXISTS messages_auth_user_id_not_null;
