-- title: the four new message policies exist and the old ones are gone
WITH expected(name, cmd) AS (
  VALUES ('Users can view own messages', 'SELECT'),
         ('Users can insert own messages', 'INSERT'),
         ('Users can update own messages', 'UPDATE'),
         ('Users can delete own messages', 'DELETE')
), actual AS (
  SELECT policyname AS name, cmd FROM pg_policies WHERE schemaname = 'public' AND tablename = 'messages'
), missing AS (
  SELECT format('missing: %s (%s)', name, cmd) AS line FROM expected EXCEPT SELECT format('missing: %s (%s)', name, cmd) FROM actual
), extra AS (
  SELECT format('still there: %s (%s)', name, cmd) AS line FROM actual EXCEPT SELECT format('still there: %s (%s)', name, cmd) FROM expected
)
SELECT 'new_policies' AS id,
       NOT EXISTS (SELECT 1 FROM missing UNION ALL SELECT 1 FROM extra) AS ok,
       (SELECT count(*) FROM actual) AS value,
       (SELECT string_agg(line, E'\n' ORDER BY line) FROM (SELECT line FROM missing UNION ALL SELECT line FROM extra) l) AS detail
