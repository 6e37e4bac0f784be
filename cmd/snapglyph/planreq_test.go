package main

import (
	"context"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestOrgRequests: an Owner's plan change request (operator approval) is
// listed by org requests, refused with --refuse, and approved by org
// set-plan, which says so; mistakes change nothing.
func TestOrgRequests(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "owner@acme.test", "--plan", "starter", "--json")
		org := decode(t, out)["id"].(string)
		owner := decode(t, out)["owner"].(map[string]any)["id"].(string)
		svc := service.New(db.DB) // the dashboard's side, in process
		as := snapglyph.Actor{UserID: owner, Label: "owner@acme.test"}
		ask := func(plan string) string {
			t.Helper()
			ch, err := svc.ChangePlan(ctx, as, org, plan)
			if err != nil || ch.Request == nil {
				t.Fatalf("ChangePlan %s: %+v, %v", plan, ch, err)
			}
			return ch.Request.ID
		}

		out, _ = cli(t, db.DSN, 0, "org", "requests")
		if out != "no plan change is waiting\n" {
			t.Errorf("no requests: %q", out)
		}
		first := ask("max")
		out, _ = cli(t, db.DSN, 0, "org", "requests")
		if !strings.Contains(out, "ID") || !strings.Contains(out, first) || !strings.Contains(out, "Acme") || !strings.Contains(out, "starter") ||
			!strings.Contains(out, "max") || !strings.Contains(out, "owner@acme.test") || !strings.Contains(out, "org set-plan ORG_ID PLAN") {
			t.Errorf("org requests:\n%s", out)
		}
		out, _ = cli(t, db.DSN, 0, "org", "requests", "--json")
		if j := decode(t, out); j["id"] != first || j["orgId"] != org || j["from"] != "starter" || j["plan"] != "max" || j["status"] != "pending" {
			t.Errorf("org requests --json: %s", out)
		}

		// Mistakes: a message, exit 1, nothing changed.
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"org", "requests", "--refuse", "preq_nope"}, `no plan request has the id "preq_nope"`},
			{[]string{"org", "requests", "--reason", "why"}, "--reason goes with --refuse"},
			{[]string{"org", "requests", "--refuse", first, "--reason", "no\x00"}, "the reason"},
			// The Owner reads the reason on Subscription: one line of
			// visible text, as a pause's reason.
			{[]string{"org", "requests", "--refuse", first, "--reason", "x\x1b[31mred"}, "the reason may not contain control characters"},
			{[]string{"org", "requests", "--refuse", first, "--reason", "no\nway"}, "(line breaks included)"},
			{[]string{"org", "requests", "--refuse", first, "--reason", "evil\u202etxt"}, "the reason"},
			{[]string{"org", "requests", "--refuse", first, "--reason", strings.Repeat("é", 201)}, "at most 200 are allowed"},
			{[]string{"org", "requests", "extra"}, "usage: snapglyph org requests"},
		} {
			_, errOut := cli(t, db.DSN, 1, tc.args...)
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("%q: stderr %q, want %q", tc.args, errOut, tc.want)
			}
		}
		if p, _ := db.PlanRequest(ctx, first); p.Status != snapglyph.PlanRequestPending {
			t.Fatalf("a refused command changed the request to %s", p.Status)
		}

		// Refused, with a reason; refusing again is a conflict.
		out, _ = cli(t, db.DSN, 0, "org", "requests", "--refuse", first, "--reason", "talk to sales first")
		if !strings.Contains(out, "refused request "+first) {
			t.Errorf("refuse: %q", out)
		}
		_, errOut := cli(t, db.DSN, 1, "org", "requests", "--refuse", first)
		if !strings.Contains(errOut, "refused already") {
			t.Errorf("refused twice: %q", errOut)
		}
		out, _ = cli(t, db.DSN, 0, "org", "requests", "--all")
		if !strings.Contains(out, "refused: talk to sales first") {
			t.Errorf("org requests --all:\n%s", out)
		}

		// Approved by set-plan.
		second := ask("pro")
		out, _ = cli(t, db.DSN, 0, "org", "set-plan", org, "pro")
		if !strings.Contains(out, "is now on the pro plan") || !strings.Contains(out, "the Owner's request "+second+" is approved") {
			t.Errorf("set-plan: %q", out)
		}
		if o, _ := db.Org(ctx, org); o.Plan != snapglyph.PlanPro {
			t.Errorf("plan %s", o.Plan)
		}
		out, _ = cli(t, db.DSN, 0, "org", "requests")
		if out != "no plan change is waiting\n" {
			t.Errorf("after approval: %q", out)
		}
		// Superseded by another plan, said in --json too.
		third := ask("max")
		out, _ = cli(t, db.DSN, 0, "org", "set-plan", org, "starter", "--json")
		if j := decode(t, out); j["closedRequest"] != third {
			t.Errorf("set-plan --json: %s", out)
		}
		if p, _ := db.PlanRequest(ctx, third); p.Status != snapglyph.PlanRequestSuperseded {
			t.Errorf("the request is %s, want superseded", p.Status)
		}
	})
}
