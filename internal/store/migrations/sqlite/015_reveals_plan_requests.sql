-- The one-time reveal of a new (or rolled) API key, shown after a
-- redirect (POST-redirect-GET) so Back and reload never post again. The
-- key's value is sealed with AES-256-GCM under a key derived from the
-- session's cookie token, which the database never holds (sessions are
-- found by the token's SHA-256): the row alone cannot be opened, and any
-- node that gets the browser's cookie can open it. The first GET that
-- opens it clears sealed; the row is kept a day so a later visit can say
-- which key was created without its value. Rows go with their session.
CREATE TABLE key_reveals (
	id          TEXT PRIMARY KEY,
	session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	org_id      TEXT NOT NULL,
	key_id      TEXT NOT NULL,
	old_key_id  TEXT NOT NULL DEFAULT '',
	sealed      TEXT,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL
);
CREATE INDEX key_reveals_created ON key_reveals (created_at);

-- An Owner's request to change the organisation's plan, when plan changes
-- are approved by the operator (serve --plan-changes=operator). At most
-- one request per organisation is pending; it ends approved (org set-plan
-- to that plan), superseded (set-plan to another plan), refused (org
-- requests --refuse) or cancelled (by the Owner).
CREATE TABLE plan_requests (
	id                 TEXT PRIMARY KEY,
	org_id             TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	from_plan          TEXT NOT NULL,
	plan               TEXT NOT NULL,
	requested_by       TEXT NOT NULL,
	requested_by_label TEXT NOT NULL,
	created_at         BIGINT NOT NULL,
	status             TEXT NOT NULL DEFAULT 'pending',
	closed_at          BIGINT NOT NULL DEFAULT 0,
	closed_by_label    TEXT NOT NULL DEFAULT '',
	note               TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX plan_requests_pending ON plan_requests (org_id) WHERE status = 'pending';
CREATE INDEX plan_requests_status ON plan_requests (status, created_at);
