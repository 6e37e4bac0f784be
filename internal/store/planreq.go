package store

import (
	"context"
	"fmt"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

const planRequestColumns = `r.id, r.org_id, o.name, r.from_plan, r.plan, r.requested_by, r.requested_by_label, r.created_at, r.status, r.closed_at, r.closed_by_label, r.note`

func scanPlanRequest(row interface{ Scan(...any) error }) (*snapglyph.PlanRequest, error) {
	var p snapglyph.PlanRequest
	var from, plan, status string
	var created, closed int64
	if err := row.Scan(&p.ID, &p.OrgID, &p.OrgName, &from, &plan, &p.By, &p.ByLabel, &created, &status, &closed, &p.ClosedBy, &p.Note); err != nil {
		return nil, err
	}
	p.From, p.Plan, p.Status = snapglyph.Plan(from), snapglyph.Plan(plan), snapglyph.PlanRequestStatus(status)
	p.CreatedAt, p.ClosedAt = fromMS(created), fromMS(closed)
	return &p, nil
}

// CreatePlanRequest records an Owner's request to change plan, with its
// audit event (org.plan_change_requested), in one transaction. Returns
// ECONFLICT (plan_request_pending) if the organisation has a pending
// request already.
func (d *DB) CreatePlanRequest(ctx context.Context, p *snapglyph.PlanRequest, actor snapglyph.Actor) error {
	err := d.tx(ctx, func(tx *Tx) error {
		p.CreatedAt, p.Status, p.By, p.ByLabel = tx.now, snapglyph.PlanRequestPending, actor.String(), actor.Label
		_, err := tx.Exec(ctx, `INSERT INTO plan_requests (id, org_id, from_plan, plan, requested_by, requested_by_label, created_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			p.ID, p.OrgID, string(p.From), string(p.Plan), p.By, p.ByLabel, ms(p.CreatedAt), string(p.Status))
		if err != nil {
			if isUniqueViolation(err) {
				return snapglyph.Codef(snapglyph.ECONFLICT, "plan_request_pending", "a plan change is already waiting for the operator; cancel it before asking for another")
			}
			return err
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: p.OrgID, Action: "org.plan_change_requested", TargetID: p.ID,
			TargetName: string(p.Plan), Detail: "from " + string(p.From) + " to " + string(p.Plan)}, actor)
	})
	if err != nil {
		return fmt.Errorf("store: create plan request: %w", err)
	}
	return nil
}

// PendingPlanRequest returns the organisation's pending request. Returns
// ENOTFOUND if there is none.
func (d *DB) PendingPlanRequest(ctx context.Context, orgID string) (*snapglyph.PlanRequest, error) {
	p, err := scanPlanRequest(d.queryRow(ctx, `SELECT `+planRequestColumns+` FROM plan_requests r JOIN orgs o ON o.id = r.org_id
		WHERE r.org_id = ? AND r.status = 'pending'`, orgID))
	if err != nil {
		return nil, notFound(err, "no plan change is waiting for the operator")
	}
	return p, nil
}

// PlanRequest returns the request with the id. Returns ENOTFOUND.
func (d *DB) PlanRequest(ctx context.Context, id string) (*snapglyph.PlanRequest, error) {
	p, err := scanPlanRequest(d.queryRow(ctx, `SELECT `+planRequestColumns+` FROM plan_requests r JOIN orgs o ON o.id = r.org_id WHERE r.id = ?`, id))
	if err != nil {
		return nil, notFound(err, "no plan request has the id %s", snapglyph.QuoteID(id))
	}
	return p, nil
}

// PlanRequests returns requests, oldest first: the pending ones, or all
// (at most limit).
func (d *DB) PlanRequests(ctx context.Context, all bool, limit int) ([]*snapglyph.PlanRequest, error) {
	q := `SELECT ` + planRequestColumns + ` FROM plan_requests r JOIN orgs o ON o.id = r.org_id`
	if !all {
		q += ` WHERE r.status = 'pending'`
	}
	rows, err := d.query(ctx, q+` ORDER BY r.created_at, r.id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: plan requests: %w", formatError(err))
	}
	defer rows.Close()
	var out []*snapglyph.PlanRequest
	for rows.Next() {
		p, err := scanPlanRequest(rows)
		if err != nil {
			return nil, fmt.Errorf("store: plan requests: %w", formatError(err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: plan requests: %w", formatError(err))
	}
	return out, nil
}

// ClosePlanRequest ends a pending request as refused or cancelled (with
// an optional note), with its audit event (org.plan_request_refused or
// org.plan_request_cancelled). orgID, if set, must be the request's.
// Returns ENOTFOUND, and ECONFLICT (plan_request_closed) if it is no
// longer pending.
func (d *DB) ClosePlanRequest(ctx context.Context, id, orgID string, status snapglyph.PlanRequestStatus, note string, actor snapglyph.Actor) (*snapglyph.PlanRequest, error) {
	var p *snapglyph.PlanRequest
	err := d.tx(ctx, func(tx *Tx) error {
		var err error
		p, err = scanPlanRequest(tx.QueryRow(ctx, `SELECT `+planRequestColumns+` FROM plan_requests r JOIN orgs o ON o.id = r.org_id WHERE r.id = ?`, id))
		if err != nil {
			return notFound(err, "no plan request has the id %s", snapglyph.QuoteID(id))
		}
		if orgID != "" && p.OrgID != orgID {
			return snapglyph.Errorf(snapglyph.ENOTFOUND, "no plan request has the id %s", snapglyph.QuoteID(id))
		}
		res, err := tx.Exec(ctx, `UPDATE plan_requests SET status = ?, closed_at = ?, closed_by_label = ?, note = ? WHERE id = ? AND status = 'pending'`,
			string(status), ms(tx.now), actor.Label, note, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return snapglyph.Codef(snapglyph.ECONFLICT, "plan_request_closed", "the request to change to %s is %s already", snapglyph.PlanName(p.Plan), p.Status)
		}
		p.Status, p.ClosedAt, p.ClosedBy, p.Note = status, tx.now, actor.Label, note
		detail := "to " + string(p.Plan)
		if note != "" {
			detail += ": " + note
		}
		return tx.audit(ctx, &snapglyph.AuditEvent{OrgID: p.OrgID, Action: "org.plan_request_" + string(status), TargetID: p.ID, TargetName: string(p.Plan), Detail: detail}, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: close plan request: %w", err)
	}
	return p, nil
}

// closePendingPlanRequest ends the organisation's pending request, if
// any, when the operator sets its plan: approved if that is the plan it
// asked for, superseded otherwise. It returns the closed request's id.
func (tx *Tx) closePendingPlanRequest(ctx context.Context, orgID string, plan snapglyph.Plan, actor snapglyph.Actor) (string, error) {
	var id, asked string
	err := tx.QueryRow(ctx, `SELECT id, plan FROM plan_requests WHERE org_id = ? AND status = 'pending'`, orgID).Scan(&id, &asked)
	if err != nil {
		if snapglyph.ErrorKind(formatError(err)) == snapglyph.ENOTFOUND {
			return "", nil
		}
		return "", err
	}
	status := snapglyph.PlanRequestApproved
	if asked != string(plan) {
		status = snapglyph.PlanRequestSuperseded
	}
	_, err = tx.Exec(ctx, `UPDATE plan_requests SET status = ?, closed_at = ?, closed_by_label = ? WHERE id = ?`, string(status), ms(tx.now), actor.Label, id)
	return id, err
}

// LastPlanRequest returns the organisation's latest request, whatever its
// status. Returns ENOTFOUND if it never made one.
func (d *DB) LastPlanRequest(ctx context.Context, orgID string) (*snapglyph.PlanRequest, error) {
	p, err := scanPlanRequest(d.queryRow(ctx, `SELECT `+planRequestColumns+` FROM plan_requests r JOIN orgs o ON o.id = r.org_id
		WHERE r.org_id = ? ORDER BY r.created_at DESC, r.id DESC LIMIT 1`, orgID))
	if err != nil {
		return nil, notFound(err, "the organisation made no plan request")
	}
	return p, nil
}
