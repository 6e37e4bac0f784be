-- Filtered QR-code lists stay flat as an organisation grows. The list is
-- newest first within one organisation (qr_codes_org), and filtered by
-- creator (qr_codes_org_creator, from 003); a filter by type, alone or
-- with a creator, read every row of the organisation to find the few of a
-- rare type. These serve them straight from the index, in page order.
CREATE INDEX qr_codes_org_type ON qr_codes (org_id, type, created_at, id);
CREATE INDEX qr_codes_org_creator_type ON qr_codes (org_id, created_by_id, type, created_at, id);
