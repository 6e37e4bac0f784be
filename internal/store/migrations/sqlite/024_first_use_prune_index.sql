-- Pruning the request log's first uses (log_key_ips) of addresses not
-- seen within the plan's retention (store.DB.PruneKeyIPs) finds them by
-- their time, not by reading the whole table. A row is added only for a
-- key's new address, so the index costs the request path nothing.
CREATE INDEX log_key_ips_first_at ON log_key_ips (first_at);
