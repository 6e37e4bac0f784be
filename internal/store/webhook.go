package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Webhook endpoints and their delivery log. An endpoint's deliveries are
// outbox rows of the sink SinkWebhook + its id (see outbox.go); this file
// keeps the endpoints and what each attempt gave.

const webhookColumns = `id, org_id, url, events, created_at, created_by, secret_at, disabled_at, disabled_reason`

func scanWebhook(row interface{ Scan(...any) error }, extra ...any) (*snapglyph.Webhook, error) {
	var w snapglyph.Webhook
	var events string
	var created, secretAt, disabled int64
	dest := append([]any{&w.ID, &w.OrgID, &w.URL, &events, &created, &w.CreatedBy, &secretAt, &disabled, &w.DisabledReason}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	w.Events = strings.Split(events, ",")
	w.CreatedAt, w.SecretAt, w.DisabledAt = fromMS(created), fromMS(secretAt), fromMS(disabled)
	return &w, nil
}

// CreateWebhook stores a new endpoint (w.ID, OrgID, URL, Events, Secret
// set by the caller) and records it in the audit log. Returns EFORBIDDEN
// (webhook_limit_reached) when the organisation has MaxWebhooks already.
// A non-empty nonce (the dashboard form's) creates at most one endpoint:
// ECONFLICT (webhook_already_created) the second time.
func (d *DB) CreateWebhook(ctx context.Context, w *snapglyph.Webhook, actor snapglyph.Actor, nonce string) error {
	err := d.tx(ctx, func(tx *Tx) error {
		if err := tx.lockOrg(ctx, w.OrgID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM webhooks WHERE org_id = ?`, w.OrgID).Scan(&n); err != nil {
			return err
		}
		if n >= snapglyph.MaxWebhooks {
			return snapglyph.Codef(snapglyph.EFORBIDDEN, "webhook_limit_reached", "the organisation has %d webhook endpoints, the most it may have; delete one first", n)
		}
		w.CreatedAt, w.SecretAt, w.CreatedBy = tx.now, tx.now, actor.Label
		createNonce := sql.NullString{String: nonce, Valid: nonce != ""}
		if _, err := tx.Exec(ctx, `INSERT INTO webhooks (id, org_id, url, events, secret, created_at, created_by, secret_at, create_nonce) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			w.ID, w.OrgID, w.URL, strings.Join(w.Events, ","), w.Secret, ms(w.CreatedAt), w.CreatedBy, ms(w.SecretAt), createNonce); err != nil {
			if nonce != "" && isUniqueViolation(err) {
				return snapglyph.Codef(snapglyph.ECONFLICT, "webhook_already_created",
					"this form already created its endpoint, whose signing secret was shown once and cannot be shown again")
			}
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: w.OrgID, Action: "webhook.created", TargetID: w.ID, TargetName: w.URL}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: create webhook: %w", err)
	}
	return nil
}

// Webhooks returns an organisation's endpoints, oldest first, without
// their secrets.
func (d *DB) Webhooks(ctx context.Context, orgID string) ([]*snapglyph.Webhook, error) {
	rows, err := d.query(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE org_id = ? ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, fmt.Errorf("store: webhooks: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, fmt.Errorf("store: webhooks: %w", err)
		}
		out = append(out, w)
	}
	return out, formatError(rows.Err())
}

// Webhook returns an endpoint without its secret. Returns ENOTFOUND.
func (d *DB) Webhook(ctx context.Context, id string) (*snapglyph.Webhook, error) {
	w, err := scanWebhook(d.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no webhook endpoint has the id %s", snapglyph.QuoteID(id))
	}
	return w, nil
}

// WebhookWithSecret returns an endpoint with its secret, to sign a
// delivery. Returns ENOTFOUND.
func (d *DB) WebhookWithSecret(ctx context.Context, id string) (*snapglyph.Webhook, error) {
	var secret string
	w, err := scanWebhook(d.queryRow(ctx, `SELECT `+webhookColumns+`, secret FROM webhooks WHERE id = ?`, id), &secret)
	if err != nil {
		return nil, notFound(err, "no webhook endpoint has the id %s", snapglyph.QuoteID(id))
	}
	w.Secret = secret
	return w, nil
}

// DeleteWebhook deletes an endpoint, its delivery log and its pending
// deliveries, and records it in the audit log. Returns ENOTFOUND.
func (d *DB) DeleteWebhook(ctx context.Context, w *snapglyph.Webhook, actor snapglyph.Actor) error {
	err := d.tx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM webhooks WHERE id = ?`, w.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return snapglyph.Errorf(snapglyph.ENOTFOUND, "no webhook endpoint has the id %s", snapglyph.QuoteID(w.ID))
		}
		if _, err := tx.Exec(ctx, `DELETE FROM outbox_deliveries WHERE sink = ? AND done_at = 0`, SinkWebhook+w.ID); err != nil {
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: w.OrgID, Action: "webhook.deleted", TargetID: w.ID, TargetName: w.URL}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: delete webhook: %w", err)
	}
	return nil
}

// RotateWebhookSecret replaces an endpoint's secret; the next delivery is
// signed with the new one. Returns ENOTFOUND.
func (d *DB) RotateWebhookSecret(ctx context.Context, w *snapglyph.Webhook, secret string, actor snapglyph.Actor) error {
	err := d.tx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE webhooks SET secret = ?, secret_at = ? WHERE id = ?`, secret, ms(tx.now), w.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return snapglyph.Errorf(snapglyph.ENOTFOUND, "no webhook endpoint has the id %s", snapglyph.QuoteID(w.ID))
		}
		w.Secret, w.SecretAt = secret, tx.now
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: w.OrgID, Action: "webhook.secret_rotated", TargetID: w.ID, TargetName: w.URL}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: rotate webhook secret: %w", err)
	}
	return nil
}

// EnableWebhook turns a disabled endpoint on again: events from now on
// are delivered to it. Returns ENOTFOUND, ECONFLICT (it is on).
func (d *DB) EnableWebhook(ctx context.Context, w *snapglyph.Webhook, actor snapglyph.Actor) error {
	err := d.tx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE webhooks SET disabled_at = 0, disabled_reason = '' WHERE id = ? AND disabled_at <> 0`, w.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, w.ID)); err != nil {
				return notFound(err, "no webhook endpoint has the id %s", snapglyph.QuoteID(w.ID))
			}
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the webhook endpoint %s is already enabled", w.URL)
		}
		w.DisabledAt, w.DisabledReason = time.Time{}, ""
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: w.OrgID, Action: "webhook.enabled", TargetID: w.ID, TargetName: w.URL}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: enable webhook: %w", err)
	}
	return nil
}

// DisableWebhook turns an endpoint off for a reason, ends its pending
// deliveries, and emits webhook.disabled (its Owners are told), once:
// it reports false, and does nothing, when the endpoint is off already
// or gone.
func (d *DB) DisableWebhook(ctx context.Context, id, reason string) (bool, error) {
	// The reason is the last delivery's error, which may hold the
	// receiver's text over several lines.
	reason = snapglyph.StorableMultiline(reason, 1000)
	var did bool
	err := d.tx(ctx, func(tx *Tx) error {
		w, err := scanWebhook(tx.QueryRow(ctx, `SELECT `+webhookColumns+` FROM webhooks WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `UPDATE webhooks SET disabled_at = ?, disabled_reason = ? WHERE id = ? AND disabled_at = 0`,
			ms(tx.now), reason, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		did = true
		if _, err := tx.Exec(ctx, `UPDATE outbox_deliveries SET done_at = ?, locked_until = 0, last_error = ? WHERE sink = ? AND done_at = 0`,
			ms(tx.now), "the endpoint was disabled", SinkWebhook+id); err != nil {
			return err
		}
		_, err = tx.emit(ctx, &snapglyph.Event{Kind: snapglyph.EventWebhookDisabled, OrgID: w.OrgID, Data: map[string]any{
			"webhookId": w.ID, "url": w.URL, "reason": reason,
		}}, "")
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: disable webhook: %w", err)
	}
	return did, nil
}

// AddWebhookAttempt records one attempt in an endpoint's delivery log.
func (d *DB) AddWebhookAttempt(ctx context.Context, a *snapglyph.WebhookAttempt) error {
	err := d.queryRow(ctx, `INSERT INTO webhook_attempts (webhook_id, event_id, event_kind, attempt, at, status, duration_ms, response, error)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?) RETURNING id`,
		a.WebhookID, a.EventID, a.Event, a.Attempt, ms(a.At), a.Status, a.Duration.Milliseconds(),
		snapglyph.StorableMultiline(a.Response, snapglyph.WebhookResponseKept), snapglyph.StorableMultiline(a.Error, 1000), a.WebhookID).Scan(&a.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the endpoint was deleted meanwhile
	} else if err != nil {
		return fmt.Errorf("store: add webhook attempt: %w", formatError(err))
	}
	return nil
}

// WebhookAttempts returns an endpoint's delivery log, newest first: at
// most limit attempts with an id below before (0: from the newest).
func (d *DB) WebhookAttempts(ctx context.Context, webhookID string, before int64, limit int) ([]*snapglyph.WebhookAttempt, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := d.query(ctx, `SELECT id, webhook_id, event_id, event_kind, attempt, at, status, duration_ms, response, error
		FROM webhook_attempts WHERE webhook_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, webhookID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: webhook attempts: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.WebhookAttempt
	for rows.Next() {
		var a snapglyph.WebhookAttempt
		var at, dur int64
		if err := rows.Scan(&a.ID, &a.WebhookID, &a.EventID, &a.Event, &a.Attempt, &at, &a.Status, &dur, &a.Response, &a.Error); err != nil {
			return nil, fmt.Errorf("store: webhook attempts: %w", err)
		}
		a.At, a.Duration = fromMS(at), time.Duration(dur)*time.Millisecond
		out = append(out, &a)
	}
	return out, formatError(rows.Err())
}

// ResendWebhookDelivery delivers an event to an endpoint again, now,
// with a new run of attempts (and retries), whether its delivery
// succeeded, was given up or is still being tried. Returns ENOTFOUND
// when the event is no longer kept (or is not the endpoint's
// organisation's).
func (d *DB) ResendWebhookDelivery(ctx context.Context, w *snapglyph.Webhook, eventID int64) error {
	err := d.tx(ctx, func(tx *Tx) error {
		var kind string
		err := tx.QueryRow(ctx, `SELECT kind FROM outbox_events WHERE id = ? AND org_id = ?`, eventID, w.OrgID).Scan(&kind)
		if err != nil {
			return notFound(err, "the event %d is no longer kept (events are kept %d days)", eventID, int(OutboxRetention.Hours()/24))
		}
		if !snapglyph.IsWebhookEvent(kind) || !w.Wants(kind) {
			return snapglyph.Errorf(snapglyph.EINVALID, "the event %d is %s, which the endpoint %s does not receive; only its events are resent to it", eventID, kind, w.URL)
		}
		sink := SinkWebhook + w.ID
		// A delivery a node is sending now (claimed, its claim not
		// expired) is left to it: reset under it, it would be sent
		// twice at once, or closed by the running attempt's end.
		res, err := tx.Exec(ctx, `UPDATE outbox_deliveries SET attempts = 0, next_at = ?, started_at = ?, done_at = 0, locked_until = 0, locked_by = '', last_error = ''
			WHERE event_id = ? AND sink = ? AND (done_at <> 0 OR locked_until <= ?)`, ms(tx.now), ms(tx.now), eventID, sink, ms(tx.now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		// The claim counted the attempt being made: attempts is its number,
		// the one the delivery log will show.
		var attempts int
		switch err := tx.QueryRow(ctx, `SELECT attempts FROM outbox_deliveries WHERE event_id = ? AND sink = ?`, eventID, sink).Scan(&attempts); {
		case err == nil:
			return snapglyph.Errorf(snapglyph.ECONFLICT, "the event %d is being sent to the endpoint right now (attempt %d); resend it once that attempt has ended", eventID, attempts)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO outbox_deliveries (event_id, sink, next_at, started_at) VALUES (?, ?, ?, ?)`, eventID, sink, ms(tx.now), ms(tx.now))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: resend webhook delivery: %w", err)
	}
	return nil
}
