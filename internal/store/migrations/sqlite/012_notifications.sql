-- Notifications: the outbox every event goes through, the notices shown
-- in the dashboard, each person's mail preferences, an organisation's
-- answer to a leaked key, and the leak reports already received.

-- An event, written in the same transaction as the change that causes it
-- (or, for usage thresholds and trials, by whichever node sees it first:
-- dedupe_key makes it happen once). payload is the event's data as JSON,
-- in the shape a webhook body's "data" has.
CREATE TABLE outbox_events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT NOT NULL,
	org_id     TEXT NOT NULL,
	dedupe_key TEXT,
	payload    TEXT NOT NULL,
	created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX outbox_events_dedupe ON outbox_events (dedupe_key);
CREATE INDEX outbox_events_created ON outbox_events (created_at);

-- One row per event and consumer ("sink"): the notifier, later webhooks.
-- A node claims due rows (SELECT … FOR UPDATE SKIP LOCKED) by setting
-- locked_by and locked_until; done_at ends them; a failure sets next_at.
CREATE TABLE outbox_deliveries (
	event_id     BIGINT NOT NULL REFERENCES outbox_events (id) ON DELETE CASCADE,
	sink         TEXT NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_at      BIGINT NOT NULL,
	locked_by    TEXT NOT NULL DEFAULT '',
	locked_until BIGINT NOT NULL DEFAULT 0,
	done_at      BIGINT NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (event_id, sink)
);
CREATE INDEX outbox_deliveries_due ON outbox_deliveries (sink, done_at, next_at);

-- A notice shown to one person in one organisation. mail is what became
-- of its mail: pending, sending (since mail_at), sent, off (the person's
-- preference), none (no SMTP configured) or failed.
CREATE TABLE notices (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	event_id   BIGINT NOT NULL,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	kind       TEXT NOT NULL,
	title      TEXT NOT NULL,
	body       TEXT NOT NULL,
	link       TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	read_at    BIGINT NOT NULL DEFAULT 0,
	mail       TEXT NOT NULL,
	mail_at    BIGINT NOT NULL DEFAULT 0,
	UNIQUE (event_id, user_id)
);
CREATE INDEX notices_user ON notices (user_id, org_id, id);

-- The topics a person does not want by mail (a row turns one off).
CREATE TABLE mail_preferences (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	topic   TEXT NOT NULL,
	PRIMARY KEY (user_id, topic)
);

-- What happens to an active key reported as found in public: paused
-- (the default) or revoked.
ALTER TABLE orgs ADD COLUMN leak_action TEXT NOT NULL DEFAULT 'paused';

-- The digest of the token in an invitation's mailed link (a second link,
-- made when the mail is sent, so the token is never stored in clear).
ALTER TABLE invitations ADD COLUMN mail_token_hash TEXT;
CREATE UNIQUE INDEX invitations_mail_token ON invitations (mail_token_hash);

-- Leak reports already processed, by the SHA-256 of their body: the same
-- signed report sent again is a replay and is refused.
CREATE TABLE leak_reports (
	digest      TEXT PRIMARY KEY,
	received_at BIGINT NOT NULL
);
