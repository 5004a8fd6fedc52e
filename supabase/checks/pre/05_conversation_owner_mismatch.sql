-- title: conversations whose auth_user_id differs from the owner their user_id points to
-- The old message policies find the owner through user_id -> users.auth_user_id, the new ones
-- through the copied auth_user_id: where the two disagree, the migration changes who owns the
-- messages (one user loses them, another gains them).
SELECT 'conversation_owner_mismatch' AS id,
       count(*) = 0 AS ok,
       count(*) AS value,
       coalesce('first: ' || string_agg(c.id::text, ', ' ORDER BY c.id) FILTER (WHERE c.rn <= 5), '') AS detail
FROM (
  SELECT c.id, row_number() OVER (ORDER BY c.id) AS rn
  FROM public.conversations c
  JOIN public.users u ON u.id = c.user_id
  WHERE c.auth_user_id IS DISTINCT FROM u.auth_user_id
) c
