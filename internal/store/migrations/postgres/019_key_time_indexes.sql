-- Every node looks each minute for keys that expire soon or expired, and
-- for timed pauses that ended (store/outbox.go). By these indexes it
-- reads the few keys in the window instead of every key of every
-- organisation. Keys without an expiry or pause hold 0 and are never in it.
CREATE INDEX api_keys_expires_at ON api_keys (expires_at);
CREATE INDEX api_keys_paused_until ON api_keys (paused_until);
