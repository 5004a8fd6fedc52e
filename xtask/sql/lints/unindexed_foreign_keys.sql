-- title: foreign key without a covering index
-- severity: warn
SELECT format('constraint %I on %I.%I', con.conname, n.nspname, c.relname), pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f' AND n.nspname = ANY($1)
  AND NOT EXISTS (
    SELECT 1 FROM pg_index x
    WHERE x.indrelid = con.conrelid
      AND (SELECT array_agg(k ORDER BY k) FROM unnest((x.indkey::int2[])[0:cardinality(con.conkey) - 1]) k)
        = (SELECT array_agg(k ORDER BY k) FROM unnest(con.conkey) k));
