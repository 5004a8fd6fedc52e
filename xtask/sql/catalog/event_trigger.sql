-- Event triggers: the event, the function, whether enabled, the command tags.
SELECT 'event trigger ' || quote_ident(t.evtname),
     jsonb_build_object('event', t.evtevent, 'function', t.evtfoid::regproc::text, 'enabled', t.evtenabled,
                        'tags', array_to_string(t.evttags, ', '))
   FROM pg_event_trigger t WHERE cardinality($1::text[]) >= 0
