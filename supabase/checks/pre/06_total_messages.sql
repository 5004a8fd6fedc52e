-- title: messages to backfill, with an estimated backfill time
-- 65,000 rows/s is the backfill throughput `cargo xtask db-rehearse` measured for our migration
-- on PostgreSQL 15 (5 M messages, 2 cores; BENCHMARKS.md): the runbook's 1,000 rows/s guess
-- overstated the time 65-fold. db-validate's `estimate.backfill` uses your own rehearsal.
SELECT 'total_messages' AS id,
       NULL::boolean AS ok,
       count(*) AS value,
       format('estimated backfill %s s at 65,000 rows/s (measured by db-rehearse)', round(count(*) / 65000.0, 1)) AS detail
FROM public.messages
