-- The API request log (see store/reqlog.go). Every request that named a
-- key of an organisation, refused ones included. Partitioned by retention
-- (days, from the organisation's plan when the request was made) and then
-- by day, so pruning drops whole days instead of deleting rows. The
-- partitions are created as they are needed (request_log_r30,
-- request_log_r30_d20261115, …); the indexes below are made on each. An
-- entry is found by its request id through the time the id begins with
-- (the organisation's index, one day's partition): ids are not indexed.
CREATE TABLE request_log (
	at             BIGINT NOT NULL, -- Unix milliseconds
	request_id     TEXT NOT NULL,
	org_id         TEXT NOT NULL,
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
	retention_days INTEGER NOT NULL
) PARTITION BY LIST (retention_days);
-- The status rides along in both, so a chart is read from the index alone.
CREATE INDEX request_log_org ON request_log (org_id, at DESC, request_id DESC) INCLUDE (status);
CREATE INDEX request_log_key ON request_log (key_id, at DESC, request_id DESC) INCLUDE (status);
CREATE INDEX request_log_suspicious ON request_log (org_id, at DESC, request_id DESC) WHERE flags <> 0;

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
