-- QR codes. content and design are JSON text; the logo is kept apart so
-- lists never read it. created_by_* is a snapshot of who created the code
-- (a dashboard user, or an API key by id, name and prefix), kept even if
-- the key is later revoked, so a compromised key's work can be reviewed.
CREATE TABLE qr_codes (
	id                TEXT PRIMARY KEY,
	org_id            TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
	name              TEXT NOT NULL,
	type              TEXT NOT NULL,
	content           TEXT NOT NULL,
	payload           TEXT NOT NULL,
	design            TEXT NOT NULL,
	logo              BLOB,
	logo_type         TEXT NOT NULL DEFAULT '',
	created_by_type   TEXT NOT NULL,
	created_by_id     TEXT NOT NULL,
	created_by_name   TEXT NOT NULL,
	created_by_prefix TEXT NOT NULL DEFAULT '',
	created_at        BIGINT NOT NULL,
	updated_at        BIGINT NOT NULL
);
CREATE INDEX qr_codes_org ON qr_codes (org_id, created_at, id);
CREATE INDEX qr_codes_org_creator ON qr_codes (org_id, created_by_id, created_at, id);
