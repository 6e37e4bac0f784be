-- The first response of an idempotent create, replayed as it was sent
-- (not the code's current state) for as long as the key is kept.
ALTER TABLE idempotency_keys ADD COLUMN response TEXT NOT NULL DEFAULT '';
