-- The hex SHA-256 of a QR code's logo ('' when it has none), so an image
-- request keys its cache and ETag without reading the logo: the logo is
-- read only when the image has to be drawn. Rows stored before this
-- column have '' with a logo; the store computes their hash when it reads
-- them, until the code is next saved.
ALTER TABLE qr_codes ADD COLUMN logo_sha256 TEXT NOT NULL DEFAULT '';
