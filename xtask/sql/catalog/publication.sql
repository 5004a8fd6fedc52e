-- Publications (Realtime streams supabase_realtime's tables): owner, the tables they publish.
-- $1 (excluded schemas) is unused: publications belong to no schema.
SELECT 'publication ' || quote_ident(p.pubname),
     jsonb_build_object(
       'owner', pg_get_userbyid(p.pubowner),
       'all_tables', p.puballtables,
       'tables', (SELECT string_agg(quote_ident(t.schemaname) || '.' || quote_ident(t.tablename), ', '
                                    ORDER BY t.schemaname, t.tablename)
                  FROM pg_publication_tables t WHERE t.pubname = p.pubname))
   FROM pg_publication p WHERE cardinality($1::text[]) >= 0
