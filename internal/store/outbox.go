package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// The outbox. Every event is written in the same transaction as the change
// that causes it, with one delivery row per consumer ("sink"), so an event
// exists if and only if its change committed. Nodes claim due deliveries
// (on PostgreSQL with SELECT … FOR UPDATE SKIP LOCKED, so two nodes never
// take the same one), act on them off the request path, and mark them done
// or due again later. A node that dies holding a claim loses it when the
// lease ends; another node takes the delivery again.

// SinkNotify is the consumer that turns events into notices and mail.
const SinkNotify = "notify"

// SinkWebhook is the family of webhook sinks: the delivery of an event
// to an endpoint has the sink SinkWebhook + the endpoint's id, so each
// endpoint's attempts, retries and claims are its own. Claiming the
// family (ClaimDeliveries with SinkWebhook) takes any endpoint's.
const SinkWebhook = "webhook:"

// sinks are the consumers every event is delivered to, besides the
// webhook endpoints that want it (see emit).
var sinks = []string{SinkNotify}

// auditEvents are the audited actions that are also events, by the event
// kind they emit. An action made elsewhere (a new kind of change) becomes
// an event by being listed here; a change with data the audit log does not
// hold calls tx.emit itself. The end of a timed pause is told as a resume
// (by AutoActor, with the pause's end as pausedUntil), once per pause.
var auditEvents = map[string]string{
	"key.created":     snapglyph.EventKeyCreated,
	"key.paused":      snapglyph.EventKeyPaused,
	"key.resumed":     snapglyph.EventKeyResumed,
	"key.pause_ended": snapglyph.EventKeyResumed,
	"key.revoked":     snapglyph.EventKeyRevoked,
	"key.rolled":      snapglyph.EventKeyRolled,
	"key.expired":     snapglyph.EventKeyExpired,
	"member.invited":  snapglyph.EventInvitationSent,
}

// emitAudited writes the event of an audited action, if it has one, in
// the action's transaction (tx.audit calls it).
func (tx *Tx) emitAudited(ctx context.Context, e *snapglyph.AuditEvent) error {
	kind, ok := auditEvents[e.Action]
	if !ok {
		return nil
	}
	data := map[string]any{"actor": e.ActorLabel, "actorId": e.Actor}
	var dedupe string
	if e.Detail != "" {
		data["detail"] = e.Detail // a pause's reason, a roll's replacement, …
	}
	switch {
	case strings.HasPrefix(kind, "api_key."):
		data["keyId"], data["keyName"] = e.TargetID, e.TargetName
		k, err := scanKey(tx.QueryRow(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE id = ?`, e.TargetID))
		if errors.Is(err, sql.ErrNoRows) {
			break
		} else if err != nil {
			return err
		}
		data["keyPrefix"] = k.Prefix
		switch kind {
		case snapglyph.EventKeyCreated:
			if k.Replaces != "" {
				data["replaces"] = k.Replaces // the new key of a roll
			}
			if !k.ExpiresAt.IsZero() {
				data["expiresAt"] = k.ExpiresAt.UTC().Format(time.RFC3339)
			}
		case snapglyph.EventKeyPaused:
			if k.PausedReason != "" {
				data["reason"] = k.PausedReason
			}
			if !k.PausedUntil.IsZero() {
				data["pausedUntil"] = k.PausedUntil.UTC().Format(time.RFC3339)
			}
		case snapglyph.EventKeyResumed:
			if e.Action == "key.pause_ended" && !k.PausedUntil.IsZero() {
				// The key's row still holds the pause that ended: its end
				// names this one, for any number of nodes' scans.
				data["pausedUntil"] = k.PausedUntil.UTC().Format(time.RFC3339)
				dedupe = fmt.Sprintf("%s:%s:%d", kind, k.ID, ms(k.PausedUntil))
			}
		case snapglyph.EventKeyRolled:
			data["newKeyId"], data["newKeyPrefix"] = k.ReplacedBy, k.ReplacedByPrefix
			// A paused key stays paused through the overlap: the notice
			// must not say it works.
			data["keyStatus"] = string(k.Status)
			if !k.OverlapEndsAt.IsZero() {
				data["overlapEndsAt"] = k.OverlapEndsAt.UTC().Format(time.RFC3339)
			}
		case snapglyph.EventKeyExpired:
			if end := k.EndsAt(); !end.IsZero() {
				data["expiresAt"] = end.UTC().Format(time.RFC3339)
			}
		}
	case kind == snapglyph.EventInvitationSent:
		var email, role string
		var expires int64
		err := tx.QueryRow(ctx, `SELECT email, role, expires_at FROM invitations WHERE id = ?`, e.TargetID).Scan(&email, &role, &expires)
		if err != nil {
			return err
		}
		data["invitationId"], data["email"], data["role"] = e.TargetID, email, role
		data["expiresAt"] = fromMS(expires).Format(time.RFC3339)
	}
	_, err := tx.emit(ctx, &snapglyph.Event{Kind: kind, OrgID: e.OrgID, Data: data}, dedupe)
	return err
}

// emit writes an event and its deliveries in tx. A non-empty dedupe key
// makes the event happen once: if an event with the key exists, nothing
// is written and emit reports false. ev.ID and ev.At are set.
func (tx *Tx) emit(ctx context.Context, ev *snapglyph.Event, dedupe string) (bool, error) {
	if ev.Data == nil {
		ev.Data = map[string]any{}
	}
	to, err := tx.eventSinks(ctx, ev.Kind, ev.OrgID)
	if err != nil {
		return false, err
	}
	if len(to) == 0 {
		return false, nil // a webhook-only event no endpoint wants
	}
	payload, err := json.Marshal(ev.Data)
	if err != nil {
		return false, fmt.Errorf("store: event %s: %w", ev.Kind, err)
	}
	key := sql.NullString{String: dedupe, Valid: dedupe != ""}
	ev.At = tx.now
	err = tx.QueryRow(ctx, `INSERT INTO outbox_events (kind, org_id, dedupe_key, payload, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (dedupe_key) DO NOTHING RETURNING id`, ev.Kind, ev.OrgID, key, string(payload), ms(ev.At)).Scan(&ev.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	for _, sink := range to {
		if _, err := tx.Exec(ctx, `INSERT INTO outbox_deliveries (event_id, sink, next_at, started_at) VALUES (?, ?, ?, ?)`,
			ev.ID, sink, ms(tx.now), ms(tx.now)); err != nil {
			return false, err
		}
	}
	return true, nil
}

// eventSinks returns the sinks an event of the kind goes to: the
// notifier (unless the kind is for webhooks only) and every enabled
// endpoint of the organisation that chose it.
func (tx *Tx) eventSinks(ctx context.Context, kind, orgID string) ([]string, error) {
	var to []string
	if !snapglyph.WebhookOnly(kind) {
		to = append(to, sinks...)
	}
	if !snapglyph.IsWebhookEvent(kind) {
		return to, nil
	}
	rows, err := tx.Query(ctx, `SELECT id, events FROM webhooks WHERE org_id = ? AND disabled_at = 0 ORDER BY id`, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, events string
		if err := rows.Scan(&id, &events); err != nil {
			return nil, err
		}
		if slices.Contains(strings.Split(events, ","), kind) {
			to = append(to, SinkWebhook+id)
		}
	}
	return to, rows.Err()
}

// Emit writes an event in a transaction of its own, for events that are
// not a change of this database's data (a date reached): with a dedupe
// key, any number of nodes may emit it and it happens once. It reports
// whether this call wrote it.
func (d *DB) Emit(ctx context.Context, ev *snapglyph.Event, dedupe string) (bool, error) {
	var wrote bool
	err := d.tx(ctx, func(tx *Tx) error {
		var err error
		wrote, err = tx.emit(ctx, ev, dedupe)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: emit %s: %w", ev.Kind, err)
	}
	return wrote, nil
}

// Delivery is an event claimed by a node for one sink.
type Delivery struct {
	Event    *snapglyph.Event
	Sink     string
	Attempts int // this one included
	// Since is when this run of attempts began: the event's time, or
	// when the delivery was sent again (ResendWebhookDelivery).
	Since time.Time
}

// sinkClause is the condition on outbox_deliveries.sink that selects a
// sink, or every sink of a family (a name ending in ':', SinkWebhook),
// as a range the (sink, done_at, next_at) index serves.
func sinkClause(sink string) (string, []any) {
	if strings.HasSuffix(sink, ":") {
		return `sink > ? AND sink < ?`, []any{sink, sink[:len(sink)-1] + ";"}
	}
	return `sink = ?`, []any{sink}
}

// skipLocked is the locking clause of a claim: on PostgreSQL the rows read
// are locked, and rows another transaction holds are skipped instead of
// waited for. SQLite runs one write transaction at a time.
func (d *DB) skipLocked() string {
	if d.dialect == postgres {
		return ` FOR UPDATE SKIP LOCKED`
	}
	return ``
}

// ClaimDeliveries takes up to limit due deliveries of the sink (or of
// the sink family, SinkWebhook) for node, oldest first, for lease: until
// then no other node takes them. A delivery is due when it is not done,
// its next attempt time has come, and no live claim holds it. Deliveries
// of the sinks in busy (the node is delivering to them already) are left.
func (d *DB) ClaimDeliveries(ctx context.Context, sink, node string, limit int, lease time.Duration, busy ...string) ([]*Delivery, error) {
	// Most polls find nothing: look first, without a write transaction
	// (on SQLite a commit would make every node re-read its caches).
	var one int
	now := ms(d.now())
	cond, sinkArgs := sinkClause(sink)
	if len(busy) > 0 {
		cond += ` AND sink NOT IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(busy)), ", ") + `)`
		for _, b := range busy {
			sinkArgs = append(sinkArgs, b)
		}
	}
	err := d.queryRow(ctx, `SELECT 1 FROM outbox_deliveries WHERE `+cond+` AND done_at = 0 AND next_at <= ? AND locked_until <= ? LIMIT 1`,
		append(sinkArgs, now, now)...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("store: claim deliveries: %w", formatError(err))
	}
	var out []*Delivery
	err = d.tx(ctx, func(tx *Tx) error {
		now := ms(tx.now)
		args := append([]any{node, ms(tx.now.Add(lease))}, sinkArgs...)
		rows, err := tx.Query(ctx, `UPDATE outbox_deliveries SET locked_by = ?, locked_until = ?, attempts = attempts + 1
			WHERE (event_id, sink) IN (SELECT event_id, sink FROM outbox_deliveries
				WHERE `+cond+` AND done_at = 0 AND next_at <= ? AND locked_until <= ?
				ORDER BY event_id, sink LIMIT ?`+d.skipLocked()+`)
			RETURNING event_id, sink, attempts, started_at`, append(args, now, now, limit)...)
		if err != nil {
			return err
		}
		var claimed []*Delivery
		byID := map[int64][]*Delivery{}
		var ids []any
		for rows.Next() {
			var id, since int64
			dl := &Delivery{}
			if err := rows.Scan(&id, &dl.Sink, &dl.Attempts, &since); err != nil {
				rows.Close()
				return err
			}
			dl.Since = fromMS(since)
			if byID[id] == nil {
				ids = append(ids, id)
			}
			byID[id] = append(byID[id], dl)
			claimed = append(claimed, dl)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(ids) == 0 {
			return err
		}
		events, err := tx.events(ctx, ids)
		if err != nil {
			return err
		}
		for _, ev := range events {
			for _, dl := range byID[ev.ID] {
				dl.Event = ev
				if dl.Since.IsZero() {
					dl.Since = ev.At
				}
				out = append(out, dl)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim deliveries: %w", err)
	}
	return out, nil
}

// events reads the events with the ids, oldest first.
func (tx *Tx) events(ctx context.Context, ids []any) ([]*snapglyph.Event, error) {
	rows, err := tx.Query(ctx, `SELECT id, kind, org_id, payload, created_at FROM outbox_events WHERE id IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")+`) ORDER BY id`, ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*snapglyph.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func scanEvent(row interface{ Scan(...any) error }) (*snapglyph.Event, error) {
	var ev snapglyph.Event
	var payload string
	var at int64
	if err := row.Scan(&ev.ID, &ev.Kind, &ev.OrgID, &payload, &at); err != nil {
		return nil, err
	}
	ev.At = fromMS(at)
	dec := json.NewDecoder(bytes.NewReader([]byte(payload)))
	dec.UseNumber()
	if err := dec.Decode(&ev.Data); err != nil {
		return nil, fmt.Errorf("event %d: payload: %w", ev.ID, err)
	}
	return &ev, nil
}

// Event returns the outbox event with the id. Returns ENOTFOUND.
func (d *DB) Event(ctx context.Context, id int64) (*snapglyph.Event, error) {
	ev, err := scanEvent(d.queryRow(ctx, `SELECT id, kind, org_id, payload, created_at FROM outbox_events WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no event has the id %d", id)
	}
	return ev, nil
}

// Events returns an organisation's events of the kind (all kinds if ""),
// oldest first, at most limit.
func (d *DB) Events(ctx context.Context, orgID, kind string, limit int) ([]*snapglyph.Event, error) {
	rows, err := d.query(ctx, `SELECT id, kind, org_id, payload, created_at FROM outbox_events
		WHERE org_id = ? AND (? = '' OR kind = ?) ORDER BY id LIMIT ?`, orgID, kind, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, formatError(rows.Err())
}

// FinishDelivery marks a claimed delivery done. lastError, if not empty,
// records why it ended without success (it was given up). It reports
// false when node no longer holds the claim (its lease ran out and
// another node took it).
func (d *DB) FinishDelivery(ctx context.Context, eventID int64, sink, node, lastError string) (bool, error) {
	res, err := d.exec(ctx, `UPDATE outbox_deliveries SET done_at = ?, locked_until = 0, last_error = ? WHERE event_id = ? AND sink = ? AND locked_by = ? AND done_at = 0`,
		ms(d.now()), snapglyph.StorableMultiline(lastError, 1000), eventID, sink, node)
	if err != nil {
		return false, fmt.Errorf("store: finish delivery: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RetryDelivery releases a claimed delivery to be tried again at a time,
// recording why this attempt failed.
func (d *DB) RetryDelivery(ctx context.Context, eventID int64, sink, node string, at time.Time, lastError string) error {
	_, err := d.exec(ctx, `UPDATE outbox_deliveries SET next_at = ?, locked_until = 0, last_error = ? WHERE event_id = ? AND sink = ? AND locked_by = ? AND done_at = 0`,
		ms(at), snapglyph.StorableMultiline(lastError, 1000), eventID, sink, node)
	if err != nil {
		return fmt.Errorf("store: retry delivery: %w", formatError(err))
	}
	return nil
}

// ReleaseDelivery gives back a claimed delivery that was not attempted
// (the node stopped before its turn in the batch): it is due again at
// once, and the attempt its claim counted is taken back, so the next
// attempt has the number this one would have had.
func (d *DB) ReleaseDelivery(ctx context.Context, eventID int64, sink, node string) error {
	_, err := d.exec(ctx, `UPDATE outbox_deliveries SET attempts = attempts - 1, locked_until = 0 WHERE event_id = ? AND sink = ? AND locked_by = ? AND done_at = 0 AND attempts > 0`,
		eventID, sink, node)
	if err != nil {
		return fmt.Errorf("store: release delivery: %w", formatError(err))
	}
	return nil
}

// DeliveryState is what became of one event's delivery to one sink.
type DeliveryState struct {
	Attempts  int
	NextAt    time.Time
	DoneAt    time.Time
	LastError string
}

// DeliveryState returns the state of an event's delivery to a sink.
// Returns ENOTFOUND.
func (d *DB) DeliveryState(ctx context.Context, eventID int64, sink string) (DeliveryState, error) {
	var s DeliveryState
	var next, done int64
	err := d.queryRow(ctx, `SELECT attempts, next_at, done_at, last_error FROM outbox_deliveries WHERE event_id = ? AND sink = ?`, eventID, sink).
		Scan(&s.Attempts, &next, &done, &s.LastError)
	if err != nil {
		return s, notFound(err, "no delivery of event %d to %s", eventID, sink)
	}
	s.NextAt, s.DoneAt = fromMS(next), fromMS(done)
	return s, nil
}

// OutboxRetention is how long a delivered event is kept (it also keeps
// once-a-month events from happening twice in their month).
const OutboxRetention = 40 * 24 * time.Hour

// PruneOutbox deletes events older than retention whose every delivery is
// done, and returns how many it deleted.
func (d *DB) PruneOutbox(ctx context.Context, retention time.Duration) (int64, error) {
	res, err := d.exec(ctx, `DELETE FROM outbox_events WHERE created_at < ?
		AND NOT EXISTS (SELECT 1 FROM outbox_deliveries o WHERE o.event_id = outbox_events.id AND o.done_at = 0)`, ms(d.now().Add(-retention)))
	if err != nil {
		return 0, fmt.Errorf("store: prune outbox: %w", formatError(err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Thresholds are the percentages of a monthly allowance at which its
// organisation is told, highest first.
var Thresholds = []int64{100, 80}

// usageCrossed emits usage.threshold for each allowance of the
// organisation whose flushed use is at a threshold of the limit in force
// after this flush: used is the total after it, delta what it added.
// Each threshold is told once per organisation, month, allowance and
// limit: the dedupe key (usageDedupe) holds all four, so it is told once
// however many nodes' flushes see it, and a limit changed during the
// month (set-limits, a new plan) has thresholds of its own, told by the
// first flush that records use at them: a raised limit is told again
// when its own 80 % and 100 % are reached, and a lowered one already past
// 80 % (or 100 %) at the next recorded request. Only the highest
// threshold reached is told: the lower one is behind. An allowance
// requests were refused for (refused: nothing was left of it) is told
// as at 100 % with the use recorded: it can stay below the limit when a
// node stopped without handing back the allowance it held.
// The caller reads the organisation (nil: it no longer exists): a flush
// reads all of its organisations in one query (usage.go).
func (tx *Tx) usageCrossed(ctx context.Context, org *snapglyph.Org, period string, used, delta, refused snapglyph.Counts) error {
	if org == nil {
		return nil
	}
	orgID := org.ID
	for _, c := range []struct {
		name                 string
		used, delta, refused int64
		limit                int64
	}{
		{"apiCalls", used.APICalls, delta.APICalls, refused.APICalls, org.APICallLimit()},
		{"imageCredits", used.ImageCredits, delta.ImageCredits, refused.ImageCredits, org.ImageCreditLimit()},
	} {
		if c.limit <= 0 || c.delta <= 0 && c.refused <= 0 {
			continue
		}
		for _, pct := range Thresholds {
			mark := (c.limit*pct + 99) / 100
			spent := pct == 100 && c.refused > 0
			if !spent && c.used < mark {
				continue
			}
			// Most flushes past a threshold find it told already: look
			// before writing (the unique key still decides between nodes).
			dedupe := usageDedupe(orgID, period, c.name, pct, c.limit)
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM outbox_events WHERE dedupe_key = ?`, dedupe).Scan(&one)
			if err == nil {
				break
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			start, err := time.Parse("2006-01", period)
			if err != nil {
				return fmt.Errorf("usage period %q: %w", period, err)
			}
			ev := &snapglyph.Event{Kind: snapglyph.EventUsageThreshold, OrgID: orgID, Data: map[string]any{
				"counter": c.name, "percent": pct, "used": c.used, "limit": c.limit,
				"period": period, "resetsAt": start.AddDate(0, 1, 0).Format(time.RFC3339),
			}}
			if _, err := tx.emit(ctx, ev, dedupe); err != nil {
				return err
			}
			break
		}
	}
	return nil
}

// usageDedupe is the dedupe key of a usage threshold: once per
// organisation, month, allowance, threshold and limit. Migration 027
// gave the events written before the limit was part of it theirs.
func usageDedupe(orgID, period, counter string, pct, limit int64) string {
	return fmt.Sprintf("usage:%s:%s:%s:%d:%d", orgID, period, counter, pct, limit)
}

// TrialNotice is how long before a trial ends its organisation is told.
const TrialNotice = 3 * 24 * time.Hour

// EmitTrialEvents emits trial.ending for trials that end within
// TrialNotice of now and trial.ended for those that ended in the last
// TrialNotice, each once per trial (any number of nodes may run it at
// once), and returns how many it wrote.
func (d *DB) EmitTrialEvents(ctx context.Context) (int, error) {
	now := d.now()
	type due struct {
		org  string
		ends int64
		kind string
	}
	var todo []due
	for _, q := range []struct {
		kind     string
		from, to time.Time
	}{
		{snapglyph.EventTrialEnding, now, now.Add(TrialNotice)},
		{snapglyph.EventTrialEnded, now.Add(-TrialNotice), now},
	} {
		rows, err := d.query(ctx, `SELECT o.id, o.trial_ends_at FROM orgs o WHERE o.plan = 'trial' AND o.trial_ends_at > ? AND o.trial_ends_at <= ?
			AND NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.dedupe_key = ? || o.id || ':' || CAST(o.trial_ends_at AS TEXT))`,
			ms(q.from), ms(q.to), q.kind+":")
		if err != nil {
			return 0, fmt.Errorf("store: trial events: %w", formatError(err))
		}
		for rows.Next() {
			x := due{kind: q.kind}
			if err := rows.Scan(&x.org, &x.ends); err != nil {
				rows.Close()
				return 0, err
			}
			todo = append(todo, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, formatError(err)
		}
	}
	wrote := 0
	for _, x := range todo {
		ev := &snapglyph.Event{Kind: x.kind, OrgID: x.org, Data: map[string]any{"trialEndsAt": fromMS(x.ends).Format(time.RFC3339)}}
		ok, err := d.Emit(ctx, ev, fmt.Sprintf("%s:%s:%d", x.kind, x.org, x.ends))
		if err != nil {
			return wrote, err
		}
		if ok {
			wrote++
		}
	}
	return wrote, nil
}

// PendingDeliveries counts the deliveries of a sink not done yet (due or
// not), for tests and metrics.
func (d *DB) PendingDeliveries(ctx context.Context, sink string) (int, error) {
	var n int
	if err := d.queryRow(ctx, `SELECT COUNT(*) FROM outbox_deliveries WHERE sink = ? AND done_at = 0`, sink).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: pending deliveries: %w", formatError(err))
	}
	return n, nil
}

// KeyExpiryNotice is how long before a key's expiry its organisation is
// told.
const KeyExpiryNotice = 7 * 24 * time.Hour

// EmitKeyExpiryEvents emits api_key.expiring for keys that expire within
// KeyExpiryNotice of now and api_key.expired for those whose expiry
// passed in the last KeyExpiryNotice, each once per key and expiry date
// (any number of nodes may run it at once; a new expiry date is told
// again), and returns how many it wrote. An expiry is written to the
// audit log with its api_key.expired event (key.expired), and so is the
// end of a timed pause (key.pause_ended, with its api_key.resumed
// event), once each, as the scan sees them. Revoked keys are left out, and
// so are rolled keys: a rolled key stops at its overlap's end (never
// later than its expiry), which the roll told, and the key that replaced
// it has its own expiry.
func (d *DB) EmitKeyExpiryEvents(ctx context.Context) (int, error) {
	// Each node runs the scans every minute: they read the keys in their
	// window through migration 019's indexes (TestScansAndPrunesUseIndexes).
	now := d.now()
	type due struct {
		kind                  string
		id, org, name, prefix string
		expires               int64
	}
	var todo []due
	for _, q := range []struct {
		kind     string
		from, to time.Time
	}{
		{snapglyph.EventKeyExpiring, now, now.Add(KeyExpiryNotice)},
		{snapglyph.EventKeyExpired, now.Add(-KeyExpiryNotice), now},
	} {
		rows, err := d.query(ctx, expiringKeysQuery, ms(q.from), ms(q.to), q.kind+":")
		if err != nil {
			return 0, fmt.Errorf("store: key expiry events: %w", formatError(err))
		}
		for rows.Next() {
			x := due{kind: q.kind}
			if err := rows.Scan(&x.id, &x.org, &x.name, &x.prefix, &x.expires); err != nil {
				rows.Close()
				return 0, err
			}
			todo = append(todo, x)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, formatError(err)
		}
	}
	wrote := 0
	for _, x := range todo {
		ev := &snapglyph.Event{Kind: x.kind, OrgID: x.org, Data: map[string]any{
			"keyId": x.id, "keyName": x.name, "keyPrefix": x.prefix, "expiresAt": fromMS(x.expires).Format(time.RFC3339),
		}}
		var ok bool
		err := d.tx(ctx, func(tx *Tx) error {
			var err error
			if ok, err = tx.emit(ctx, ev, fmt.Sprintf("%s:%s:%d", x.kind, x.id, x.expires)); err != nil || !ok || x.kind != snapglyph.EventKeyExpired {
				return err
			}
			// The expiry is in the audit log too, once, with its event
			// (emitted above with its dedupe key, so not by the audit).
			return tx.auditOnly(ctx, &snapglyph.AuditEvent{OrgID: x.org, Action: "key.expired", TargetID: x.id, TargetName: x.name,
				Detail: "expired at " + snapglyph.FormatTime(fromMS(x.expires))}, AutoActor)
		})
		if err != nil {
			return wrote, fmt.Errorf("store: emit %s: %w", x.kind, err)
		}
		if ok {
			wrote++
		}
	}
	return wrote, d.auditPauseEnds(ctx, now)
}

// The minute scans' queries: keys expiring or expired in a window (from,
// to] without the event of that kind and expiry yet (the kind's dedupe
// prefix), and keys whose timed pause ended in a window without its
// key.pause_ended.
const (
	expiringKeysQuery = `SELECT k.id, k.org_id, k.name, k.prefix, k.expires_at FROM api_keys k
		WHERE k.status <> 'revoked' AND k.replaced_by = '' AND k.expires_at > ? AND k.expires_at <= ?
		AND NOT EXISTS (SELECT 1 FROM outbox_events e WHERE e.dedupe_key = ? || k.id || ':' || CAST(k.expires_at AS TEXT))`
	pauseEndsQuery = `SELECT k.id FROM api_keys k WHERE k.status = 'paused' AND k.paused_until > ? AND k.paused_until <= ?
		AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.target_id = k.id AND a.action = 'key.pause_ended' AND a.at >= k.paused_until)`
)

// AutoActor is who the audit log names for what happens by itself: a
// key's expiry, the end of a timed pause. Its id is its own ("snapglyph"),
// not the operator's: a webhook receiver tells the two apart by actorId.
var AutoActor = snapglyph.Actor{System: "snapglyph", Label: "SnapGlyph (automatic)"}

// auditPauseEnds writes key.pause_ended, and with it the api_key.resumed
// event a resume sends (emitAudited), for each key whose timed pause
// ended in the last KeyExpiryNotice and has none yet (one written at or
// after the pause's end). The key's row lock makes nodes that scan at
// the same moment write it once; the event's dedupe key holds it to once
// as well.
func (d *DB) auditPauseEnds(ctx context.Context, now time.Time) error {
	rows, err := d.query(ctx, pauseEndsQuery, ms(now.Add(-KeyExpiryNotice)), ms(now))
	if err != nil {
		return fmt.Errorf("store: pause ends: %w", formatError(err))
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("store: pause ends: %w", formatError(err))
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: pause ends: %w", formatError(err))
	}
	for _, id := range ids {
		err := d.tx(ctx, func(tx *Tx) error {
			k, err := tx.lockKey(ctx, id)
			if err != nil {
				return err
			}
			if k.Status != snapglyph.KeyPaused || k.PausedUntil.IsZero() || k.PausedUntil.After(tx.now) {
				return nil // resumed, revoked or paused again meanwhile
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM audit_events WHERE target_id = ? AND action = 'key.pause_ended' AND at >= ?`,
				id, ms(k.PausedUntil)).Scan(&n); err != nil || n > 0 {
				return err
			}
			detail := "the pause until " + snapglyph.FormatTime(k.PausedUntil) + " ended; the key works again"
			if k.PausedReason != "" {
				detail = fmt.Sprintf("the pause until %s (reason %q) ended; the key works again", snapglyph.FormatTime(k.PausedUntil), k.PausedReason)
			}
			return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: k.OrgID, Action: "key.pause_ended", TargetID: k.ID, TargetName: k.Name, Detail: detail}, AutoActor)
		})
		if err != nil && snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			return fmt.Errorf("store: pause end of %s: %w", id, err)
		}
	}
	return nil
}
