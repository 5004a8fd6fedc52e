-- Rollback of 20251116173501: add_message exactly as the baseline defines it, with its grants.
-- Safe only together with the rollback of 20251116173500 (which drops messages.auth_user_id);
-- the tool runs rollbacks newest first.
CREATE OR REPLACE FUNCTION public.add_message(
  p_conversation_id uuid,
  p_role text,
  p_content text,
  p_image_url text DEFAULT NULL,
  p_metadata jsonb DEFAULT '{}'
) RETURNS uuid AS $$
DECLARE
  v_message_id uuid;
BEGIN
  INSERT INTO messages (
    conversation_id,
    role,
    content,
    image_url,
    metadata
  ) VALUES (
    p_conversation_id,
    p_role,
    p_content,
    p_image_url,
    p_metadata
  )
  RETURNING id INTO v_message_id;

  UPDATE conversations
  SET updated_at = now()
  WHERE id = p_conversation_id;

  RETURN v_message_id;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER;

GRANT EXECUTE ON FUNCTION public.add_message(uuid, text, text, text, jsonb) TO PUBLIC, anon;
