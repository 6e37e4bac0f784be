-- Idempotency keys of POST /api/v1/qr-codes: a retried create (after a
-- timeout or a 503) returns the code the first attempt made instead of a
-- second one. request_hash is the SHA-256 of the request body, so a key
-- reused for another request is refused.
CREATE TABLE idempotency_keys (
	org_id       TEXT NOT NULL,
	idem_key     TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	qr_id        TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	PRIMARY KEY (org_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
