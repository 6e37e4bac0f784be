package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Reveal is a stored one-time reveal of a secret shown once (see
// snapglyph.RevealKind): Sealed is the secret, sealed by the caller;
// empty once it was taken (or never set). SubjectID is the key's or the
// webhook's id; OldKeyID the key a roll replaced.
type Reveal struct {
	ID, SessionID, OrgID string
	Kind                 string
	SubjectID, OldKeyID  string
	Sealed               string
	CreatedAt, ExpiresAt time.Time
}

// revealKeep is how long a reveal's row outlives its creation, so a
// later visit of its address can still say what it showed.
const revealKeep = 24 * time.Hour

// CreateReveal stores a reveal, and purges rows older than a day.
func (d *DB) CreateReveal(ctx context.Context, r *Reveal) error {
	if r.Kind == "" {
		return fmt.Errorf("store: create reveal: no kind")
	}
	err := d.tx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM reveals WHERE created_at < ?`, ms(tx.now.Add(-revealKeep))); err != nil {
			return err
		}
		r.CreatedAt = tx.now
		_, err := tx.Exec(ctx, `INSERT INTO reveals (id, session_id, org_id, kind, subject_id, old_key_id, sealed, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.SessionID, r.OrgID, r.Kind, r.SubjectID, r.OldKeyID, r.Sealed, ms(r.CreatedAt), ms(r.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create reveal: %w", err)
	}
	return nil
}

// TakeReveal returns the session's reveal with the id and one of the
// kinds (of the subject, unless subjectID is ""), and clears its sealed value in the same transaction: of any
// number of concurrent takes, on any number of nodes, one gets the value
// and the others an empty Sealed. A value past its expiry is cleared
// without being returned. Returns ENOTFOUND (no such reveal of these
// kinds and subject for this session, or purged), and then clears nothing.
func (d *DB) TakeReveal(ctx context.Context, id, sessionID, subjectID string, kinds ...string) (*Reveal, error) {
	var r Reveal
	err := d.tx(ctx, func(tx *Tx) error {
		var sealed sql.NullString
		var created, expires int64
		err := tx.QueryRow(ctx, `SELECT id, session_id, org_id, kind, subject_id, old_key_id, sealed, created_at, expires_at FROM reveals WHERE id = ? AND session_id = ?`, id, sessionID).
			Scan(&r.ID, &r.SessionID, &r.OrgID, &r.Kind, &r.SubjectID, &r.OldKeyID, &sealed, &created, &expires)
		if err != nil {
			return notFound(err, "there is no such reveal")
		}
		known := false
		for _, k := range kinds {
			known = known || k == r.Kind
		}
		if !known || subjectID != "" && subjectID != r.SubjectID {
			return notFound(sql.ErrNoRows, "there is no such reveal")
		}
		r.CreatedAt, r.ExpiresAt = fromMS(created), fromMS(expires)
		if !sealed.Valid {
			return nil
		}
		res, err := tx.Exec(ctx, `UPDATE reveals SET sealed = NULL WHERE id = ? AND sealed IS NOT NULL`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 && tx.now.Before(r.ExpiresAt) {
			r.Sealed = sealed.String
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: take reveal: %w", err)
	}
	return &r, nil
}
