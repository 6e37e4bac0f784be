package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

type subscriptionPage struct {
	base
	Status     string // "Trial", "Trial ended", "Active"
	Limits     snapglyph.PlanLimits
	APICalls   int64
	Credits    int64
	HasAPI     bool
	TrialEnds  time.Time
	RenewsAt   time.Time
	SeatsTaken int
	SeatLimit  int
}

func (a *app) handleSubscription(w http.ResponseWriter, r *http.Request) {
	b, err := a.newBase(w, r, "Subscription", "subscription")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	org, err := a.svc.Subscription(r.Context(), actor(r), b.Org.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.now()
	_, resets := snapglyph.Period(now)
	p := &subscriptionPage{base: b, Limits: org.Plan.Limits(), APICalls: org.APICallLimit(), Credits: org.ImageCreditLimit(),
		HasAPI: org.HasAPI(now), RenewsAt: resets}
	switch {
	case org.Plan == snapglyph.PlanTrial && now.Before(org.TrialEndsAt):
		p.Status, p.TrialEnds = "Trial", org.TrialEndsAt
	case org.Plan == snapglyph.PlanTrial:
		p.Status, p.TrialEnds = "Trial ended", org.TrialEndsAt
	default:
		p.Status = "Active"
	}
	if p.SeatsTaken, p.SeatLimit, err = a.svc.Seats(r.Context(), org); err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "subscription.html", p)
}

// PlanName is the plan as the dashboard writes it.
func (p *subscriptionPage) PlanName() string {
	switch p.Org.Plan {
	case snapglyph.PlanTrial:
		return "Pro (trial)"
	case snapglyph.PlanPro:
		return "Pro"
	case snapglyph.PlanMax:
		return "Max"
	}
	return "Starter"
}

// auditPageSize is how many events the audit log shows per page.
const auditPageSize = 50

type auditPage struct {
	base
	Events []*snapglyph.AuditEvent
	Older  int64 // the "Older events" link's cursor; 0: none
	Paged  bool  // not the first page
}

func (a *app) handleAudit(w http.ResponseWriter, r *http.Request) {
	b, err := a.newBase(w, r, "Audit log", "audit")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	events, err := a.svc.AuditLog(r.Context(), actor(r), b.Org.ID, before, auditPageSize+1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := &auditPage{base: b, Events: events, Paged: before > 0}
	if len(events) > auditPageSize {
		p.Events = events[:auditPageSize]
		p.Older = p.Events[auditPageSize-1].ID
	}
	a.render(w, r, http.StatusOK, "audit.html", p)
}

type profilePage struct {
	base
	Memberships []*store.Membership
}

func (a *app) handleProfile(w http.ResponseWriter, r *http.Request) {
	b, err := a.newBase(w, r, "Profile", "profile")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ms, err := a.svc.Memberships(r.Context(), b.User.UserID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "profile.html", &profilePage{base: b, Memberships: ms})
}

// handleSwitchOrg moves the session to another of the user's
// organisations, with a new token.
func (a *app) handleSwitchOrg(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		a.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	s := sessionFrom(r.Context())
	ns, err := a.svc.SwitchOrg(r.Context(), s.Session, s.Token, r.PostForm.Get("org"), client(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.setSessionCookie(w, r, ns)
	redirectWith(w, r, "/qr-codes", "success", "Switched organisation.")
}
