-- Webhooks (Max plan): an organisation's endpoints, and the log of every
-- attempt to deliver an event to one. Deliveries themselves are outbox
-- rows (outbox_deliveries) whose sink is 'webhook:' || the endpoint's id,
-- claimed, retried and finished like the notifier's.

-- An endpoint. secret is the HMAC-SHA256 signing key, stored as it is
-- (a signature needs the key itself, unlike a password or an API key);
-- it is shown once, at creation and at each rotation. events is the
-- comma-separated list of event kinds it wants. disabled_at > 0: off
-- (disabled_reason says why), until an Owner or Admin enables it again.
CREATE TABLE webhooks (
	id              TEXT PRIMARY KEY,
	org_id          TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	url             TEXT NOT NULL,
	events          TEXT NOT NULL,
	secret          TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	created_by      TEXT NOT NULL DEFAULT '',
	secret_at       BIGINT NOT NULL,
	disabled_at     BIGINT NOT NULL DEFAULT 0,
	disabled_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhooks_org ON webhooks (org_id, created_at);

-- One attempt to deliver an event to an endpoint: when, which attempt,
-- the HTTP status (0: no answer), how long it took, the first 200 bytes
-- of the answer, or why there was none.
CREATE TABLE webhook_attempts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id  TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	event_id    BIGINT NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
	event_kind  TEXT NOT NULL,
	attempt     INTEGER NOT NULL,
	at          BIGINT NOT NULL,
	status      INTEGER NOT NULL,
	duration_ms BIGINT NOT NULL,
	response    TEXT NOT NULL,
	error       TEXT NOT NULL
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, id);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id);

-- When the current run of attempts of a delivery began (its event's time,
-- or when it was sent again): a webhook's retries stop 3 days after it.
ALTER TABLE outbox_deliveries ADD COLUMN started_at BIGINT NOT NULL DEFAULT 0;
