package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

const keyColumns = `id, org_id, name, prefix, status, created_at, created_by, last_used_at, last_used_ip, last_used_ua, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (*snapglyph.APIKey, error) {
	var k snapglyph.APIKey
	var status string
	var created, lastUsed, revoked int64
	if err := row.Scan(&k.ID, &k.OrgID, &k.Name, &k.Prefix, &status, &created, &k.CreatedBy, &lastUsed, &k.LastUsedIP, &k.LastUsedUA, &revoked); err != nil {
		return nil, err
	}
	k.Status = snapglyph.KeyStatus(status)
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromMS(created), fromMS(lastUsed), fromMS(revoked)
	return &k, nil
}

// CreateKey stores a new key by its digest, records the change for every
// node's negative cache and writes the audit event.
// key.ID, OrgID, Name and Prefix must be set. A non-empty nonce (the
// dashboard form's) can create only one key: returns ECONFLICT
// (key_already_created) the second time.
func (d *DB) CreateKey(ctx context.Context, key *snapglyph.APIKey, digest snapglyph.KeyDigest, actor snapglyph.Actor, nonce string) error {
	err := d.tx(ctx, func(tx *Tx) error {
		key.Status, key.CreatedAt, key.CreatedBy = snapglyph.KeyActive, tx.now, actor.String()
		var n sql.NullString
		if nonce != "" {
			n = sql.NullString{String: nonce, Valid: true}
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, org_id, name, prefix, digest, status, created_at, created_by, create_nonce) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			key.ID, key.OrgID, key.Name, key.Prefix, hex.EncodeToString(digest[:]), string(key.Status), ms(key.CreatedAt), key.CreatedBy, n)
		if err != nil && nonce != "" && isUniqueViolation(err) {
			return snapglyph.Reasonf(snapglyph.ECONFLICT, "key_already_created",
				"this form already created its key, which was shown once and cannot be shown again")
		}
		if err != nil {
			return err
		}
		if err := tx.recordChange(ctx, ChangeKeyCreated, key.ID); err != nil {
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: key.OrgID, Action: "key.created", TargetID: key.ID, TargetName: key.Name}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: create key: %w", err)
	}
	return nil
}

// Key returns the key with the id. Returns ENOTFOUND.
func (d *DB) Key(ctx context.Context, id string) (*snapglyph.APIKey, error) {
	k, err := scanKey(d.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no API key has the id %q", id)
	}
	return k, nil
}

// KeyByDigest returns the key with the digest. Returns ENOTFOUND.
func (d *DB) KeyByDigest(ctx context.Context, digest snapglyph.KeyDigest) (*snapglyph.APIKey, error) {
	k, err := scanKey(d.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE digest = ?`, hex.EncodeToString(digest[:])))
	if err != nil {
		return nil, notFound(err, "unknown API key")
	}
	return k, nil
}

// Keys returns an organisation's keys, newest first. Revoked keys are
// included only if withRevoked is set.
func (d *DB) Keys(ctx context.Context, orgID string, withRevoked bool) ([]*snapglyph.APIKey, error) {
	q := `SELECT ` + keyColumns + ` FROM api_keys WHERE org_id = ?`
	if !withRevoked {
		q += ` AND status <> 'revoked'`
	}
	rows, err := d.query(ctx, q+` ORDER BY created_at DESC, id DESC`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", formatError(err))
	}
	defer rows.Close()
	var keys []*snapglyph.APIKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, formatError(rows.Err())
}

// SetKeyStatus moves a key to status, records the change for every node's
// cache and writes the audit event, in one transaction. Returns ENOTFOUND,
// and ECONFLICT for a revoked key (revocation is final) or a key already
// in that status.
func (d *DB) SetKeyStatus(ctx context.Context, id string, status snapglyph.KeyStatus, actor snapglyph.Actor) (*snapglyph.APIKey, error) {
	var key *snapglyph.APIKey
	err := d.tx(ctx, func(tx *Tx) error {
		k, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
		if err != nil {
			return notFound(err, "no API key has the id %q", id)
		}
		switch {
		case k.Status == snapglyph.KeyRevoked:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is revoked; revocation cannot be undone, create a new key instead", k.Name, k.Prefix)
		case k.Status == status:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is already %s", k.Name, k.Prefix, status)
		}
		revokedAt := int64(0)
		if status == snapglyph.KeyRevoked {
			revokedAt = ms(tx.now)
			k.RevokedAt = tx.now
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET status = ?, revoked_at = ? WHERE id = ?`, string(status), revokedAt, id); err != nil {
			return err
		}
		k.Status = status
		key = k
		if err := tx.recordChange(ctx, ChangeKey, id); err != nil {
			return err
		}
		action := map[snapglyph.KeyStatus]string{snapglyph.KeyActive: "key.resumed", snapglyph.KeyPaused: "key.paused", snapglyph.KeyRevoked: "key.revoked"}[status]
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: k.OrgID, Action: action, TargetID: k.ID, TargetName: k.Name}, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: set key status: %w", err)
	}
	return key, nil
}
