-- The API request log (see store/reqlog.go). Every request that named a
-- key of an organisation, refused ones included. Kept in the order it is
-- read, by organisation and time (WITHOUT ROWID: the table is that one
-- B-tree), so a write updates the table and the key index only: an entry
-- is found by its request id through the time the id begins with.
-- retention_days comes from the organisation's plan when the request was
-- made; pruning deletes by it (PostgreSQL drops whole days instead).
CREATE TABLE request_log (
	org_id         TEXT NOT NULL,
	at             BIGINT NOT NULL, -- Unix milliseconds
	request_id     TEXT NOT NULL,
	key_id         TEXT NOT NULL,
	key_prefix     TEXT NOT NULL,
	method         TEXT NOT NULL,
	route          TEXT NOT NULL,
	resource_id    TEXT NOT NULL DEFAULT '',
	status         INTEGER NOT NULL,
	code           TEXT NOT NULL DEFAULT '',
	ip             TEXT NOT NULL DEFAULT '',
	user_agent     TEXT NOT NULL DEFAULT '',
	duration_us    BIGINT NOT NULL DEFAULT 0,
	calls          BIGINT NOT NULL DEFAULT 0,
	credits        BIGINT NOT NULL DEFAULT 0,
	flags          INTEGER NOT NULL DEFAULT 0,
	retention_days INTEGER NOT NULL,
	PRIMARY KEY (org_id, at, request_id)
) WITHOUT ROWID;
CREATE INDEX request_log_key ON request_log (key_id, at, status); -- status: a key's chart from the index alone
CREATE INDEX request_log_suspicious ON request_log (org_id, at, request_id) WHERE flags <> 0;

-- The retentions each organisation's entries were recorded with: pruning
-- deletes each organisation's expired entries by its own key range.
CREATE TABLE request_log_classes (
	org_id         TEXT NOT NULL,
	retention_days INTEGER NOT NULL,
	PRIMARY KEY (org_id, retention_days)
);

-- The addresses each key was used from, and when first: the request log
-- flags a key's first request from an address it never used before.
CREATE TABLE log_key_ips (
	key_id   TEXT NOT NULL,
	ip       TEXT NOT NULL,
	first_at BIGINT NOT NULL,
	PRIMARY KEY (key_id, ip)
);

-- Requests a node could not record (its buffer was full while the
-- database was away, or the database refused the entry), per organisation
-- and hour: the Logs page says so.
CREATE TABLE request_log_gaps (
	org_id  TEXT NOT NULL,
	hour    BIGINT NOT NULL, -- Unix milliseconds of the hour's start
	dropped BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (org_id, hour)
);
