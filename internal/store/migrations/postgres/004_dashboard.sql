-- The dashboard: sign-in sessions, invitations, and throttling of
-- sign-in and sign-up attempts.

-- A session is found by the SHA-256 (hex) of the token in its cookie; the
-- token itself is never stored. A session belongs to one organisation: it
-- ends when the user leaves it (see memberships).
CREATE TABLE sessions (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	org_id       TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	created_at   BIGINT NOT NULL,
	last_seen_at BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	ip           TEXT NOT NULL DEFAULT '',
	user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id, org_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- An invitation to join an organisation, found by the SHA-256 (hex) of the
-- token in its link. It is pending until accepted, cancelled or expired.
CREATE TABLE invitations (
	id               TEXT PRIMARY KEY,
	org_id           TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	email            TEXT NOT NULL,
	role             TEXT NOT NULL,
	token_hash       TEXT NOT NULL UNIQUE,
	created_at       BIGINT NOT NULL,
	created_by       TEXT NOT NULL,
	created_by_label TEXT NOT NULL,
	expires_at       BIGINT NOT NULL,
	accepted_at      BIGINT NOT NULL DEFAULT 0,
	cancelled_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX invitations_org ON invitations (org_id, created_at);

-- Attempts counted per subject (failed sign-ins of an account, "email:…",
-- or from a network, "ip:…"; sign-ups from a network, "signup:…"): how
-- many since the last quiet period, the last one, and until when further
-- attempts are refused.
CREATE TABLE throttle (
	subject       TEXT PRIMARY KEY,
	attempts      BIGINT NOT NULL,
	last_at       BIGINT NOT NULL,
	blocked_until BIGINT NOT NULL DEFAULT 0
);
