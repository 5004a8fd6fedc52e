-- Constraints added NOT VALID: they hold for every new or changed row at once, and checking the
-- existing rows (a scan) happens in the next file under a lock that blocks nobody.
--
-- Lock order matters under traffic: the app's writes to messages lock messages first, then read
-- conversations. Taking ACCESS EXCLUSIVE on conversations first and then waiting for messages
-- queued the app behind both tables and deadlocked with it (40P01, measured by db-rehearse's
-- workload). So messages first; the foreign key needs only the unique index of 20251116173503;
-- the constraint on conversations, a catalog change, comes last.
ALTER TABLE public.messages
  ADD CONSTRAINT messages_auth_user_id_not_null CHECK (auth_user_id IS NOT NULL) NOT VALID;

ALTER TABLE public.messages
  ADD CONSTRAINT messages_conversation_owner_fkey
  FOREIGN KEY (conversation_id, auth_user_id)
  REFERENCES public.conversations (id, auth_user_id)
  ON UPDATE CASCADE ON DELETE CASCADE
  NOT VALID;

ALTER TABLE public.conversations
  ADD CONSTRAINT conversations_id_auth_user_id_key UNIQUE USING INDEX conversations_id_auth_user_id_key;
