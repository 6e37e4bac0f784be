-- The dashboard's Create API Key form carries a one-time nonce, stored with
-- the key it created, so re-sending the form (a page refresh) cannot create
-- a second key.
ALTER TABLE api_keys ADD COLUMN create_nonce TEXT;
CREATE UNIQUE INDEX api_keys_create_nonce ON api_keys (org_id, create_nonce);
