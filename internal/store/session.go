package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// CreateSession stores a new session. If replace names another session
// (the one the browser had before signing in again), it is deleted in the
// same transaction. Sessions whose absolute end has passed are purged.
func (d *DB) CreateSession(ctx context.Context, s *snapglyph.Session, replace string) error {
	err := d.tx(ctx, func(tx *Tx) error {
		if replace != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = ?`, replace); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, ms(tx.now)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO sessions (id, user_id, org_id, created_at, last_seen_at, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			s.ID, s.UserID, s.OrgID, ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt), s.IP, s.UserAgent)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// Session returns the session with the id, with its user's email, name and
// current role. Returns ENOTFOUND if there is no such session or the user
// is no longer a member of the session's organisation. It does not check
// timeouts.
func (d *DB) Session(ctx context.Context, id string) (*snapglyph.Session, error) {
	var s snapglyph.Session
	var role string
	var created, seen, expires int64
	err := d.queryRow(ctx, `SELECT s.id, s.user_id, s.org_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, u.email, u.name, m.role
		FROM sessions s
		JOIN users u ON u.id = s.user_id
		JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id
		WHERE s.id = ?`, id).
		Scan(&s.ID, &s.UserID, &s.OrgID, &created, &seen, &expires, &s.IP, &s.UserAgent, &s.Email, &s.Name, &role)
	if err != nil {
		return nil, notFound(err, "no such session")
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	s.Role = snapglyph.Role(role)
	return &s, nil
}

// TouchSession records activity on a session at time at.
func (d *DB) TouchSession(ctx context.Context, id string, at time.Time) error {
	if _, err := d.exec(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?`, ms(at), id, ms(at)); err != nil {
		return fmt.Errorf("store: touch session: %w", formatError(err))
	}
	return nil
}

// DeleteSession ends a session. Deleting a session that does not exist is
// not an error.
func (d *DB) DeleteSession(ctx context.Context, id string) error {
	if _, err := d.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: delete session: %w", formatError(err))
	}
	return nil
}

// liveSessions selects a user's live sessions (not past their absolute
// end at ?, used since ?) in the organisations they still belong to, the
// most recently used first.
const liveSessions = `SELECT s.id, s.org_id, o.name, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent
	FROM sessions s
	JOIN orgs o ON o.id = s.org_id
	JOIN memberships m ON m.org_id = s.org_id AND m.user_id = s.user_id
	WHERE s.user_id = ? AND s.expires_at > ? AND s.last_seen_at > ?
	ORDER BY s.last_seen_at DESC, s.created_at DESC, s.id`

// LiveSessions lists the user's live sessions (not past their absolute
// end, used since idleSince) in every organisation they belong to, the
// most recently used first, at most limit of them. Each is named by its
// SessionRef; the ids stay here.
func (d *DB) LiveSessions(ctx context.Context, userID string, idleSince time.Time, limit int) ([]*snapglyph.LiveSession, error) {
	rows, err := d.query(ctx, liveSessions+` LIMIT ?`, userID, ms(d.now()), ms(idleSince), limit)
	if err != nil {
		return nil, fmt.Errorf("store: live sessions: %w", formatError(err))
	}
	_, out, err := scanLiveSessions(rows)
	if err != nil {
		return nil, fmt.Errorf("store: live sessions: %w", formatError(err))
	}
	return out, nil
}

// EndSessionByRef ends the user's live session (not past its absolute
// end, used since idleSince) whose SessionRef is ref, and returns it as
// it was. Returns ENOTFOUND if the user has no such session: another
// user's session is never found, nor one already ended or expired.
func (d *DB) EndSessionByRef(ctx context.Context, userID, ref string, idleSince time.Time) (*snapglyph.LiveSession, error) {
	var ended *snapglyph.LiveSession
	err := d.tx(ctx, func(tx *Tx) error {
		rows, err := tx.Query(ctx, liveSessions, userID, ms(tx.now), ms(idleSince))
		if err != nil {
			return err
		}
		ids, live, err := scanLiveSessions(rows)
		if err != nil {
			return err
		}
		for i, s := range live {
			if s.Ref != ref {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id = ? AND user_id = ?`, ids[i], userID); err != nil {
				return err
			}
			ended = s
			return nil
		}
		return snapglyph.Errorf(snapglyph.ENOTFOUND, "no such session")
	})
	if err != nil {
		return nil, fmt.Errorf("store: end session: %w", err)
	}
	return ended, nil
}

// scanLiveSessions reads the rows of liveSessions and closes them.
func scanLiveSessions(rows *sql.Rows) (ids []string, out []*snapglyph.LiveSession, err error) {
	defer rows.Close()
	for rows.Next() {
		var id string
		var s snapglyph.LiveSession
		var created, seen, expires int64
		if err := rows.Scan(&id, &s.OrgID, &s.OrgName, &created, &seen, &expires, &s.IP, &s.UserAgent); err != nil {
			return nil, nil, err
		}
		s.Ref = snapglyph.SessionRef(id)
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
		ids, out = append(ids, id), append(out, &s)
	}
	return ids, out, rows.Err()
}

// SessionCount returns how many sessions a user has in an organisation,
// expired or not; for tests and the profile page.
func (d *DB) SessionCount(ctx context.Context, userID, orgID string) (int, error) {
	var n int
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM sessions WHERE user_id = ? AND org_id = ?`, userID, orgID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: session count: %w", formatError(err))
	}
	return n, nil
}

// throttleHorizon is how long a throttle row is kept after its last
// attempt; it outlasts every window in use.
const throttleHorizon = 24 * time.Hour

// BlockedUntil returns the latest time until which any of the throttle
// subjects refuses attempts, and that subject; zero if none does.
func (d *DB) BlockedUntil(ctx context.Context, subjects ...string) (time.Time, string, error) {
	var until time.Time
	var which string
	for _, k := range subjects {
		var v int64
		err := d.queryRow(ctx, `SELECT blocked_until FROM throttle WHERE subject = ?`, k).Scan(&v)
		if err != nil {
			if snapglyph.ErrorKind(formatError(err)) == snapglyph.ENOTFOUND {
				continue
			}
			return time.Time{}, "", fmt.Errorf("store: throttle: %w", formatError(err))
		}
		if t := fromMS(v); t.After(until) {
			until, which = t, k
		}
	}
	return until, which, nil
}

// CountAttempt counts an attempt (a failed sign-in) against a throttle
// subject. The count starts again after a quiet period of the window's
// length (so someone who keeps trying never gets a fresh count); block
// says, from the count, how long further attempts are refused (0: not at
// all). It returns the new block's end (zero if none). The count is one
// atomic update, so concurrent attempts on several nodes are all counted.
// Rows are purged a day after their last attempt (once their block has
// ended).
func (d *DB) CountAttempt(ctx context.Context, subject string, window time.Duration, block func(n int64) time.Duration) (time.Time, error) {
	var until time.Time
	err := d.tx(ctx, func(tx *Tx) error {
		var err error
		until, _, err = tx.countAttempt(ctx, subject, window, block, false)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: count attempt: %w", err)
	}
	return until, nil
}

// TryAttempt is CountAttempt for an attempt that must not even start
// while the subject is blocked (a sign-up): if an earlier attempt's block
// has not ended, nothing is counted and allowed is false, with the
// block's end. The check and the count are one conditional update of the
// subject's row, so of concurrent attempts on several nodes none passes a
// block that another has just set: a burst gets exactly as many attempts
// through as the block function allows.
func (d *DB) TryAttempt(ctx context.Context, subject string, window time.Duration, block func(n int64) time.Duration) (allowed bool, until time.Time, err error) {
	err = d.tx(ctx, func(tx *Tx) error {
		var err error
		until, allowed, err = tx.countAttempt(ctx, subject, window, block, true)
		return err
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("store: try attempt: %w", err)
	}
	return allowed, until, nil
}

// pruneThrottle deletes the throttle's rows past their horizon and
// block; it runs with every counted attempt (migration 020's index).
const pruneThrottle = `DELETE FROM throttle WHERE last_at < ? AND blocked_until < ?`

// countAttempt counts an attempt in tx and returns the new block's end.
// With unlessBlocked, a subject still blocked is not counted: counted is
// false and until is the running block's end.
func (tx *Tx) countAttempt(ctx context.Context, subject string, window time.Duration, block func(n int64) time.Duration, unlessBlocked bool) (until time.Time, counted bool, err error) {
	now := ms(tx.now)
	if _, err := tx.Exec(ctx, pruneThrottle, now-throttleHorizon.Milliseconds(), now); err != nil {
		return time.Time{}, false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO throttle (subject, attempts, last_at) VALUES (?, 0, ?) ON CONFLICT (subject) DO NOTHING`, subject, now); err != nil {
		return time.Time{}, false, err
	}
	notBlocked := int64(math.MaxInt64) // any block: count anyway
	if unlessBlocked {
		notBlocked = now
	}
	// On PostgreSQL a concurrent attempt waits for this row and then
	// re-checks blocked_until on the version this transaction commits.
	var n int64
	err = tx.QueryRow(ctx, `UPDATE throttle SET attempts = CASE WHEN last_at < ? THEN 1 ELSE attempts + 1 END, last_at = ?
		WHERE subject = ? AND blocked_until <= ? RETURNING attempts`, now-window.Milliseconds(), now, subject, notBlocked).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		var blocked int64
		if err := tx.QueryRow(ctx, `SELECT blocked_until FROM throttle WHERE subject = ?`, subject).Scan(&blocked); err != nil {
			return time.Time{}, false, err
		}
		return fromMS(blocked), false, nil
	} else if err != nil {
		return time.Time{}, false, err
	}
	if b := block(n); b > 0 {
		until = tx.now.Add(b)
		if _, err := tx.Exec(ctx, `UPDATE throttle SET blocked_until = ? WHERE subject = ? AND blocked_until < ?`, ms(until), subject, ms(until)); err != nil {
			return time.Time{}, false, err
		}
	}
	return until, true, nil
}

// ClearAttempts forgets the attempts counted against a subject (after a
// successful sign-in).
func (d *DB) ClearAttempts(ctx context.Context, subject string) error {
	if _, err := d.exec(ctx, `DELETE FROM throttle WHERE subject = ?`, subject); err != nil {
		return fmt.Errorf("store: clear attempts: %w", formatError(err))
	}
	return nil
}
