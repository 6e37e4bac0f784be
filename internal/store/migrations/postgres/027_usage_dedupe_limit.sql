-- A usage threshold is told once per organisation, month, allowance,
-- threshold and limit (store.usageDedupe): a limit changed during the
-- month has an 80 % and a 100 % of its own. The events told before keep
-- theirs, with the limit they were told for, so they are not told again.
UPDATE outbox_events SET dedupe_key = dedupe_key || ':' || (payload::jsonb ->> 'limit')
WHERE kind = 'usage.threshold' AND dedupe_key LIKE 'usage:%' AND (payload::jsonb ->> 'limit') IS NOT NULL;
