package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Leak is one token of a leak report: where it was found, and the digest
// of the token (the token itself is never kept).
type Leak struct {
	Digest snapglyph.KeyDigest
	URL    string // where it was found (stored cleaned and bounded)
	Source string // GitHub's "source": content, commit, npm, …
}

// LeakVerdict is what a leak report's token turned out to be.
type LeakVerdict struct {
	Found  bool   // a key of ours (a true positive)
	KeyID  string // when found
	OrgID  string
	Action string // "paused", "revoked" or "" (the key was no longer active, or the same report named it already)
}

// LeakActor is who acts on a leak report in the audit log and the notices.
var LeakActor = snapglyph.Actor{System: "github", Label: "GitHub secret scanning"}

// ApplyLeakReport acts on a leak report in one transaction: it records the
// report by its digest (the SHA-256 of its body), refusing one already
// received (ECONFLICT leak_report_replayed: a replayed report changes
// nothing), and for each token that is one of our keys it pauses an active
// key, or revokes it if its organisation chose so (a paused key is revoked
// under that choice too), records the change for every node's cache,
// writes the audit event and emits api_key.leaked with the URL. Revoked
// keys are left as they are. It returns one verdict per leak, in order.
func (d *DB) ApplyLeakReport(ctx context.Context, reportDigest string, leaks []Leak) ([]LeakVerdict, error) {
	var out []LeakVerdict
	err := d.tx(ctx, func(tx *Tx) error {
		out = out[:0]
		if _, err := tx.Exec(ctx, `INSERT INTO leak_reports (digest, received_at) VALUES (?, ?)`, reportDigest, ms(tx.now)); err != nil {
			if isUniqueViolation(err) {
				return snapglyph.Codef(snapglyph.ECONFLICT, "leak_report_replayed", "this report was received before; a report is acted on once")
			}
			return err
		}
		seen := map[snapglyph.KeyDigest]bool{}
		for _, l := range leaks {
			v, err := tx.applyLeak(ctx, l, seen[l.Digest])
			if err != nil {
				return err
			}
			seen[l.Digest] = true
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: leak report: %w", err)
	}
	return out, nil
}

func (tx *Tx) applyLeak(ctx context.Context, l Leak, again bool) (LeakVerdict, error) {
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM api_keys WHERE digest = ?`, hex.EncodeToString(l.Digest[:])).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return LeakVerdict{}, nil
	} else if err != nil {
		return LeakVerdict{}, err
	}
	k, err := tx.lockKey(ctx, id)
	if err != nil {
		return LeakVerdict{}, err
	}
	v := LeakVerdict{Found: true, KeyID: k.ID, OrgID: k.OrgID}
	state := k.StateAt(tx.now)
	if again || state == snapglyph.StateRevoked || state == snapglyph.StateExpired {
		return v, nil // it works nowhere already
	}
	var action string
	if err := tx.QueryRow(ctx, `SELECT leak_action FROM orgs WHERE id = ?`, k.OrgID).Scan(&action); err != nil {
		return v, err
	}
	url := snapglyph.Storable(l.URL, 1000)
	// The reason follows a pause reason's rules: one line of visible text
	// of at most MaxPauseReasonLen characters. A long URL is cut in it,
	// marked "…" (the event carries it whole); one that breaks the rules
	// is left out.
	reason := "found in public"
	if url != "" {
		reason += " at "
		reason += snapglyph.Shorten(url, snapglyph.MaxPauseReasonLen-len(reason)-1)
	}
	if r, err := snapglyph.NormalizeReason(reason); err == nil {
		reason = r
	} else {
		reason = "found in public"
	}
	switch {
	case action == snapglyph.LeakRevoke:
		err = tx.writeKeyStatus(ctx, k, snapglyph.KeyRevoked, KeyPause{}, LeakActor)
		v.Action = snapglyph.LeakRevoke
	case state == snapglyph.StateActive, !k.PausedUntil.IsZero():
		// A pause without end, with the reason, as the lifecycle's
		// pauses are recorded. A timed pause would let the leaked key
		// work again by itself: it becomes a pause until resumed.
		err = tx.writeKeyStatus(ctx, k, snapglyph.KeyPaused, KeyPause{Reason: reason}, LeakActor)
		v.Action = snapglyph.LeakPause
	}
	if err != nil {
		return v, err
	}
	taken := "it was already paused"
	if v.Action != "" {
		taken = "it was " + v.Action
	}
	err = tx.audit(ctx, &snapglyph.AuditEvent{OrgID: k.OrgID, Action: "key.leaked", TargetID: k.ID, TargetName: k.Name,
		Detail: reason + "; " + taken}, LeakActor)
	if err != nil {
		return v, err
	}
	status := snapglyph.KeyPaused
	if v.Action == snapglyph.LeakRevoke {
		status = snapglyph.KeyRevoked
	}
	_, err = tx.emit(ctx, &snapglyph.Event{Kind: snapglyph.EventKeyLeaked, OrgID: k.OrgID, Data: map[string]any{
		"keyId": k.ID, "keyName": k.Name, "keyPrefix": k.Prefix, "url": url, "source": snapglyph.Storable(l.Source, 100),
		"action": v.Action, "status": string(status), "reason": reason,
		"actor": LeakActor.Label, "actorId": LeakActor.String(),
	}}, "")
	return v, err
}

// forUpdate locks a row read in a transaction until it ends (PostgreSQL;
// SQLite's write transactions are serial already).
func (d *DB) forUpdate() string {
	if d.dialect == postgres {
		return ` FOR UPDATE`
	}
	return ``
}
