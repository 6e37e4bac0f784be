package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

func (tx *Tx) audit(ctx context.Context, e *snapglyph.AuditEvent, actor snapglyph.Actor) error {
	if err := tx.auditOnly(ctx, e, actor); err != nil {
		return err
	}
	// An audited change that people are told about is an event too,
	// written in the same transaction (see outbox.go).
	return tx.emitAudited(ctx, e)
}

// auditOnly writes the audit event without its outbox event: for a
// caller that emits the event itself (with its own dedupe key).
func (tx *Tx) auditOnly(ctx context.Context, e *snapglyph.AuditEvent, actor snapglyph.Actor) error {
	e.Actor, e.ActorLabel, e.IP, e.At = actor.String(), actor.Label, actor.IP, tx.now
	_, err := tx.Exec(ctx, `INSERT INTO audit_events (org_id, action, actor, actor_label, target_id, target_name, detail, ip, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.OrgID, e.Action, e.Actor, e.ActorLabel, e.TargetID, e.TargetName, e.Detail, e.IP, ms(e.At))
	return err
}

const auditColumns = `id, org_id, action, actor, actor_label, target_id, target_name, detail, ip, at`

// AuditEvents returns an organisation's audit log, newest first, at most
// limit events with an id below before (0: from the newest).
func (d *DB) AuditEvents(ctx context.Context, orgID string, before int64, limit int) ([]*snapglyph.AuditEvent, error) {
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := d.query(ctx, `SELECT `+auditColumns+` FROM audit_events
		WHERE org_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, orgID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit events: %w", formatError(err))
	}
	return scanAuditEvents(rows)
}

func scanAuditEvents(rows *sql.Rows) ([]*snapglyph.AuditEvent, error) {
	defer rows.Close()
	var events []*snapglyph.AuditEvent
	for rows.Next() {
		var e snapglyph.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.OrgID, &e.Action, &e.Actor, &e.ActorLabel, &e.TargetID, &e.TargetName, &e.Detail, &e.IP, &at); err != nil {
			return nil, err
		}
		e.At = fromMS(at)
		events = append(events, &e)
	}
	return events, formatError(rows.Err())
}
