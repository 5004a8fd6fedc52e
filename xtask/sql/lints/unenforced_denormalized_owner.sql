-- title: denormalised ownership column with nothing keeping it equal to its source
-- severity: fail
-- A column that copies a column of the parent it references (messages.auth_user_id copies
-- conversations.auth_user_id), as the catalog shows it: same name and type, and either both
-- reference the same table or a policy of the child decides access by it. Enforced by a
-- foreign key that covers both the reference and the copy, or by a trigger on the table that
-- names the column.
SELECT format('column %I.%I.%I', n.nspname, c.relname, a.attname),
       format('copies %s.%I through %s; add a composite foreign key (%s, %I) or a trigger that sets it',
              con.confrelid::regclass, a.attname, con.conname,
              (SELECT string_agg(quote_ident(attname), ', ') FROM pg_attribute WHERE attrelid = con.conrelid AND attnum = ANY (con.conkey)),
              a.attname)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attname = a.attname
WHERE con.contype = 'f' AND n.nspname = ANY($1)
  AND a.atttypid = pa.atttypid
  AND (EXISTS (SELECT 1 FROM pg_constraint cf JOIN pg_constraint pf ON pf.confrelid = cf.confrelid
               WHERE cf.conrelid = con.conrelid AND cf.contype = 'f' AND cf.conkey = ARRAY[a.attnum]
                 AND pf.conrelid = con.confrelid AND pf.contype = 'f' AND pf.conkey = ARRAY[pa.attnum])
       OR EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = con.conrelid
                  AND concat(pg_get_expr(p.polqual, p.polrelid), ' ', pg_get_expr(p.polwithcheck, p.polrelid))
                      ~ ('\m' || a.attname || '\M')))
  AND NOT a.attnum = ANY (con.conkey)
  AND NOT pa.attnum = ANY (con.confkey)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.conrelid = con.conrelid AND f.contype = 'f'
                  AND f.confrelid = con.confrelid AND a.attnum = ANY (f.conkey) AND con.conkey <@ f.conkey)
  AND NOT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc tp ON tp.oid = t.tgfoid
                  WHERE t.tgrelid = con.conrelid AND NOT t.tgisinternal AND tp.prosrc ~ a.attname);
