package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// qrColumns leaves the logo out (lists never need it), but not its size,
// which both databases read without reading the logo.
const qrColumns = `id, org_id, name, type, content, payload, design, logo_type, logo_sha256, COALESCE(length(logo), 0), created_by_type, created_by_id, created_by_name, created_by_prefix, created_at, updated_at, version`

func scanQR(row interface{ Scan(...any) error }, extra ...any) (*snapglyph.QRCode, error) {
	var q snapglyph.QRCode
	var content, design string
	var created, updated int64
	dest := []any{&q.ID, &q.OrgID, &q.Name, &q.Type, &content, &q.Payload, &design, &q.LogoType, &q.LogoSHA256, &q.LogoBytes,
		&q.CreatedBy.Type, &q.CreatedBy.ID, &q.CreatedBy.Name, &q.CreatedBy.Prefix, &created, &updated, &q.Version}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return nil, err
	}
	q.Content = json.RawMessage(content)
	if err := json.Unmarshal([]byte(design), &q.Design); err != nil {
		return nil, fmt.Errorf("store: qr code %s: design: %w", q.ID, err)
	}
	q.CreatedAt, q.UpdatedAt = fromMS(created), fromMS(updated)
	return &q, nil
}

// Replayed returns the id of the QR code an earlier request with the
// same idempotency key created, or "" if there was none in the window,
// and the first response as it was recorded (nil if none was). Returns
// EUNPROCESSABL (idempotency_key_reused) if the key came with another
// request.
func (d *DB) Replayed(ctx context.Context, orgID string, idem *snapglyph.Idempotency) (id string, response []byte, err error) {
	var hash, resp string
	err = d.queryRow(ctx, `SELECT request_hash, qr_id, response FROM idempotency_keys WHERE org_id = ? AND idem_key = ? AND created_at >= ?`,
		orgID, idem.Key, ms(d.now().Add(-snapglyph.IdempotencyWindow))).Scan(&hash, &id, &resp)
	if snapglyph.ErrorKind(formatError(err)) == snapglyph.ENOTFOUND {
		return "", nil, nil
	} else if err != nil {
		return "", nil, fmt.Errorf("store: idempotency: %w", formatError(err))
	}
	if hash != idem.RequestHash {
		return "", nil, errKeyReused
	}
	if resp != "" {
		response = []byte(resp)
	}
	return id, response, nil
}

var errKeyReused = snapglyph.Codef(snapglyph.EUNPROCESSABL, "idempotency_key_reused",
	"this Idempotency-Key was already used with a different request in the last 24 hours; use a new key for a new request")

// CreateQRCode stores a new QR code; CreatedAt and UpdatedAt are set.
// With idem, the key is recorded in the same transaction; if a concurrent
// request recorded it first, nothing is stored and the id of that
// request's code is returned as replayed. Returns EFORBIDDEN
// (qr_code_limit_reached) when the organisation already holds as many
// QR codes as its plan allows (an ended trial follows Starter's rule),
// however many creates run at once on however many nodes.
func (d *DB) CreateQRCode(ctx context.Context, q *snapglyph.QRCode, idem *snapglyph.Idempotency) (replayed string, err error) {
	design, _ := json.Marshal(q.Design)
	q.LogoSHA256 = snapglyph.LogoSHA256(q.Logo)
	err = d.tx(ctx, func(tx *Tx) error {
		at := fromMS(ms(tx.now)) // as stored: the answer is what a read gives
		q.CreatedAt, q.UpdatedAt, q.Version = at, at, 1
		if idem != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE org_id = ? AND idem_key = ? AND created_at < ?`,
				q.OrgID, idem.Key, ms(tx.now.Add(-snapglyph.IdempotencyWindow))); err != nil {
				return err
			}
			var response string
			if idem.Response != nil {
				response = string(idem.Response(q)) // q is complete: id, timestamps, version
			}
			res, err := tx.Exec(ctx, `INSERT INTO idempotency_keys (org_id, idem_key, request_hash, qr_id, created_at, response) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (org_id, idem_key) DO NOTHING`, q.OrgID, idem.Key, idem.RequestHash, q.ID, ms(tx.now), response)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				var hash string
				if err := tx.QueryRow(ctx, `SELECT request_hash, qr_id FROM idempotency_keys WHERE org_id = ? AND idem_key = ?`,
					q.OrgID, idem.Key).Scan(&hash, &replayed); err != nil {
					return err
				}
				if hash != idem.RequestHash {
					return errKeyReused
				}
				return nil
			}
		}
		if err := tx.checkQRCodeLimit(ctx, q.OrgID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO qr_codes (id, org_id, name, type, content, payload, design, logo, logo_type, logo_sha256,
			created_by_type, created_by_id, created_by_name, created_by_prefix, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			q.ID, q.OrgID, q.Name, q.Type, string(q.Content), q.Payload, string(design), nullBytes(q.Logo), q.LogoType, q.LogoSHA256,
			q.CreatedBy.Type, q.CreatedBy.ID, q.CreatedBy.Name, q.CreatedBy.Prefix, ms(q.CreatedAt), ms(q.UpdatedAt))
		if err != nil {
			return err
		}
		return tx.emitQR(ctx, snapglyph.EventQRCreated, q)
	})
	if err != nil {
		return "", fmt.Errorf("store: create qr code: %w", err)
	}
	return replayed, nil
}

// checkQRCodeLimit refuses one more QR code for an organisation at its
// plan's limit. A count followed by an insert is not atomic (under READ
// COMMITTED two transactions both count 4 and both insert), so when the
// plan has a limit it first takes the organisation row's write lock:
// concurrent creates, and plan changes, are then decided one at a time,
// and the count, a statement after the lock, sees every code committed
// before it. The plan is read again under the lock, since it may have
// changed while waiting. Unlimited plans take no lock. Idempotency keys
// are inserted before this, so every create takes its locks in the same
// order and none waits for another in a circle.
func (tx *Tx) checkQRCodeLimit(ctx context.Context, orgID string) error {
	org, err := tx.org(ctx, orgID)
	if err != nil || org.QRCodeLimit(tx.now) < 0 {
		return err
	}
	if err := tx.lockOrg(ctx, orgID); err != nil {
		return err
	}
	if org, err = tx.org(ctx, orgID); err != nil {
		return err
	}
	limit := org.QRCodeLimit(tx.now)
	if limit < 0 {
		return nil
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM qr_codes WHERE org_id = ?`, orgID).Scan(&n); err != nil {
		return err
	}
	if n >= limit {
		return org.ErrQRCodeLimit(tx.now, n)
	}
	return nil
}

// org reads an organisation in tx. Returns ENOTFOUND.
func (tx *Tx) org(ctx context.Context, id string) (*snapglyph.Org, error) {
	o, err := scanOrg(tx.QueryRow(ctx, `SELECT `+orgColumns+` FROM orgs WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no organisation has the id %s", snapglyph.QuoteID(id))
	}
	return o, nil
}

func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// QRCode returns an organisation's QR code with its logo. Returns
// ENOTFOUND, also for another organisation's code.
func (d *DB) QRCode(ctx context.Context, orgID, id string) (*snapglyph.QRCode, error) {
	var logo []byte
	q, err := scanQR(d.queryRow(ctx, `SELECT `+qrColumns+`, logo FROM qr_codes WHERE id = ? AND org_id = ?`, id, orgID), &logo)
	if err != nil {
		return nil, notFound(err, "no QR code has the id %s", snapglyph.QuoteID(id))
	}
	d.logoReads.Add(1)
	q.Logo = logo
	if q.LogoSHA256 == "" {
		q.LogoSHA256 = snapglyph.LogoSHA256(logo) // stored before the column
	}
	return q, nil
}

// QRCodeWithoutLogo returns an organisation's QR code without its logo
// bytes (Logo is nil; LogoSHA256 says whether it has one), for the image
// paths, which read the logo only to draw. A code stored before
// logo_sha256 existed is read with its logo, once per call, to compute
// the hash. Returns ENOTFOUND, also for another organisation's code.
func (d *DB) QRCodeWithoutLogo(ctx context.Context, orgID, id string) (*snapglyph.QRCode, error) {
	var old []byte
	q, err := scanQR(d.queryRow(ctx, `SELECT `+qrColumns+`, CASE WHEN logo_sha256 = '' THEN logo END
		FROM qr_codes WHERE id = ? AND org_id = ?`, id, orgID), &old)
	if err != nil {
		return nil, notFound(err, "no QR code has the id %s", snapglyph.QuoteID(id))
	}
	if old != nil {
		d.logoReads.Add(1)
		q.LogoSHA256 = snapglyph.LogoSHA256(old)
	}
	return q, nil
}

// QRCodeMetadata returns an organisation's QR code as its JSON shows it:
// the logo's type and size (LogoType, LogoBytes, the size taken by the
// database from the stored value's header), never its bytes, not even to
// hash a code stored before logo_sha256 (LogoSHA256 is then ""). Returns
// ENOTFOUND, also for another organisation's code.
func (d *DB) QRCodeMetadata(ctx context.Context, orgID, id string) (*snapglyph.QRCode, error) {
	q, err := scanQR(d.queryRow(ctx, `SELECT `+qrColumns+` FROM qr_codes WHERE id = ? AND org_id = ?`, id, orgID))
	if err != nil {
		return nil, notFound(err, "no QR code has the id %s", snapglyph.QuoteID(id))
	}
	return q, nil
}

// QRLogo returns the logo of an organisation's QR code and its hex
// SHA-256 (nil and "" when it has none). Returns ENOTFOUND.
func (d *DB) QRLogo(ctx context.Context, orgID, id string) (logo []byte, sum string, err error) {
	err = d.queryRow(ctx, `SELECT logo, logo_sha256 FROM qr_codes WHERE id = ? AND org_id = ?`, id, orgID).Scan(&logo, &sum)
	if err != nil {
		return nil, "", notFound(err, "no QR code has the id %s", snapglyph.QuoteID(id))
	}
	d.logoReads.Add(1)
	if sum == "" {
		sum = snapglyph.LogoSHA256(logo)
	}
	return logo, sum, nil
}

// LogoReads returns how many times this DB has read a QR code's logo
// column (for tests and metrics).
func (d *DB) LogoReads() int64 { return d.logoReads.Load() }

// UpdateQRCode saves a QR code's name, type, content, payload, design and
// logo if it is still at q.Version (the version it was read at), and sets
// q.Version to the next one. The check and the write are one statement.
// Returns ENOTFOUND, and EPRECONDITION (precondition_failed) when the
// code changed since it was read.
func (d *DB) UpdateQRCode(ctx context.Context, q *snapglyph.QRCode) error {
	design, _ := json.Marshal(q.Design)
	q.LogoSHA256 = snapglyph.LogoSHA256(q.Logo)
	err := d.tx(ctx, func(tx *Tx) error {
		q.UpdatedAt = fromMS(ms(tx.now)) // as stored
		res, err := tx.Exec(ctx, `UPDATE qr_codes SET name = ?, type = ?, content = ?, payload = ?, design = ?, logo = ?, logo_type = ?, logo_sha256 = ?, updated_at = ?,
			version = version + 1 WHERE id = ? AND org_id = ? AND version = ?`,
			q.Name, q.Type, string(q.Content), q.Payload, string(design), nullBytes(q.Logo), q.LogoType, q.LogoSHA256, ms(q.UpdatedAt), q.ID, q.OrgID, q.Version)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tx.staleOrMissing(ctx, q.OrgID, q.ID, q.Version)
		}
		next := *q
		next.Version++
		return tx.emitQR(ctx, snapglyph.EventQRUpdated, &next)
	})
	if err != nil {
		return fmt.Errorf("store: update qr code: %w", err)
	}
	q.Version++
	return nil
}

// staleOrMissing tells why a write of a QR code at a version matched no
// row: the code is gone (ENOTFOUND) or at another version (EPRECONDITION).
func (tx *Tx) staleOrMissing(ctx context.Context, orgID, id string, version int64) error {
	var now int64
	err := tx.QueryRow(ctx, `SELECT version FROM qr_codes WHERE id = ? AND org_id = ?`, id, orgID).Scan(&now)
	if err != nil {
		return notFound(err, "no QR code has the id %s", snapglyph.QuoteID(id))
	}
	return snapglyph.Codef(snapglyph.EPRECONDITION, "precondition_failed", "the QR code %s is at version %d, not %d", id, now, version)
}

// DeleteQRCode deletes an organisation's QR code; with version > 0, only
// if it is at that version (checked in the DELETE statement). Returns
// ENOTFOUND, and EPRECONDITION when it is at another version.
func (d *DB) DeleteQRCode(ctx context.Context, orgID, id string, version int64) error {
	return d.tx(ctx, func(tx *Tx) error {
		q, args := `DELETE FROM qr_codes WHERE id = ? AND org_id = ?`, []any{id, orgID}
		if version > 0 {
			q, args = q+` AND version = ?`, append(args, version)
		}
		gone := &snapglyph.QRCode{ID: id, OrgID: orgID}
		err := tx.QueryRow(ctx, q+` RETURNING name, type, payload, version`, args...).Scan(&gone.Name, &gone.Type, &gone.Payload, &gone.Version)
		switch {
		case errors.Is(err, sql.ErrNoRows) && version > 0:
			return tx.staleOrMissing(ctx, orgID, id, version)
		case errors.Is(err, sql.ErrNoRows):
			return snapglyph.Errorf(snapglyph.ENOTFOUND, "no QR code has the id %s", snapglyph.QuoteID(id))
		case err != nil:
			return fmt.Errorf("store: delete qr code: %w", formatError(err))
		}
		return tx.emitQR(ctx, snapglyph.EventQRDeleted, gone)
	})
}

// CountQRCodes returns how many QR codes an organisation has.
func (d *DB) CountQRCodes(ctx context.Context, orgID string) (int, error) {
	return d.CountQRCodesMatching(ctx, orgID, snapglyph.QRFilter{})
}

// CountQRCodesMatching returns how many of an organisation's QR codes
// f's filters (its type and creating key; not its cursor or limit)
// match: the whole of what QRCodes pages through.
func (d *DB) CountQRCodesMatching(ctx context.Context, orgID string, f snapglyph.QRFilter) (int, error) {
	where, args := qrFilterWhere(orgID, f)
	var n int
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM qr_codes WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count qr codes: %w", formatError(err))
	}
	return n, nil
}

// qrFilterWhere is the condition on qr_codes, and its arguments, that
// selects the organisation's codes f's type and creating key match: one
// text for the list and its count, so the two cannot disagree.
func qrFilterWhere(orgID string, f snapglyph.QRFilter) (string, []any) {
	where := `org_id = ?`
	args := []any{orgID}
	if f.Type != "" {
		where += ` AND type = ?`
		args = append(args, f.Type)
	}
	if f.CreatedByKey != "" {
		where += ` AND created_by_id = ?`
		args = append(args, f.CreatedByKey)
	}
	return where, args
}

// QRCodes lists an organisation's QR codes, newest first, and returns the
// cursor of the next page ("" on the last). Returns EINVALID for a bad
// cursor.
func (d *DB) QRCodes(ctx context.Context, orgID string, f snapglyph.QRFilter) ([]*snapglyph.QRCode, string, error) {
	where, args := qrFilterWhere(orgID, f)
	q := `SELECT ` + qrColumns + ` FROM qr_codes WHERE ` + where
	if f.Cursor != "" {
		at, id, err := parseCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		q += ` AND (created_at < ? OR (created_at = ? AND id < ?))`
		args = append(args, at, at, id)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, f.Limit+1)
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: qr codes: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.QRCode
	for rows.Next() {
		c, err := scanQR(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", formatError(err)
	}
	next := ""
	if len(out) > f.Limit {
		out = out[:f.Limit]
		last := out[len(out)-1]
		next = makeCursor(ms(last.CreatedAt), last.ID)
	}
	return out, next, nil
}

// A cursor is the position after the last item of a page: its creation
// time and id, opaque to clients.
func makeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

// ValidQRCursor reports whether s is a cursor QRCodes returned (or could
// have: a cursor is a position, not a token).
func ValidQRCursor(s string) bool {
	_, _, err := parseCursor(s)
	return err == nil
}

func parseCursor(s string) (int64, string, error) {
	bad := &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the cursor is not one this API returned; start again without it",
		Fields: []snapglyph.FieldError{{Field: "cursor", Message: "is not one this API returned (a page's nextCursor); start again without it"}}}
	// Only what makeCursor makes is taken: a time, a QR code's id ("qr_"
	// and letters and digits), and makeCursor's text of them exactly (a
	// character added to a cursor, or "+5" for "5", decodes too).
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, "", bad
	}
	atS, id, ok := strings.Cut(string(b), ":")
	at, err := strconv.ParseInt(atS, 10, 64)
	if !ok || err != nil || at < 0 || !snapglyph.IsIDOf("qr", id) || makeCursor(at, id) != s {
		return 0, "", bad
	}
	return at, id, nil
}

// emitQR writes a QR code's event (for webhooks only: nothing is written
// when no endpoint of the organisation wants it).
func (tx *Tx) emitQR(ctx context.Context, kind string, q *snapglyph.QRCode) error {
	data := map[string]any{"qrCodeId": q.ID, "qrCodeName": q.Name, "type": q.Type, "version": q.Version}
	if q.Type == "url" {
		data["destinationUrl"] = q.Payload
	}
	if kind == snapglyph.EventQRCreated {
		data["createdBy"] = map[string]any{"type": q.CreatedBy.Type, "id": q.CreatedBy.ID, "name": q.CreatedBy.Name}
	}
	_, err := tx.emit(ctx, &snapglyph.Event{Kind: kind, OrgID: q.OrgID, Data: data}, "")
	return err
}
