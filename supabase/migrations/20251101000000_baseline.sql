-- The chat app as it runs in production before the auth_user_id change:
-- users -> conversations -> messages, RLS on all three.

CREATE TABLE public.users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  auth_user_id uuid NOT NULL UNIQUE REFERENCES auth.users (id) ON DELETE CASCADE,
  email text,
  full_name text,
  tier text NOT NULL DEFAULT 'free' CHECK (tier IN ('free', 'pro', 'enterprise')),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Older app versions fill user_id, newer ones only auth_user_id: both are nullable in production
-- and nothing forces them to agree.
CREATE TABLE public.conversations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id uuid REFERENCES public.users (id) ON DELETE CASCADE,
  auth_user_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
  title text NOT NULL,
  is_game_hub boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_conversations_user_id ON public.conversations (user_id);
CREATE INDEX idx_conversations_auth_user_id ON public.conversations (auth_user_id);

CREATE TABLE public.messages (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  conversation_id uuid NOT NULL REFERENCES public.conversations (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  content text NOT NULL,
  image_url text,
  metadata jsonb DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_messages_conversation_created ON public.messages (conversation_id, created_at);

ALTER TABLE public.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.messages ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can view own profile" ON public.users
  FOR SELECT USING (auth_user_id = (select auth.uid()));
CREATE POLICY "Users can insert own profile" ON public.users
  FOR INSERT WITH CHECK (auth_user_id = (select auth.uid()));
CREATE POLICY "Users can update own profile" ON public.users
  FOR UPDATE USING (auth_user_id = (select auth.uid())) WITH CHECK (auth_user_id = (select auth.uid()));

CREATE POLICY "Users can view own conversations" ON public.conversations
  FOR SELECT USING (auth_user_id = (select auth.uid()));
CREATE POLICY "Users can insert own conversations" ON public.conversations
  FOR INSERT WITH CHECK (auth_user_id = (select auth.uid()));
CREATE POLICY "Users can update own conversations" ON public.conversations
  FOR UPDATE USING (auth_user_id = (select auth.uid()));
CREATE POLICY "Users can delete own conversations" ON public.conversations
  FOR DELETE USING (auth_user_id = (select auth.uid()));

-- The message policies join conversations -> users, exactly as production has them.
CREATE POLICY "Users can view messages from their conversations"
ON public.messages FOR SELECT
USING (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

CREATE POLICY "Users can insert messages to their conversations"
ON public.messages FOR INSERT
WITH CHECK (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

CREATE POLICY "Users can update messages in their conversations"
ON public.messages FOR UPDATE
USING (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

CREATE POLICY "Users can delete messages from their conversations"
ON public.messages FOR DELETE
USING (conversation_id IN (
  SELECT c.id FROM conversations c
  JOIN users u ON c.user_id = u.id
  WHERE u.auth_user_id = auth.uid()
));

-- add_message as production has it: SECURITY DEFINER, no auth_user_id.
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

-- The conversation's messages in order; runs as the caller, so RLS applies.
CREATE OR REPLACE FUNCTION public.get_conversation_messages(p_conversation_id uuid)
RETURNS SETOF public.messages
LANGUAGE sql STABLE
SET search_path = ''
AS $$
  SELECT * FROM public.messages
  WHERE conversation_id = p_conversation_id
  ORDER BY created_at, id
$$;
