-- The four message policies on the copied owner column, auth.uid() evaluated once per query.
-- Intended access change (checked by `cargo xtask db-rls`): conversations created by newer app
-- versions have auth_user_id but no user_id; the old policies found the owner through user_id, so
-- those owners could not see their own messages. The new policies let them, and nobody else.
-- xtask:rls-widens public.messages owners now reach the messages of their conversations that have no user_id (created by newer app versions)

DROP POLICY "Users can view messages from their conversations" ON public.messages;
DROP POLICY "Users can insert messages to their conversations" ON public.messages;
DROP POLICY "Users can update messages in their conversations" ON public.messages;
DROP POLICY "Users can delete messages from their conversations" ON public.messages;

CREATE POLICY "Users can view own messages"
ON public.messages FOR SELECT TO authenticated
USING (auth_user_id = (select auth.uid()));

CREATE POLICY "Users can insert own messages"
ON public.messages FOR INSERT TO authenticated
WITH CHECK (auth_user_id = (select auth.uid()));

CREATE POLICY "Users can update own messages"
ON public.messages FOR UPDATE TO authenticated
USING (auth_user_id = (select auth.uid()))
WITH CHECK (auth_user_id = (select auth.uid()));

CREATE POLICY "Users can delete own messages"
ON public.messages FOR DELETE TO authenticated
USING (auth_user_id = (select auth.uid()));
