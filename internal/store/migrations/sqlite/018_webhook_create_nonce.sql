-- The dashboard's Create Webhook form carries a one-time nonce, as the
-- Create API Key form does (006): sending the form again (Back, then
-- Create, or a resend after a lost answer) cannot add a second endpoint
-- with a second secret.
ALTER TABLE webhooks ADD COLUMN create_nonce TEXT;
CREATE UNIQUE INDEX webhooks_create_nonce ON webhooks (org_id, create_nonce);
