package service

import (
	"context"
	"fmt"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// PlanChangeMode says how an Owner's plan change from the Subscription
// page takes effect (serve --plan-changes).
type PlanChangeMode string

const (
	// PlanChangesOperator (the default): the Owner sends a request, which
	// the operator approves with org set-plan or refuses with org
	// requests --refuse.
	PlanChangesOperator PlanChangeMode = "operator"
	// PlanChangesSelfServe: the Owner's change takes effect at once (for
	// self-hosted servers where plans are limits, not invoices).
	PlanChangesSelfServe PlanChangeMode = "self-serve"
)

// ParsePlanChangeMode reads "operator" or "self-serve". Returns EINVALID.
func ParsePlanChangeMode(s string) (PlanChangeMode, error) {
	switch m := PlanChangeMode(strings.ToLower(strings.TrimSpace(s))); m {
	case PlanChangesOperator, PlanChangesSelfServe:
		return m, nil
	}
	return "", snapglyph.Errorf(snapglyph.EINVALID, "%q is not a way to change plans: use self-serve or operator", s)
}

// PlanChangeMode returns how Owners' plan changes take effect.
func (s *Service) PlanChangeMode() PlanChangeMode {
	if s.PlanChanges == "" {
		return PlanChangesOperator
	}
	return s.PlanChanges
}

// ChoosablePlans are the plans an Owner may change to (the trial is
// given, not chosen).
var ChoosablePlans = []snapglyph.Plan{snapglyph.PlanStarter, snapglyph.PlanPro, snapglyph.PlanMax}

// PlanImpact is what changing an organisation's plan would do, shown
// before the Owner confirms.
type PlanImpact struct {
	Org      *snapglyph.Org
	From, To snapglyph.Plan // From is the plan whose rules apply now
	Mode     PlanChangeMode
	// Losses are what the organisation loses, one sentence each; Gains
	// what it gains. A downgrade has losses.
	Losses, Gains []string
}

// Downgrade reports whether the change loses anything.
func (p *PlanImpact) Downgrade() bool { return len(p.Losses) > 0 }

// authorizeOwner checks that actor is the organisation's Owner: billing is
// the Owner's. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) authorizeOwner(ctx context.Context, actor snapglyph.Actor, orgID string) (*snapglyph.Org, error) {
	if actor.UserID == "" {
		return nil, snapglyph.Errorf(snapglyph.EFORBIDDEN, "the operator changes plans with org set-plan")
	}
	return s.Subscription(ctx, actor, orgID)
}

// PlanImpact says what changing to the plan would do: API access, the
// monthly allowances, members above the seat limit, QR codes above the
// limit, webhooks and the request log's history. Owners only. Returns
// EINVALID (not Starter, Pro or Max, or the plan the organisation is on),
// ENOTFOUND, EFORBIDDEN.
func (s *Service) PlanImpact(ctx context.Context, actor snapglyph.Actor, orgID, planName string) (*PlanImpact, error) {
	org, err := s.authorizeOwner(ctx, actor, orgID)
	if err != nil {
		return nil, err
	}
	to, err := snapglyph.ParsePlan(planName)
	if err != nil || !choosable(to) {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "choose Starter, Pro or Max")
	}
	if org.Plan == to {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "the organisation is on the %s plan already", snapglyph.PlanName(to))
	}
	now := s.db.Now()
	from := org.EffectivePlan(now)
	p := &PlanImpact{Org: org, From: from, To: to, Mode: s.PlanChangeMode()}
	fl, tl := from.Limits(), to.Limits()
	switch {
	case fl.API && !tl.API:
		keys, err := s.db.Keys(ctx, orgID, false)
		if err != nil {
			return nil, err
		}
		working := 0
		for _, k := range keys {
			if k.StateAt(now) == snapglyph.StateActive {
				working++
			}
		}
		p.Losses = append(p.Losses, fmt.Sprintf("API access: the organisation's working API keys (%d) stop working at once; requests are refused with 403 api_not_in_plan. The keys are kept and work again on Pro or Max.",
			working))
	case !fl.API && tl.API:
		p.Gains = append(p.Gains, "API access, with API keys")
	}
	if tl.API {
		calls, credits := tl.APICalls, tl.ImageCredits
		if org.APICallsLimit != nil {
			calls = *org.APICallsLimit
		}
		if org.ImageCreditsLimit != nil {
			credits = *org.ImageCreditsLimit
		}
		if fl.API && (calls < org.APICallLimit() || credits < org.ImageCreditLimit()) {
			p.Losses = append(p.Losses, fmt.Sprintf("Monthly allowances: %s API calls and %s image generation credits instead of %s and %s; what was used this month counts against them.",
				snapglyph.FormatCount(calls), snapglyph.FormatCount(credits), snapglyph.FormatCount(org.APICallLimit()), snapglyph.FormatCount(org.ImageCreditLimit())))
		} else if !fl.API || calls > org.APICallLimit() {
			p.Gains = append(p.Gains, fmt.Sprintf("%s API calls and %s image generation credits a month", snapglyph.FormatCount(calls), snapglyph.FormatCount(credits)))
		}
	}
	taken, err := s.db.SeatsTaken(ctx, orgID)
	if err != nil {
		return nil, err
	}
	switch {
	case tl.Seats >= 0 && (fl.Seats < 0 || tl.Seats < fl.Seats) && taken > tl.Seats:
		p.Losses = append(p.Losses, fmt.Sprintf("Team members: %s includes %s and your organisation uses %d (members and pending invitations). Nobody is removed, but no one can be invited until you are within the limit: remove members in Company first.",
			snapglyph.PlanName(to), plural(tl.Seats, "seat", "seats"), taken))
	case tl.Seats >= 0 && (fl.Seats < 0 || tl.Seats < fl.Seats):
		p.Losses = append(p.Losses, fmt.Sprintf("Team members: at most %s (you use %d).", plural(tl.Seats, "seat", "seats"), taken))
	case tl.Seats < 0 && fl.Seats >= 0:
		p.Gains = append(p.Gains, "unlimited team members")
	case tl.Seats > fl.Seats:
		p.Gains = append(p.Gains, plural(tl.Seats, "seat", "seats"))
	}
	if tl.QRCodes >= 0 && (fl.QRCodes < 0 || tl.QRCodes < fl.QRCodes) {
		have, err := s.db.CountQRCodes(ctx, orgID)
		if err != nil {
			return nil, err
		}
		if have > tl.QRCodes {
			p.Losses = append(p.Losses, fmt.Sprintf("QR codes: %s holds %d and your organisation has %d. They keep working, but no new code can be created until you have fewer than %d: delete some first.",
				snapglyph.PlanName(to), tl.QRCodes, have, tl.QRCodes))
		} else {
			p.Losses = append(p.Losses, fmt.Sprintf("QR codes: at most %d (you have %d).", tl.QRCodes, have))
		}
	} else if tl.QRCodes < 0 && fl.QRCodes >= 0 {
		p.Gains = append(p.Gains, "unlimited QR codes")
	}
	if from == snapglyph.PlanMax && to != snapglyph.PlanMax {
		hooks, err := s.db.Webhooks(ctx, orgID)
		if err != nil {
			return nil, err
		}
		if len(hooks) > 0 {
			p.Losses = append(p.Losses, fmt.Sprintf("Webhooks: a Max feature. Your %s will stop receiving events (kept, and deliver again after an upgrade to Max).",
				plural(len(hooks), "endpoint", "endpoints")))
		} else {
			p.Losses = append(p.Losses, "Webhooks: a Max feature (you have no endpoints).")
		}
	}
	if days, keep := s.logRetention().Days(from), s.logRetention().Days(to); keep < days {
		p.Losses = append(p.Losses, fmt.Sprintf("Request log history: %d days instead of %d; older entries are deleted.", keep, days))
	} else if keep > days {
		p.Gains = append(p.Gains, fmt.Sprintf("%d days of request log history", keep))
	}
	return p, nil
}

func choosable(p snapglyph.Plan) bool {
	for _, c := range ChoosablePlans {
		if c == p {
			return true
		}
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// PlanChange is the outcome of an Owner's plan change: applied at once
// (self-serve), or a request waiting for the operator.
type PlanChange struct {
	Applied bool
	Plan    snapglyph.Plan
	Request *snapglyph.PlanRequest
}

// ChangePlan changes the organisation's plan as its Owner asks: at once
// when plan changes are self-serve (audit org.plan_changed), otherwise as
// a request for the operator (audit org.plan_change_requested). Returns
// what PlanImpact returns, and ECONFLICT (plan_request_pending) while
// another request waits.
func (s *Service) ChangePlan(ctx context.Context, actor snapglyph.Actor, orgID, planName string) (*PlanChange, error) {
	impact, err := s.PlanImpact(ctx, actor, orgID, planName)
	if err != nil {
		return nil, err
	}
	if s.PlanChangeMode() == PlanChangesSelfServe {
		if err := s.db.SetPlan(ctx, orgID, impact.To, actor); err != nil {
			return nil, err
		}
		s.changed(ctx, snapglyph.ChangeOrg, orgID)
		return &PlanChange{Applied: true, Plan: impact.To}, nil
	}
	req := &snapglyph.PlanRequest{ID: snapglyph.NewID("preq"), OrgID: orgID, OrgName: impact.Org.Name, From: impact.Org.Plan, Plan: impact.To}
	if err := s.db.CreatePlanRequest(ctx, req, actor); err != nil {
		return nil, err
	}
	return &PlanChange{Plan: impact.To, Request: req}, nil
}

// PendingPlanRequest returns the organisation's request waiting for the
// operator, or nil. Owners only.
func (s *Service) PendingPlanRequest(ctx context.Context, actor snapglyph.Actor, orgID string) (*snapglyph.PlanRequest, error) {
	if _, err := s.authorizeOwner(ctx, actor, orgID); err != nil {
		return nil, err
	}
	p, err := s.db.PendingPlanRequest(ctx, orgID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil, nil
	}
	return p, err
}

// CancelPlanRequest withdraws the Owner's pending request (audit
// org.plan_request_cancelled). Returns ENOTFOUND, EFORBIDDEN, and
// ECONFLICT (plan_request_closed) if the operator closed it already.
func (s *Service) CancelPlanRequest(ctx context.Context, actor snapglyph.Actor, orgID, id string) (*snapglyph.PlanRequest, error) {
	if _, err := s.authorizeOwner(ctx, actor, orgID); err != nil {
		return nil, err
	}
	return s.db.ClosePlanRequest(ctx, id, orgID, snapglyph.PlanRequestCancelled, "", actor)
}

// PlanRequests lists plan requests for the operator, oldest first: the
// pending ones, or all (the latest 1,000). Returns EFORBIDDEN for anyone
// else.
func (s *Service) PlanRequests(ctx context.Context, actor snapglyph.Actor, all bool) ([]*snapglyph.PlanRequest, error) {
	if actor.UserID != "" {
		return nil, snapglyph.Errorf(snapglyph.EFORBIDDEN, "plan requests are the operator's")
	}
	return s.db.PlanRequests(ctx, all, 1000)
}

// RefusePlanRequest refuses a pending request, with an optional reason
// the Owner sees (audit org.plan_request_refused). The operator approves
// a request with SetPlan. Returns EINVALID (the reason), EFORBIDDEN,
// ENOTFOUND, ECONFLICT (plan_request_closed).
func (s *Service) RefusePlanRequest(ctx context.Context, actor snapglyph.Actor, id, reason string) (*snapglyph.PlanRequest, error) {
	if actor.UserID != "" {
		return nil, snapglyph.Errorf(snapglyph.EFORBIDDEN, "plan requests are refused by the operator")
	}
	reason, err := snapglyph.NormalizeReason(reason)
	if err != nil {
		return nil, err
	}
	return s.db.ClosePlanRequest(ctx, id, "", snapglyph.PlanRequestRefused, reason, actor)
}

// LastPlanRequest returns the organisation's latest request (any status)
// or nil, so the Owner sees a refusal. Owners only.
func (s *Service) LastPlanRequest(ctx context.Context, actor snapglyph.Actor, orgID string) (*snapglyph.PlanRequest, error) {
	if _, err := s.authorizeOwner(ctx, actor, orgID); err != nil {
		return nil, err
	}
	p, err := s.db.LastPlanRequest(ctx, orgID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return nil, nil
	}
	return p, err
}
