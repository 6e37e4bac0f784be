-- A QR code's version: 1 when created, one more on every change. The API's
-- ETag is made of it, and a conditional change (If-Match) or delete names
-- the version it was checked against in its WHERE clause, so the check and
-- the write are one statement: a change that came in between makes it
-- match no row.
ALTER TABLE qr_codes ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
