-- The usage batches written, by the id the node gave each (see
-- SaveUsage): a node whose write failed cannot know whether the database
-- committed it before the connection was lost, so it writes the batch
-- again with the same id, and a batch found here is not counted twice.
-- Kept for UsageBatchRetention, far longer than a node retries.
CREATE TABLE usage_batches (
	id       TEXT PRIMARY KEY,
	saved_at BIGINT NOT NULL -- Unix milliseconds
);
CREATE INDEX usage_batches_saved_at ON usage_batches (saved_at);
