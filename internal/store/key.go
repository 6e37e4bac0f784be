package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

const keyColumns = `id, org_id, name, prefix, status, created_at, created_by, last_used_at, last_used_ip, last_used_ua, revoked_at,
	expires_at, scopes, allowed_ips, paused_reason, paused_by, paused_at, paused_until, replaces, replaced_by, replaced_by_prefix, overlap_ends_at`

func scanKey(row interface{ Scan(...any) error }) (*snapglyph.APIKey, error) {
	var k snapglyph.APIKey
	var status, scopes, ips string
	var created, lastUsed, revoked, expires, pausedAt, pausedUntil, overlap int64
	if err := row.Scan(&k.ID, &k.OrgID, &k.Name, &k.Prefix, &status, &created, &k.CreatedBy, &lastUsed, &k.LastUsedIP, &k.LastUsedUA, &revoked,
		&expires, &scopes, &ips, &k.PausedReason, &k.PausedBy, &pausedAt, &pausedUntil, &k.Replaces, &k.ReplacedBy, &k.ReplacedByPrefix, &overlap); err != nil {
		return nil, err
	}
	k.Status = snapglyph.KeyStatus(status)
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromMS(created), fromMS(lastUsed), fromMS(revoked)
	k.ExpiresAt, k.PausedAt, k.PausedUntil, k.OverlapEndsAt = fromMS(expires), fromMS(pausedAt), fromMS(pausedUntil), fromMS(overlap)
	var err error
	// A stored restriction that does not parse must not become "no
	// restriction": the key is refused (an internal error) instead.
	if k.Scopes, err = snapglyph.ParseStoredScopes(scopes); err != nil {
		return nil, fmt.Errorf("store: key %s: scopes %q: %w", k.ID, scopes, err)
	}
	if k.AllowedIPs, err = snapglyph.ParseStoredAllowedIPs(ips); err != nil {
		return nil, fmt.Errorf("store: key %s: allowed IPs: %w", k.ID, err)
	}
	return &k, nil
}

// CreateKey stores a new key by its digest, records the change for every
// node's negative cache and writes the audit event.
// key.ID, OrgID, Name and Prefix must be set; ExpiresAt, Scopes and
// AllowedIPs are stored as given. A non-empty nonce (the dashboard form's)
// can create only one key: returns ECONFLICT (key_already_created) the
// second time. Returns ECONFLICT (key_name_taken) when a live key of the
// organisation has the name (see checkKeyName), ENOTFOUND for an unknown
// organisation.
func (d *DB) CreateKey(ctx context.Context, key *snapglyph.APIKey, digest snapglyph.KeyDigest, actor snapglyph.Actor, nonce string) error {
	err := d.tx(ctx, func(tx *Tx) error {
		if err := tx.lockOrg(ctx, key.OrgID); err != nil {
			return err
		}
		// Insert first: a form sent twice is answered key_already_created,
		// not with the name its first sending took.
		if err := tx.insertKey(ctx, key, digest, actor, nonce); err != nil {
			return err
		}
		if err := tx.checkKeyName(ctx, key.OrgID, key.Name, key.ID); err != nil {
			return err
		}
		tx.recordChange(snapglyph.ChangeKeyCreated, key.ID)
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: key.OrgID, Action: "key.created", TargetID: key.ID, TargetName: key.Name, Detail: key.Settings()}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: create key: %w", err)
	}
	return nil
}

func (tx *Tx) insertKey(ctx context.Context, key *snapglyph.APIKey, digest snapglyph.KeyDigest, actor snapglyph.Actor, nonce string) error {
	key.Status, key.CreatedAt, key.CreatedBy = snapglyph.KeyActive, tx.now, actor.String()
	var n sql.NullString
	if nonce != "" {
		n = sql.NullString{String: nonce, Valid: true}
	}
	_, err := tx.Exec(ctx, `INSERT INTO api_keys (id, org_id, name, prefix, digest, status, created_at, created_by, create_nonce, expires_at, scopes, allowed_ips, replaces)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		key.ID, key.OrgID, key.Name, key.Prefix, hex.EncodeToString(digest[:]), string(key.Status), ms(key.CreatedAt), key.CreatedBy, n,
		ms(key.ExpiresAt), key.Scopes.String(), snapglyph.FormatAllowedIPs(key.AllowedIPs), key.Replaces)
	if err != nil && nonce != "" && isUniqueViolation(err) {
		return snapglyph.Codef(snapglyph.ECONFLICT, "key_already_created",
			"this form already created its key, which was shown once and cannot be shown again")
	}
	return err
}

// checkKeyName returns ECONFLICT (key_name_taken) when a live key of the
// organisation is named name and is not in the roll chain of the key id
// (see rollChain). Live means working: not revoked, not expired and, for
// a key replaced by a roll, still in its overlap. So a rolled key keeps
// its name while it works, shared with its chain only, and gives it back
// when its overlap ends. Because "live" depends on the clock, no unique
// index can say it; the caller holds the organisation's lock (lockOrg)
// so concurrent creates and renames are checked one at a time. When
// several keys hold the name, the error names one that was not rolled if
// there is one (a replacement, rather than the key it replaced, which
// stops working soon).
//
// Names are compared as snapglyph.KeyNameFold folds them (case, dashes),
// in Go: SQLite's lower() knows ASCII only. An organisation's live keys
// are few.
func (tx *Tx) checkKeyName(ctx context.Context, orgID, name, id string) error {
	rows, err := tx.Query(ctx, `SELECT id, name, prefix FROM api_keys WHERE org_id = ? AND id <> ? AND status <> 'revoked'
		AND (expires_at = 0 OR expires_at > ?) AND (overlap_ends_at = 0 OR overlap_ends_at > ?)
		ORDER BY overlap_ends_at, created_at DESC, id DESC`, orgID, id, ms(tx.now), ms(tx.now))
	if err != nil {
		return err
	}
	type holder struct{ id, name, prefix string }
	var holders []holder
	want := snapglyph.KeyNameFold(name)
	for rows.Next() {
		var h holder
		if err := rows.Scan(&h.id, &h.name, &h.prefix); err != nil {
			rows.Close()
			return err
		}
		if snapglyph.KeyNameFold(h.name) == want {
			holders = append(holders, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(holders) == 0 {
		return err
	}
	chain, err := tx.rollChain(ctx, id)
	if err != nil {
		return err
	}
	for _, h := range holders {
		if !chain[h.id] {
			return snapglyph.Codef(snapglyph.ECONFLICT, "key_name_taken",
				"another active API key of this organisation is named %q (%s...); choose another name, or rename or revoke that key first", h.name, h.prefix)
		}
	}
	return nil
}

// rollChain returns the ids of the keys joined to the key id by rolls:
// the key itself, the one it replaced, the one that one replaced and so
// on, and the one that replaced it, and so on. Rolls make a line (a key
// is rolled once), so the chain is read by following each link.
func (tx *Tx) rollChain(ctx context.Context, id string) (map[string]bool, error) {
	chain := map[string]bool{id: true}
	for _, link := range []string{"replaces", "replaced_by"} {
		for at := id; ; {
			var next string
			err := tx.QueryRow(ctx, `SELECT `+link+` FROM api_keys WHERE id = ?`, at).Scan(&next)
			if errors.Is(err, sql.ErrNoRows) {
				break
			} else if err != nil {
				return nil, err
			}
			if next == "" || chain[next] {
				break
			}
			chain[next] = true
			at = next
		}
	}
	return chain, nil
}

// lockKey takes the key row's write lock for the transaction, so changes
// to one key (pause, revoke, roll, rename) happen one after the other
// and each sees the previous one's result. Returns ENOTFOUND.
func (tx *Tx) lockKey(ctx context.Context, id string) (*snapglyph.APIKey, error) {
	res, err := tx.Exec(ctx, `UPDATE api_keys SET id = id WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no API key has the id %s", snapglyph.QuoteID(id))
	}
	k, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no API key has the id %s", snapglyph.QuoteID(id))
	}
	return k, nil
}

// Key returns the key with the id. Returns ENOTFOUND.
func (d *DB) Key(ctx context.Context, id string) (*snapglyph.APIKey, error) {
	k, err := scanKey(d.queryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no API key has the id %s", snapglyph.QuoteID(id))
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

// KeyPause is what a pause records besides the status: why, and when it
// ends by itself (zero: when resumed).
type KeyPause struct {
	Reason string
	Until  time.Time
}

// SetKeyStatus moves a key to status (a pause without reason or end),
// records the change for every node's cache and writes the audit event,
// in one transaction. See ChangeKeyStatus.
func (d *DB) SetKeyStatus(ctx context.Context, id string, status snapglyph.KeyStatus, actor snapglyph.Actor) (*snapglyph.APIKey, error) {
	return d.ChangeKeyStatus(ctx, id, status, KeyPause{}, actor)
}

// ChangeKeyStatus moves a key to status; a pause records p and the
// actor. The key's state is judged at the transaction's time: returns
// ENOTFOUND, and ECONFLICT for a revoked key (revocation is final), for
// pausing or resuming an expired key (expiry is final too; revoking it is
// allowed), or for a key already in that state (a pause whose end has
// passed counts as active).
func (d *DB) ChangeKeyStatus(ctx context.Context, id string, status snapglyph.KeyStatus, p KeyPause, actor snapglyph.Actor) (*snapglyph.APIKey, error) {
	var key *snapglyph.APIKey
	err := d.tx(ctx, func(tx *Tx) error {
		k, err := tx.lockKey(ctx, id)
		if err != nil {
			return err
		}
		state := k.StateAt(tx.now)
		switch {
		case state == snapglyph.StateRevoked:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is revoked; revocation cannot be undone, create a new key instead", k.Name, k.Prefix)
		case status == snapglyph.KeyRevoked:
		case state == snapglyph.StateExpired:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) expired at %s and cannot be %s; roll it or create a new key",
				k.Name, k.Prefix, snapglyph.FormatTime(k.EndsAt()), map[snapglyph.KeyStatus]string{snapglyph.KeyActive: "resumed", snapglyph.KeyPaused: "paused"}[status])
		case status == snapglyph.KeyPaused && state == snapglyph.StatePaused:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is already paused", k.Name, k.Prefix)
		case status == snapglyph.KeyActive && state == snapglyph.StateActive:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is already active", k.Name, k.Prefix)
		}
		if err := tx.writeKeyStatus(ctx, k, status, p, actor); err != nil {
			return err
		}
		key = k
		var detail string
		if status == snapglyph.KeyPaused {
			detail = pauseDetail(p)
		}
		action := map[snapglyph.KeyStatus]string{snapglyph.KeyActive: "key.resumed", snapglyph.KeyPaused: "key.paused", snapglyph.KeyRevoked: "key.revoked"}[status]
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: k.OrgID, Action: action, TargetID: k.ID, TargetName: k.Name, Detail: detail}, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: set key status: %w", err)
	}
	return key, nil
}

// writeKeyStatus moves the locked key k to status and updates k: a
// revocation stamps its time; a pause records p, the actor and the time,
// replacing any pause it had (a timed pause becomes p); a resume clears
// the pause. It records the change for every node's cache. The caller
// has checked that the move is allowed and writes the audit event. Every
// status change of a key (the management actions, a leak report) goes
// through here.
func (tx *Tx) writeKeyStatus(ctx context.Context, k *snapglyph.APIKey, status snapglyph.KeyStatus, p KeyPause, actor snapglyph.Actor) error {
	var err error
	switch status {
	case snapglyph.KeyRevoked:
		k.RevokedAt = tx.now
		_, err = tx.Exec(ctx, `UPDATE api_keys SET status = ?, revoked_at = ? WHERE id = ?`, string(status), ms(tx.now), k.ID)
	case snapglyph.KeyPaused:
		k.PausedReason, k.PausedBy, k.PausedAt, k.PausedUntil = p.Reason, actor.Label, tx.now, p.Until
		_, err = tx.Exec(ctx, `UPDATE api_keys SET status = ?, paused_reason = ?, paused_by = ?, paused_at = ?, paused_until = ? WHERE id = ?`,
			string(status), k.PausedReason, k.PausedBy, ms(k.PausedAt), ms(k.PausedUntil), k.ID)
	case snapglyph.KeyActive:
		k.PausedReason, k.PausedBy, k.PausedAt, k.PausedUntil = "", "", time.Time{}, time.Time{}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET status = ?, paused_reason = '', paused_by = '', paused_at = 0, paused_until = 0 WHERE id = ?`, string(status), k.ID)
	default:
		return fmt.Errorf("store: unknown key status %q", status)
	}
	if err != nil {
		return err
	}
	k.Status = status
	tx.recordChange(snapglyph.ChangeKey, k.ID)
	return nil
}

func pauseDetail(p KeyPause) string {
	var parts []string
	if p.Reason != "" {
		parts = append(parts, fmt.Sprintf("reason %q", p.Reason))
	}
	if !p.Until.IsZero() {
		parts = append(parts, "until "+snapglyph.FormatTime(p.Until))
	}
	return strings.Join(parts, "; ")
}

// RenameKey renames a key and writes the audit event (its detail is the
// old name). Returns ENOTFOUND; ECONFLICT for a revoked key, a key that
// already has the name, or a name another live key holds (key_name_taken,
// see checkKeyName; a key that stopped working, expired or past its roll's
// overlap, holds no name and is renamed without a check).
// The name must be normalised.
func (d *DB) RenameKey(ctx context.Context, id, name string, actor snapglyph.Actor) (*snapglyph.APIKey, error) {
	var key *snapglyph.APIKey
	err := d.tx(ctx, func(tx *Tx) error {
		k, err := tx.lockOrgOfKey(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case k.Status == snapglyph.KeyRevoked:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is revoked and cannot be renamed", k.Name, k.Prefix)
		case k.Name == name:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %s... is already named %q", k.Prefix, name)
		}
		// A key that works holds its name: one not rolled, and one rolled
		// while its overlap lasts, which shares its name with its roll
		// chain only (checkKeyName).
		if !k.IsExpired(tx.now) {
			if err := tx.checkKeyName(ctx, k.OrgID, name, k.ID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET name = ? WHERE id = ?`, name, id); err != nil {
			return err
		}
		old := k.Name
		k.Name = name
		key = k
		// Error messages name the key: caches must drop the old name.
		tx.recordChange(snapglyph.ChangeKey, id)
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: k.OrgID, Action: "key.renamed", TargetID: k.ID, TargetName: name,
			Detail: fmt.Sprintf("from %q", old)}, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: rename key: %w", err)
	}
	return key, nil
}

// lockOrgOfKey locks the organisation of a key and then the key (always
// in that order, so two transactions cannot wait for each other), and
// returns the key as locked.
func (tx *Tx) lockOrgOfKey(ctx context.Context, id string) (*snapglyph.APIKey, error) {
	var orgID string
	if err := tx.QueryRow(ctx, `SELECT org_id FROM api_keys WHERE id = ?`, id).Scan(&orgID); err != nil {
		return nil, notFound(err, "no API key has the id %s", snapglyph.QuoteID(id))
	}
	if err := tx.lockOrg(ctx, orgID); err != nil {
		return nil, err
	}
	return tx.lockKey(ctx, id)
}

// Roll is the result of a roll: the new key, and the old one as it is now
// (replaced, working until its OverlapEndsAt).
type Roll struct {
	New, Old *snapglyph.APIKey
}

// RollPlan makes the new key of a roll from the old one as locked: the
// caller's rules (which keys may be rolled, what the new key inherits,
// when the old one stops). It returns the new key (ID, Name, Prefix and
// the settings set), its digest, and when the old key stops working.
type RollPlan func(old *snapglyph.APIKey, now time.Time) (nk *snapglyph.APIKey, digest snapglyph.KeyDigest, oldEnds time.Time, err error)

// RollKey replaces a key with a new one in one transaction: the new key
// is inserted (Replaces set), the old one marked replaced with its
// overlap's end, both changes are recorded for every node, and the audit
// log gets key.rolled on the old key and key.created on the new one.
// Returns ENOTFOUND, ECONFLICT for a revoked key or a key already rolled
// (roll the key that replaced it), and whatever plan returns.
func (d *DB) RollKey(ctx context.Context, oldID string, plan RollPlan, actor snapglyph.Actor) (*Roll, error) {
	var out *Roll
	err := d.tx(ctx, func(tx *Tx) error {
		old, err := tx.lockOrgOfKey(ctx, oldID)
		if err != nil {
			return err
		}
		switch {
		case old.Status == snapglyph.KeyRevoked:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is revoked and cannot be rolled; create a new key", old.Name, old.Prefix)
		case old.ReplacedBy != "":
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) was already rolled: it is replaced by %s... (%s); roll that key instead",
				old.Name, old.Prefix, old.ReplacedByPrefix, old.ReplacedBy)
		}
		nk, digest, ends, err := plan(old, tx.now)
		if err != nil {
			return err
		}
		nk.Replaces, nk.OrgID = old.ID, old.OrgID
		if err := tx.insertKey(ctx, nk, digest, actor, ""); err != nil {
			return err
		}
		old.ReplacedBy, old.ReplacedByPrefix, old.OverlapEndsAt = nk.ID, nk.Prefix, ends
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET replaced_by = ?, replaced_by_prefix = ?, overlap_ends_at = ? WHERE id = ?`,
			nk.ID, nk.Prefix, ms(ends), old.ID); err != nil {
			return err
		}
		// The old key passes its name on, but an expired one held no name:
		// another live key may have taken it since.
		if err := tx.checkKeyName(ctx, nk.OrgID, nk.Name, nk.ID); err != nil {
			return err
		}
		tx.recordChange(snapglyph.ChangeKeyCreated, nk.ID)
		tx.recordChange(snapglyph.ChangeKey, old.ID)
		works := "stops working at once"
		switch {
		case old.Status == snapglyph.KeyPaused && ends.After(tx.now):
			works = "stays paused and is retired at " + snapglyph.FormatTime(ends)
		case ends.After(tx.now):
			works = "keeps working until " + snapglyph.FormatTime(ends)
		}
		if err := tx.audit(ctx, &snapglyph.AuditEvent{OrgID: old.OrgID, Action: "key.rolled", TargetID: old.ID, TargetName: old.Name,
			Detail: fmt.Sprintf("replaced by %s... (%s); the old key %s", nk.Prefix, nk.ID, works)}, actor); err != nil {
			return err
		}
		detail := fmt.Sprintf("rolled from %s... (%s)", old.Prefix, old.ID)
		if s := nk.Settings(); s != "" {
			detail += "; " + s
		}
		if err := tx.audit(ctx, &snapglyph.AuditEvent{OrgID: nk.OrgID, Action: "key.created", TargetID: nk.ID, TargetName: nk.Name, Detail: detail}, actor); err != nil {
			return err
		}
		out = &Roll{New: nk, Old: old}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: roll key: %w", err)
	}
	return out, nil
}

// EndOverlap stops a rolled key now instead of at the end of its overlap.
// Returns ENOTFOUND; ECONFLICT for a key that was not rolled, is revoked,
// or has stopped working already.
func (d *DB) EndOverlap(ctx context.Context, id string, actor snapglyph.Actor) (*snapglyph.APIKey, error) {
	var key *snapglyph.APIKey
	err := d.tx(ctx, func(tx *Tx) error {
		k, err := tx.lockKey(ctx, id)
		if err != nil {
			return err
		}
		switch {
		case k.Status == snapglyph.KeyRevoked:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is revoked already", k.Name, k.Prefix)
		case k.ReplacedBy == "":
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) was not rolled, so it has no overlap to end; roll it, pause it or revoke it", k.Name, k.Prefix)
		case k.IsExpired(tx.now):
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) stopped working at %s already", k.Name, k.Prefix, snapglyph.FormatTime(k.EndsAt()))
		}
		k.OverlapEndsAt = tx.now
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET overlap_ends_at = ? WHERE id = ?`, ms(tx.now), id); err != nil {
			return err
		}
		key = k
		tx.recordChange(snapglyph.ChangeKey, id)
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: k.OrgID, Action: "key.overlap_ended", TargetID: k.ID, TargetName: k.Name,
			Detail: fmt.Sprintf("replaced by %s... (%s)", k.ReplacedByPrefix, k.ReplacedBy)}, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: end overlap: %w", err)
	}
	return key, nil
}

// SetKeyRestrictions replaces a key's permissions and IP allowlist,
// records the change for every node's cache and writes the audit event
// (its detail says what changed). Returns ENOTFOUND; ECONFLICT for a
// revoked key or when nothing changes.
func (d *DB) SetKeyRestrictions(ctx context.Context, id string, scopes snapglyph.Scopes, ips []netip.Prefix, actor snapglyph.Actor) (*snapglyph.APIKey, error) {
	var key *snapglyph.APIKey
	err := d.tx(ctx, func(tx *Tx) error {
		k, err := tx.lockKey(ctx, id)
		if err != nil {
			return err
		}
		if k.Status == snapglyph.KeyRevoked {
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) is revoked; its restrictions cannot change", k.Name, k.Prefix)
		}
		var changes []string
		if scopes != k.Scopes {
			changes = append(changes, "permissions "+k.Scopes.Label()+" → "+scopes.Label())
		}
		oldIPs, newIPs := snapglyph.FormatAllowedIPs(k.AllowedIPs), snapglyph.FormatAllowedIPs(ips)
		if oldIPs != newIPs {
			changes = append(changes, "IP allowlist "+orEvery(oldIPs)+" → "+orEvery(newIPs))
		}
		if len(changes) == 0 {
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the API key %q (%s...) already has these permissions and this IP allowlist", k.Name, k.Prefix)
		}
		if _, err := tx.Exec(ctx, `UPDATE api_keys SET scopes = ?, allowed_ips = ? WHERE id = ?`, scopes.String(), newIPs, id); err != nil {
			return err
		}
		k.Scopes, k.AllowedIPs = scopes, ips
		key = k
		tx.recordChange(snapglyph.ChangeKey, id)
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: k.OrgID, Action: "key.restricted", TargetID: k.ID, TargetName: k.Name,
			Detail: strings.Join(changes, "; ")}, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: set key restrictions: %w", err)
	}
	return key, nil
}

func orEvery(ips string) string {
	if ips == "" {
		return "every address"
	}
	return ips
}

// KeyEvents returns the audit events about one key of the organisation,
// newest first, at most limit.
func (d *DB) KeyEvents(ctx context.Context, orgID, keyID string, limit int) ([]*snapglyph.AuditEvent, error) {
	rows, err := d.query(ctx, `SELECT `+auditColumns+` FROM audit_events WHERE target_id = ? AND org_id = ? ORDER BY id DESC LIMIT ?`, keyID, orgID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: key events: %w", formatError(err))
	}
	return scanAuditEvents(rows)
}

// KeyDays returns a key's stored counts per UTC day from first to last
// ("2006-01-02", both included); days without use are absent.
func (d *DB) KeyDays(ctx context.Context, keyID, first, last string) (map[string]snapglyph.Counts, error) {
	rows, err := d.query(ctx, `SELECT day, api_calls, image_credits FROM key_usage_days WHERE key_id = ? AND day >= ? AND day <= ?`, keyID, first, last)
	if err != nil {
		return nil, fmt.Errorf("store: key days: %w", formatError(err))
	}
	defer rows.Close()
	out := make(map[string]snapglyph.Counts)
	for rows.Next() {
		var day string
		var c snapglyph.Counts
		if err := rows.Scan(&day, &c.APICalls, &c.ImageCredits); err != nil {
			return nil, fmt.Errorf("store: key days: %w", formatError(err))
		}
		out[day] = c
	}
	return out, formatError(rows.Err())
}

// KeyIPs returns the addresses a key was used from, most recent first, at
// most limit of them, and how many there are in all.
func (d *DB) KeyIPs(ctx context.Context, keyID string, limit int) ([]snapglyph.KeyAddress, int, error) {
	var total int
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM key_ips WHERE key_id = ?`, keyID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: key addresses: %w", formatError(err))
	}
	rows, err := d.query(ctx, `SELECT ip, first_seen, last_seen, calls FROM key_ips WHERE key_id = ? ORDER BY last_seen DESC, ip LIMIT ?`, keyID, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("store: key addresses: %w", formatError(err))
	}
	defer rows.Close()
	var out []snapglyph.KeyAddress
	for rows.Next() {
		var a snapglyph.KeyAddress
		var first, last int64
		if err := rows.Scan(&a.IP, &first, &last, &a.Calls); err != nil {
			return nil, 0, fmt.Errorf("store: key addresses: %w", formatError(err))
		}
		a.First, a.Last = fromMS(first), fromMS(last)
		out = append(out, a)
	}
	return out, total, formatError(rows.Err())
}

// CountKeyQRCodes returns how many of the organisation's QR codes a key
// created.
func (d *DB) CountKeyQRCodes(ctx context.Context, orgID, keyID string) (int, error) {
	var n int
	err := d.queryRow(ctx, `SELECT COUNT(*) FROM qr_codes WHERE org_id = ? AND created_by_id = ?`, orgID, keyID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count key qr codes: %w", formatError(err))
	}
	return n, nil
}
