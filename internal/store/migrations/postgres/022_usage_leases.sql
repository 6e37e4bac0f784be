-- The leases nodes took (see store.Lease), by the id the node gave each:
-- a node whose lease failed cannot know whether the database committed it
-- before the connection was lost, so it settles the lease later by its id
-- (store.SettleLease): a lease found here is deleted and its units go back
-- to the allowance, so a lost answer strands nothing. Kept for
-- UsageBatchRetention, far longer than a node takes to settle.
CREATE TABLE usage_leases (
	id        TEXT PRIMARY KEY,
	org_id    TEXT NOT NULL,
	period    TEXT NOT NULL,
	counter   TEXT NOT NULL,
	granted   BIGINT NOT NULL,
	leased_at BIGINT NOT NULL -- Unix milliseconds
);
CREATE INDEX usage_leases_leased_at ON usage_leases (leased_at);
