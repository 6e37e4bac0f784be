package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/web"
)

// TestPlanChangePages: the Owner chooses a plan on the Subscription page,
// sees what a downgrade loses before confirming, and (operator approval)
// sends a request the page shows pending and lets them cancel; self-serve
// applies at once. Admins and Members cannot.
func TestPlanChangePages(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		var logged testdb.Buffer
		e := newEnv(t, db, func(d *web.Deps) { d.Log = slog.New(slog.NewTextHandler(&logged, nil)) })
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		b.createKey("Production-WebApp")

		p := b.get("/settings/subscription")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Change plan", "the operator approves plan changes", `href="/settings/subscription/change?plan=starter"`,
			`href="/settings/subscription/change?plan=max"`, "Current plan", "There is no payment here")
		expectNotContains(t, p, `href="/settings/subscription/change?plan=pro"`, "contact them")

		p = b.get("/settings/subscription/change?plan=starter")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "<dialog open", "Change from Pro to Starter?", "Your organisation loses:",
			"API access: the organisation&#39;s working API keys (1) stop working at once", "QR codes: at most 5", "Request Starter",
			`<input type="hidden" name="plan" value="starter">`, "nothing changes until then")
		p = b.get("/settings/subscription/change?plan=max")
		expectContains(t, p, "Your organisation gains:", "unlimited team members", "Request Max")
		expectNotContains(t, p, "Your organisation loses:")
		for _, bad := range []string{"gold", "pro", "trial", ""} {
			expectContains(t, b.follow(b.get("/settings/subscription/change?plan="+url.QueryEscape(bad))), "flash-error")
		}

		// Admins and Members neither see nor send it.
		admin, member := e.browser(), e.browser()
		admin.signIn(e.member(org, snapglyph.RoleAdmin))
		member.signIn(e.member(org, snapglyph.RoleMember))
		for _, x := range []*browser{admin, member} {
			expectStatus(t, x.get("/settings/subscription/change?plan=max"), http.StatusForbidden)
			expectStatus(t, x.post("/settings/subscription/change", url.Values{"plan": {"max"}}), http.StatusForbidden)
		}

		// Operator approval: a request, shown pending, cancellable.
		p = b.follow(b.post("/settings/subscription/change", url.Values{"plan": {"starter"}}))
		expectContains(t, p, "Your request to change to Starter was sent to the operator", `id="plan-pending"`, "Waiting for the operator", "Cancel the request")
		if o, _ := db.Org(ctx, org.ID); o.Plan != snapglyph.PlanPro {
			t.Fatalf("the request changed the plan to %s", o.Plan)
		}
		// The operator sees in the server's log that a request came.
		if l := logged.String(); !strings.Contains(l, `msg="plan change requested"`) || !strings.Contains(l, "org="+org.ID) ||
			!strings.Contains(l, "from=pro to=starter") || !strings.Contains(l, `approve="snapglyph org set-plan `+org.ID+` starter"`) {
			t.Errorf("the log says %q", l)
		}
		expectContains(t, b.follow(b.get("/settings/subscription/change?plan=max")), "flash-error", "waiting for the operator")
		expectContains(t, b.follow(b.post("/settings/subscription/change", url.Values{"plan": {"max"}})), "flash-error", "already waiting")
		id := regexp.MustCompile(`/settings/subscription/requests/(preq_[A-Za-z0-9]+)/cancel`).FindStringSubmatch(p.Body)
		if id == nil {
			t.Fatal("no cancel form")
		}
		expectStatus(t, admin.post("/settings/subscription/requests/"+id[1]+"/cancel", nil), http.StatusForbidden)
		p = b.follow(b.post("/settings/subscription/requests/"+id[1]+"/cancel", nil))
		expectContains(t, p, "Your request to change to Starter is cancelled")
		expectNotContains(t, p, `id="plan-pending"`)
		expectContains(t, b.get("/settings/audit"), "Asked the operator to change plan", "Cancelled a plan change request")

		// A refusal is shown with its reason.
		e.advance(time.Minute)
		b.post("/settings/subscription/change", url.Values{"plan": {"max"}})
		reqs, _ := e.svc.PlanRequests(ctx, snapglyph.Operator, false)
		if len(reqs) != 1 {
			t.Fatalf("%d pending", len(reqs))
		}
		if _, err := e.svc.RefusePlanRequest(ctx, snapglyph.Operator, reqs[0].ID, "talk to sales"); err != nil {
			t.Fatal(err)
		}
		expectContains(t, b.get("/settings/subscription"), `id="plan-refused"`, "The operator refused your request to change to Max", "talk to sales")

		// Self-serve: at once.
		e.svc.PlanChanges = service.PlanChangesSelfServe
		p = b.get("/settings/subscription/change?plan=max")
		expectContains(t, p, "The change takes effect as soon as you confirm", "Change to Max")
		p = b.follow(b.post("/settings/subscription/change", url.Values{"plan": {"max"}}))
		expectContains(t, p, "Your organisation is now on the Max plan", `<h2 id="plan-title" class="plan-name">Max</h2>`)
		if o, _ := db.Org(ctx, org.ID); o.Plan != snapglyph.PlanMax {
			t.Errorf("plan %s, want max", o.Plan)
		}
		expectStatus(t, admin.post("/settings/subscription/change", url.Values{"plan": {"starter"}}), http.StatusForbidden)
		if o, _ := db.Org(ctx, org.ID); o.Plan != snapglyph.PlanMax {
			t.Errorf("an Admin changed the plan to %s", o.Plan)
		}
	})
}
