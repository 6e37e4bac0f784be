-- Nodes that cache keys, and how far into the change log each has
-- applied. A management change waits (briefly) until every listening node
-- has applied it, so it is in force everywhere when the command returns.
-- seen_at is wall-clock Unix milliseconds, refreshed every second.
CREATE TABLE nodes (
	id          TEXT PRIMARY KEY,
	applied_seq BIGINT NOT NULL,
	listening   BOOLEAN NOT NULL,
	seen_at     BIGINT NOT NULL
);
