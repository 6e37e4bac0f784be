-- The key lifecycle (issue 11). Times are Unix milliseconds, 0 = none.
-- expires_at: the key stops working then (checked against the clock on
-- every request, so no node needs to hear of it).
-- scopes: '' = full access, else the permissions joined by commas.
-- allowed_ips: '' = every address, else addresses and CIDR ranges joined
-- by commas.
-- paused_*: a pause's reason, who paused it (label), when, and when it
-- ends by itself.
-- replaces / replaced_by (and its prefix) / overlap_ends_at: the roll
-- relation; a replaced key works until overlap_ends_at.
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN paused_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN paused_by TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN paused_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN paused_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN replaces TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN replaced_by TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN replaced_by_prefix TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN overlap_ends_at BIGINT NOT NULL DEFAULT 0;
-- Names of live keys are unique per organisation (checked under the
-- organisation's lock, since "live" depends on the clock).
CREATE INDEX api_keys_org_name ON api_keys (org_id, name);

-- One line more about an audit event (a pause's reason, a rename's old
-- name, a roll's overlap), and a key's events for its page.
ALTER TABLE audit_events ADD COLUMN detail TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_events_target ON audit_events (target_id, id);

-- A key's calls and credits per UTC day, for its page's chart.
CREATE TABLE key_usage_days (
	key_id        TEXT NOT NULL,
	day           TEXT NOT NULL,
	api_calls     BIGINT NOT NULL DEFAULT 0,
	image_credits BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, day)
);

-- The addresses a key was used from, with first and last use.
CREATE TABLE key_ips (
	key_id     TEXT NOT NULL,
	ip         TEXT NOT NULL,
	first_seen BIGINT NOT NULL,
	last_seen  BIGINT NOT NULL,
	calls      BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, ip)
);
