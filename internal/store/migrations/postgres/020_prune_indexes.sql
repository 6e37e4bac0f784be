-- Statements that delete what is old find it by its time through these
-- indexes instead of reading the whole table: the throttle's expired
-- rows (deleted with every counted attempt, so a flood of sign-in
-- attempts from many networks does not make each attempt read them all),
-- the key page's addresses, read notices and leak report digests (pruned
-- in batches by every node's maintenance).
CREATE INDEX throttle_last_at ON throttle (last_at);
CREATE INDEX key_ips_last_seen ON key_ips (last_seen);
CREATE INDEX notices_read_created ON notices (created_at) WHERE read_at > 0;
CREATE INDEX leak_reports_received ON leak_reports (received_at);
