-- The retentions each organisation's entries were recorded with, as on
-- SQLite (010): pruning removes an organisation's entries older than its
-- current plan's retention when they were stored with a longer one (a
-- downgrade, or a retention shortened by the operator), before their
-- partition is dropped. The writer does not fill it (COPY stays as it
-- was): maintenance reads each day's partition of a longer class once,
-- before any of its entries can be past a current retention
-- (store.DB.PruneShortenedRequestLog), and notes it in
-- request_log_surveyed.
CREATE TABLE request_log_classes (
	org_id         TEXT NOT NULL,
	retention_days INTEGER NOT NULL,
	PRIMARY KEY (org_id, retention_days)
);

-- The daily partitions whose organisations are in request_log_classes.
CREATE TABLE request_log_surveyed (
	retention_days INTEGER NOT NULL,
	day            BIGINT NOT NULL, -- Unix milliseconds of the day's start
	PRIMARY KEY (retention_days, day)
);
