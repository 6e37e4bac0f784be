package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Recipient is an Owner or Admin of an organisation, who is told about
// its events.
type Recipient struct {
	UserID  string
	Email   string
	Name    string
	Role    snapglyph.Role
	MailOff []string // the topics they do not want by mail
}

// NoticeRecipients returns the Owners and Admins of an organisation, the
// Owner first, with their mail preferences.
func (d *DB) NoticeRecipients(ctx context.Context, orgID string) ([]*Recipient, error) {
	rows, err := d.query(ctx, `SELECT u.id, u.email, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND m.role IN ('owner', 'admin') ORDER BY CASE m.role WHEN 'owner' THEN 0 ELSE 1 END, m.joined_at, u.id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: notice recipients: %w", formatError(err))
	}
	var out []*Recipient
	for rows.Next() {
		var r Recipient
		var role string
		if err := rows.Scan(&r.UserID, &r.Email, &r.Name, &role); err != nil {
			rows.Close()
			return nil, err
		}
		r.Role = snapglyph.Role(role)
		out = append(out, &r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, formatError(err)
	}
	for _, r := range out {
		if r.MailOff, err = d.MailOff(ctx, r.UserID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AddNotices stores notices of one event; a person who already has a
// notice of the event keeps it (adding is idempotent, so an event handled
// twice tells nobody twice). It returns every notice of the event, with
// the person's email.
func (d *DB) AddNotices(ctx context.Context, eventID int64, notices []*snapglyph.Notice) ([]*snapglyph.Notice, error) {
	err := d.tx(ctx, func(tx *Tx) error {
		for _, n := range notices {
			// A title is one line (a mail's subject, a heading); a body
			// may quote text of several lines, such as a webhook's error.
			_, err := tx.Exec(ctx, `INSERT INTO notices (event_id, user_id, org_id, kind, title, body, link, created_at, mail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (event_id, user_id) DO NOTHING`,
				eventID, n.UserID, n.OrgID, n.Kind, snapglyph.Storable(n.Title, 300), snapglyph.StorableMultiline(n.Body, 2000), n.Link, ms(tx.now), n.Mail)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: add notices: %w", err)
	}
	return d.EventNotices(ctx, eventID)
}

// EventNotices returns every notice of an event, with the person's email.
func (d *DB) EventNotices(ctx context.Context, eventID int64) ([]*snapglyph.Notice, error) {
	return d.noticesWhere(ctx, `n.event_id = ?`, []any{eventID}, `n.id`, 0)
}

const noticeColumns = `n.id, n.event_id, n.user_id, n.org_id, n.kind, n.title, n.body, n.link, n.created_at, n.read_at, n.mail, u.email`

func (d *DB) noticesWhere(ctx context.Context, where string, args []any, order string, limit int) ([]*snapglyph.Notice, error) {
	q := `SELECT ` + noticeColumns + ` FROM notices n JOIN users u ON u.id = n.user_id WHERE ` + where + ` ORDER BY ` + order
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := d.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: notices: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.Notice
	for rows.Next() {
		var n snapglyph.Notice
		var created, read int64
		if err := rows.Scan(&n.ID, &n.EventID, &n.UserID, &n.OrgID, &n.Kind, &n.Title, &n.Body, &n.Link, &created, &read, &n.Mail, &n.Email); err != nil {
			return nil, err
		}
		n.CreatedAt, n.ReadAt = fromMS(created), fromMS(read)
		out = append(out, &n)
	}
	return out, formatError(rows.Err())
}

// Notices returns a person's notices in an organisation, newest first, at
// most limit with an id below before (0: from the newest).
func (d *DB) Notices(ctx context.Context, userID, orgID string, before int64, limit int) ([]*snapglyph.Notice, error) {
	if before <= 0 {
		before = 1 << 62
	}
	return d.noticesWhere(ctx, `n.user_id = ? AND n.org_id = ? AND n.id < ?`, []any{userID, orgID, before}, `n.id DESC`, limit)
}

// UnreadNotices counts a person's unread notices in an organisation.
func (d *DB) UnreadNotices(ctx context.Context, userID, orgID string) (int, error) {
	var n int
	err := d.queryRow(ctx, `SELECT COUNT(*) FROM notices WHERE user_id = ? AND org_id = ? AND read_at = 0`, userID, orgID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: unread notices: %w", formatError(err))
	}
	return n, nil
}

// ReadNotice marks a person's notice read (if it was not) and returns it.
// Returns ENOTFOUND, also for someone else's notice.
func (d *DB) ReadNotice(ctx context.Context, userID, orgID string, id int64) (*snapglyph.Notice, error) {
	if _, err := d.exec(ctx, `UPDATE notices SET read_at = ? WHERE id = ? AND user_id = ? AND org_id = ? AND read_at = 0`, ms(d.now()), id, userID, orgID); err != nil {
		return nil, fmt.Errorf("store: read notice: %w", formatError(err))
	}
	ns, err := d.noticesWhere(ctx, `n.id = ? AND n.user_id = ? AND n.org_id = ?`, []any{id, userID, orgID}, `n.id`, 1)
	if err != nil {
		return nil, err
	}
	if len(ns) == 0 {
		return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no such notice")
	}
	return ns[0], nil
}

// ReadAllNotices marks every notice of a person in an organisation read
// and returns how many were unread.
func (d *DB) ReadAllNotices(ctx context.Context, userID, orgID string) (int64, error) {
	res, err := d.exec(ctx, `UPDATE notices SET read_at = ? WHERE user_id = ? AND org_id = ? AND read_at = 0`, ms(d.now()), userID, orgID)
	if err != nil {
		return 0, fmt.Errorf("store: read notices: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// ClaimNoticeMail marks a notice's mail as being sent by the caller, if it
// is pending or its sender gave no news since staleBefore (it died), and
// reports whether the caller got it: a mail is sent by one node at a time.
func (d *DB) ClaimNoticeMail(ctx context.Context, id int64, staleBefore time.Time) (bool, error) {
	res, err := d.exec(ctx, `UPDATE notices SET mail = 'sending', mail_at = ? WHERE id = ? AND (mail = 'pending' OR (mail = 'sending' AND mail_at < ?))`,
		ms(d.now()), id, ms(staleBefore))
	if err != nil {
		return false, fmt.Errorf("store: claim notice mail: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SetNoticeMail records what became of a notice's mail.
func (d *DB) SetNoticeMail(ctx context.Context, id int64, state string) error {
	_, err := d.exec(ctx, `UPDATE notices SET mail = ?, mail_at = ? WHERE id = ?`, state, ms(d.now()), id)
	if err != nil {
		return fmt.Errorf("store: set notice mail: %w", formatError(err))
	}
	return nil
}

// MailOff returns the topics a person turned off for mail, sorted.
func (d *DB) MailOff(ctx context.Context, userID string) ([]string, error) {
	rows, err := d.query(ctx, `SELECT topic FROM mail_preferences WHERE user_id = ? ORDER BY topic`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: mail preferences: %w", formatError(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, formatError(rows.Err())
}

// SetMailOff replaces the topics a person does not want by mail.
func (d *DB) SetMailOff(ctx context.Context, userID string, off []string) error {
	off = slices.Compact(slices.Sorted(slices.Values(off)))
	for _, t := range off {
		if !validTopic(t) {
			return snapglyph.Errorf(snapglyph.EINVALID, "%q is not a notice topic", t)
		}
	}
	err := d.tx(ctx, func(tx *Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM mail_preferences WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, t := range off {
			if _, err := tx.Exec(ctx, `INSERT INTO mail_preferences (user_id, topic) VALUES (?, ?)`, userID, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set mail preferences: %w", err)
	}
	return nil
}

// LeakAction returns what happens to an organisation's active key that is
// reported as found in public: snapglyph.LeakPause or snapglyph.LeakRevoke. Returns ENOTFOUND.
func (d *DB) LeakAction(ctx context.Context, orgID string) (string, error) {
	var a string
	if err := d.queryRow(ctx, `SELECT leak_action FROM orgs WHERE id = ?`, orgID).Scan(&a); err != nil {
		return "", notFound(err, "no organisation has the id %s", snapglyph.QuoteID(orgID))
	}
	return a, nil
}

// SetLeakAction sets LeakAction and writes the audit event. Returns
// EINVALID, ENOTFOUND, and ECONFLICT when it is already so.
func (d *DB) SetLeakAction(ctx context.Context, orgID, action string, actor snapglyph.Actor) error {
	if action != snapglyph.LeakPause && action != snapglyph.LeakRevoke {
		return snapglyph.Errorf(snapglyph.EINVALID, "a leaked key is either paused or revoked")
	}
	err := d.tx(ctx, func(tx *Tx) error {
		var old string
		if err := tx.QueryRow(ctx, `SELECT leak_action FROM orgs WHERE id = ?`, orgID).Scan(&old); err != nil {
			return notFound(err, "no organisation has the id %s", snapglyph.QuoteID(orgID))
		}
		if old == action {
			return snapglyph.Errorf(snapglyph.ECONFLICT, "leaked keys are already %s", action)
		}
		if _, err := tx.Exec(ctx, `UPDATE orgs SET leak_action = ? WHERE id = ?`, action, orgID); err != nil {
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: orgID, Action: "org.leak_action_changed", TargetID: orgID,
			TargetName: "a key found in public is " + action}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: set leak action: %w", err)
	}
	return nil
}

// InvitationForMail returns an invitation to mail: its details and
// whether it is still pending. Returns ENOTFOUND.
func (d *DB) InvitationForMail(ctx context.Context, id string) (*snapglyph.Invitation, error) {
	inv, err := scanInvitation(d.queryRow(ctx, `SELECT `+invitationColumns+` FROM invitations i JOIN orgs o ON o.id = i.org_id WHERE i.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no invitation has the id %s", snapglyph.QuoteID(id))
	}
	return inv, nil
}

// SetInvitationMailToken gives a pending invitation the digest of the
// token of its mailed link (the link shown when it was created keeps
// working) and reports whether it was still pending. A new mail of the
// same invitation replaces the previous mailed link.
func (d *DB) SetInvitationMailToken(ctx context.Context, id, tokenHash string) (bool, error) {
	res, err := d.exec(ctx, `UPDATE invitations SET mail_token_hash = ? WHERE id = ? AND accepted_at = 0 AND cancelled_at = 0 AND expires_at > ?`,
		tokenHash, id, ms(d.now()))
	if err != nil {
		return false, fmt.Errorf("store: invitation mail token: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// validTopic reports whether a mail preference topic is well formed
// (the service checks it is a known one).
func validTopic(t string) bool {
	return t != "" && len(t) <= 32 && strings.Trim(t, "abcdefghijklmnopqrstuvwxyz_") == ""
}

// NoticeRetention is how long a notice is kept once read; unread notices
// stay until they are read.
const NoticeRetention = 90 * 24 * time.Hour

// LeakReportRetention is how long the digest of a leak report is kept to
// refuse its replay. A report replayed later is acted on again, which
// changes nothing for a key it already paused or revoked.
const LeakReportRetention = 90 * 24 * time.Hour

const (
	pruneNotices     = `DELETE FROM notices WHERE id IN (SELECT id FROM notices WHERE read_at > 0 AND created_at < ? LIMIT ?)`
	pruneLeakReports = `DELETE FROM leak_reports WHERE received_at < ?`
)

// PruneNotices deletes notices read and created before before, a batch at
// a time, and returns how many it deleted (also on error).
func (d *DB) PruneNotices(ctx context.Context, before time.Time) (int64, error) {
	n, err := d.deleteBatches(ctx, pruneNotices, ms(before))
	if err != nil {
		return n, fmt.Errorf("store: prune notices: %w", formatError(err))
	}
	return n, nil
}

// PruneLeakReports deletes the digests of leak reports received before
// before, and returns how many it deleted.
func (d *DB) PruneLeakReports(ctx context.Context, before time.Time) (int64, error) {
	res, err := d.exec(ctx, pruneLeakReports, ms(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune leak reports: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// deleteBatches runs a DELETE whose last parameter is the batch size until
// a batch removes fewer rows, so no lock is held long; it returns the rows
// deleted, also on error.
func (d *DB) deleteBatches(ctx context.Context, q string, args ...any) (int64, error) {
	var total int64
	for {
		res, err := d.exec(ctx, q, append(args, pruneBatch)...)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < pruneBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}
