-- Times are Unix milliseconds (UTC) in both dialects, so one SQL text
-- compares and sorts them everywhere.
CREATE TABLE orgs (
	id                  TEXT PRIMARY KEY,
	name                TEXT NOT NULL,
	plan                TEXT NOT NULL,
	trial_ends_at       BIGINT NOT NULL DEFAULT 0,
	api_calls_limit     BIGINT,
	image_credits_limit BIGINT,
	created_at          BIGINT NOT NULL
);

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	created_at    BIGINT NOT NULL
);

CREATE TABLE memberships (
	org_id    TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role      TEXT NOT NULL,
	joined_at BIGINT NOT NULL,
	PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- digest is the hex SHA-256 of the full key; the key itself is never stored.
CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,
	digest       TEXT NOT NULL UNIQUE,
	status       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	created_by   TEXT NOT NULL,
	last_used_at BIGINT NOT NULL DEFAULT 0,
	last_used_ip TEXT NOT NULL DEFAULT '',
	last_used_ua TEXT NOT NULL DEFAULT '',
	revoked_at   BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_org ON api_keys (org_id, created_at);

CREATE TABLE audit_events (
	id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	org_id      TEXT NOT NULL,
	action      TEXT NOT NULL,
	actor       TEXT NOT NULL,
	actor_label TEXT NOT NULL,
	target_id   TEXT NOT NULL DEFAULT '',
	target_name TEXT NOT NULL DEFAULT '',
	ip          TEXT NOT NULL DEFAULT '',
	at          BIGINT NOT NULL
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);

-- One row per organisation and month. reserved is what nodes have leased
-- (never above the limit); used is what they have flushed as spent.
CREATE TABLE usage_counters (
	org_id                 TEXT NOT NULL,
	period                 TEXT NOT NULL,
	api_calls_reserved     BIGINT NOT NULL DEFAULT 0,
	api_calls_used         BIGINT NOT NULL DEFAULT 0,
	image_credits_reserved BIGINT NOT NULL DEFAULT 0,
	image_credits_used     BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, period)
);

CREATE TABLE key_usage (
	key_id        TEXT NOT NULL,
	period        TEXT NOT NULL,
	api_calls     BIGINT NOT NULL DEFAULT 0,
	image_credits BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, period)
);

-- The change log behind cache invalidation: every change to a key's status
-- or an organisation's plan or limits adds a row in the same transaction.
CREATE TABLE changes (
	seq    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind   TEXT NOT NULL,
	ref_id TEXT NOT NULL,
	at     BIGINT NOT NULL
);
