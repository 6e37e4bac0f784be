package store

import (
	"context"
	"fmt"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// SetPassword replaces a user's password hash and ends the user's
// sessions, in one transaction: every session but replace (the id of the
// session the change was made from, "" for none), which is deleted too
// and, when start is not nil, replaced by start (the same person with a
// new token). Each organisation the user belongs to gets the audit event
// action (user.password_changed, or user.password_reset by the
// operator). It returns the user's email and how many other sessions
// ended. Returns ENOTFOUND.
func (d *DB) SetPassword(ctx context.Context, userID, hash, replace string, start *snapglyph.Session, idleSince time.Time, action string, actor snapglyph.Actor) (email string, ended int, err error) {
	err = d.tx(ctx, func(tx *Tx) error {
		if err := tx.QueryRow(ctx, `SELECT email FROM users WHERE id = ?`, userID).Scan(&email); err != nil {
			return notFound(err, "no such user")
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, userID); err != nil {
			return err
		}
		if ended, err = tx.endSessions(ctx, userID, replace, idleSince); err != nil {
			return err
		}
		if replace != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = ?`, replace); err != nil {
				return err
			}
		}
		if start != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, org_id, created_at, last_seen_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				start.ID, start.UserID, start.OrgID, ms(start.CreatedAt), ms(start.LastSeenAt), ms(start.ExpiresAt), start.IP, start.UserAgent); err != nil {
				return err
			}
		}
		orgs, err := tx.userOrgs(ctx, userID)
		if err != nil {
			return err
		}
		detail := "signed out of " + snapglyph.Plural(int64(ended), "other session")
		if start == nil {
			detail = "signed out of " + snapglyph.Plural(int64(ended), "session")
		}
		for _, orgID := range orgs {
			if err := tx.audit(ctx, &snapglyph.AuditEvent{OrgID: orgID, Action: action, TargetID: userID, TargetName: email, Detail: detail}, actor); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", 0, fmt.Errorf("store: set password: %w", err)
	}
	return email, ended, nil
}

// EndOtherSessions ends every session of the user but keep (in every
// organisation), and returns how many of them were live (not past their
// absolute end, and used since idleSince).
func (d *DB) EndOtherSessions(ctx context.Context, userID, keep string, idleSince time.Time) (int, error) {
	var n int
	err := d.tx(ctx, func(tx *Tx) error {
		var err error
		n, err = tx.endSessions(ctx, userID, keep, idleSince)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: end other sessions: %w", err)
	}
	return n, nil
}

// OtherSessions counts the user's live sessions (not past their absolute
// end, used since idleSince) other than keep, in every organisation.
func (d *DB) OtherSessions(ctx context.Context, userID, keep string, idleSince time.Time) (int, error) {
	var n int
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND id <> ? AND expires_at > ? AND last_seen_at > ?`,
		userID, keep, ms(d.now()), ms(idleSince)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: other sessions: %w", formatError(err))
	}
	return n, nil
}

// endSessions deletes the user's sessions but keep, in tx, and returns
// how many of them were live (not past their absolute end, used since
// idleSince): expired ones not yet pruned are deleted too, uncounted, so
// "signed out of N sessions" counts what the person could have used.
func (tx *Tx) endSessions(ctx context.Context, userID, keep string, idleSince time.Time) (int, error) {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND id <> ? AND expires_at > ? AND last_seen_at > ?`,
		userID, keep, ms(tx.now), ms(idleSince)).Scan(&n); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = ? AND id <> ?`, userID, keep); err != nil {
		return 0, err
	}
	return n, nil
}

// userOrgs returns the ids of the organisations the user belongs to, in
// tx.
func (tx *Tx) userOrgs(ctx context.Context, userID string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT org_id FROM memberships WHERE user_id = ? ORDER BY org_id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
