package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
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
	// Plan changes: the plans to choose from, how a change takes effect,
	// the request waiting for the operator (or the last one closed), and
	// the change being confirmed (the dialog).
	Choices   []planChoice
	SelfServe bool
	Pending   *snapglyph.PlanRequest
	Last      *snapglyph.PlanRequest
	Change    *service.PlanImpact
}

// planChoice is one plan the Owner may change to.
type planChoice struct {
	Plan    snapglyph.Plan
	Name    string
	Limits  snapglyph.PlanLimits
	Current bool
}

// subscriptionData gathers the Subscription page.
func (a *app) subscriptionData(w http.ResponseWriter, r *http.Request) (*subscriptionPage, error) {
	b, err := a.newBase(w, r, "Subscription", "subscription")
	if err != nil {
		return nil, err
	}
	org, err := a.svc.Subscription(r.Context(), actor(r), b.Org.ID)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	p.SelfServe = a.svc.PlanChangeMode() == service.PlanChangesSelfServe
	for _, c := range service.ChoosablePlans {
		p.Choices = append(p.Choices, planChoice{Plan: c, Name: snapglyph.PlanName(c), Limits: c.Limits(), Current: c == org.Plan})
	}
	if p.Last, err = a.svc.LastPlanRequest(r.Context(), actor(r), org.ID); err != nil {
		return nil, err
	}
	if p.Last != nil && p.Last.Status == snapglyph.PlanRequestPending {
		p.Pending, p.Last = p.Last, nil
	}
	return p, nil
}

func (a *app) handleSubscription(w http.ResponseWriter, r *http.Request) {
	p, err := a.subscriptionData(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "subscription.html", p)
}

// handleSubscriptionChange draws the confirmation of a plan change over
// the page: what the organisation gains and, for a downgrade, what it
// loses, before the Owner confirms.
func (a *app) handleSubscriptionChange(w http.ResponseWriter, r *http.Request) {
	p, err := a.subscriptionData(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if p.Pending != nil {
		redirectWith(w, r, "/settings/subscription", "error", "A change to "+snapglyph.PlanName(p.Pending.Plan)+" is waiting for the operator. Cancel it before asking for another.")
		return
	}
	im, err := a.svc.PlanImpact(r.Context(), actor(r), p.Org.ID, r.URL.Query().Get("plan"))
	if err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.EINVALID {
			redirectWith(w, r, "/settings/subscription", "error", sentence(snapglyph.ErrorMessage(err)))
			return
		}
		a.fail(w, r, err)
		return
	}
	p.Change = im
	a.render(w, r, http.StatusOK, "subscription.html", p)
}

// handlePlanChange carries out the confirmed change: at once
// (self-serve) or as a request to the operator.
func (a *app) handlePlanChange(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "plan") {
		return
	}
	s := sessionFrom(r.Context())
	ch, err := a.svc.ChangePlan(r.Context(), actor(r), s.OrgID, r.PostForm.Get("plan"))
	if err != nil {
		switch snapglyph.ErrorKind(err) {
		case snapglyph.EINVALID, snapglyph.ECONFLICT:
			redirectWith(w, r, "/settings/subscription", "error", sentence(snapglyph.ErrorMessage(err)))
		default:
			a.fail(w, r, err)
		}
		return
	}
	if ch.Applied {
		a.log.Info("plan changed by its owner", "org", s.OrgID, "plan", string(ch.Plan))
		redirectWith(w, r, "/settings/subscription", "success", "Your organisation is now on the "+snapglyph.PlanName(ch.Plan)+" plan.")
		return
	}
	// Operators find requests with "snapglyph org requests"; the log
	// tells them one came.
	a.log.Info("plan change requested", "request", ch.Request.ID, "org", s.OrgID, "from", string(ch.Request.From), "to", string(ch.Plan),
		"approve", "snapglyph org set-plan "+s.OrgID+" "+string(ch.Plan))
	redirectWith(w, r, "/settings/subscription", "success", "Your request to change to "+snapglyph.PlanName(ch.Plan)+" was sent to the operator. The plan changes when they approve it; you can cancel it until then.")
}

// handlePlanRequestCancel withdraws the Owner's pending request.
func (a *app) handlePlanRequestCancel(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	s := sessionFrom(r.Context())
	req, err := a.svc.CancelPlanRequest(r.Context(), actor(r), s.OrgID, r.PathValue("id"))
	if err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.ECONFLICT {
			redirectWith(w, r, "/settings/subscription", "error", sentence(snapglyph.ErrorMessage(err)))
			return
		}
		a.fail(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/subscription", "success", "Your request to change to "+snapglyph.PlanName(req.Plan)+" is cancelled.")
}

// PlanName is the plan as the dashboard writes it.
func (p *subscriptionPage) PlanName() string {
	if p.Org.Plan == "" {
		return "Starter"
	}
	return snapglyph.PlanName(p.Org.Plan)
}

// PlanLabel writes a plan for the templates.
func (p *subscriptionPage) PlanLabel(pl snapglyph.Plan) string { return snapglyph.PlanName(pl) }

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
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			a.renderError(w, r, http.StatusBadRequest, "Bad request", "The page of the audit log asked for does not exist.")
			return
		}
	}
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
	Memberships   []*snapglyph.Membership
	Mail          *mailPrefs
	OtherSessions int                      // the person's live sessions besides this one
	Sessions      []*snapglyph.LiveSession // this one first, then the others (at most service.SessionListLimit)
	Password      *passwordForm
}

// GetsNotices reports whether the person is an Owner or Admin somewhere:
// notifications go to those roles only, so a person who is a Member in
// every organisation gets none, by mail or on the page.
func (p *profilePage) GetsNotices() bool {
	for _, m := range p.Memberships {
		if m.Role.CanManageKeys() {
			return true
		}
	}
	return false
}

// passwordForm is the state of the profile's password change form after
// a refused change: its errors (by field) and a message for the form.
type passwordForm struct {
	Errors map[string]string
	Error  string
}

// profileData gathers the profile page.
func (a *app) profileData(w http.ResponseWriter, r *http.Request) (*profilePage, error) {
	b, err := a.newBase(w, r, "Profile", "profile")
	if err != nil {
		return nil, err
	}
	p := &profilePage{base: b, Password: &passwordForm{Errors: map[string]string{}}}
	if p.Memberships, err = a.svc.Memberships(r.Context(), b.User.UserID); err != nil {
		return nil, err
	}
	if p.Mail, err = a.mailPrefs(r); err != nil {
		return nil, err
	}
	if p.OtherSessions, err = a.svc.OtherSessions(r.Context(), b.User.Session); err != nil {
		return nil, err
	}
	if p.Sessions, err = a.svc.Sessions(r.Context(), b.User.Session); err != nil {
		return nil, err
	}
	return p, nil
}

func (a *app) handleProfile(w http.ResponseWriter, r *http.Request) {
	p, err := a.profileData(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "profile.html", p)
}

// handleSwitchOrg moves the session to another of the user's
// organisations, with a new token.
func (a *app) handleSwitchOrg(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "org") {
		return
	}
	s := sessionFrom(r.Context())
	ns, err := a.svc.SwitchOrg(r.Context(), s.Session, s.Token, r.PostForm.Get("org"), client(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.setSessionCookie(w, r, ns)
	msg := "Switched organisation."
	if ms, err := a.svc.Memberships(r.Context(), ns.UserID); err == nil {
		for _, m := range ms {
			if m.OrgID == ns.OrgID {
				msg = "You are now in " + snapglyph.Shorten(m.OrgName, 100) + " as " + snapglyph.RoleName(m.Role) + "."
			}
		}
	}
	redirectWith(w, r, "/qr-codes", "success", msg)
}
