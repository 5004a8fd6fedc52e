-- add_message sets auth_user_id and checks ownership itself: it is SECURITY DEFINER, so RLS does
-- not protect the insert. Compared with the runbook's version: the ownership test is NULL-safe
-- (IS DISTINCT FROM; `!=` with a NULL auth.uid() is NULL, and NULL is not a failed check), the
-- search_path is fixed, and anon can no longer call it.
CREATE OR REPLACE FUNCTION public.add_message(
  p_conversation_id uuid,
  p_role text,
  p_content text,
  p_image_url text DEFAULT NULL,
  p_metadata jsonb DEFAULT '{}'
) RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  v_caller uuid := (select auth.uid());
  v_owner uuid;
  v_message_id uuid;
BEGIN
  IF v_caller IS NULL THEN
    RAISE EXCEPTION 'add_message: not signed in' USING ERRCODE = '42501';
  END IF;

  SELECT c.auth_user_id INTO v_owner
  FROM public.conversations c
  WHERE c.id = p_conversation_id;

  IF v_owner IS DISTINCT FROM v_caller THEN
    RAISE EXCEPTION 'add_message: conversation % not found or not yours', p_conversation_id
      USING ERRCODE = '42501';
  END IF;

  INSERT INTO public.messages (conversation_id, role, content, image_url, metadata, auth_user_id)
  VALUES (p_conversation_id, p_role, p_content, p_image_url, p_metadata, v_owner)
  RETURNING id INTO v_message_id;

  UPDATE public.conversations
  SET updated_at = now()
  WHERE id = p_conversation_id;

  RETURN v_message_id;
END
$$;

REVOKE EXECUTE ON FUNCTION public.add_message(uuid, text, text, text, jsonb) FROM PUBLIC, anon;
GRANT EXECUTE ON FUNCTION public.add_message(uuid, text, text, text, jsonb) TO authenticated, service_role;
