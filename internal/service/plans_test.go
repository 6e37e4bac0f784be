package service_test

import (
	"context"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPlanChanges: the Owner sees a downgrade's impact before confirming;
// with operator approval the change is a request (one at a time, which
// the Owner may cancel and the operator approves with SetPlan or
// refuses); self-serve applies at once. Admins, Members, strangers and
// the operator cannot use the Owner's way.
func TestPlanChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "max"})
		if err != nil {
			t.Fatal(err)
		}
		admin, _ := db.AddMember(ctx, org.ID, "admin@acme.test", snapglyph.RoleAdmin)
		member, _ := db.AddMember(ctx, org.ID, "member@acme.test", snapglyph.RoleMember)
		_, stranger, _ := svc.CreateOrg(ctx, service.NewOrg{Name: "Other", OwnerEmail: "x@other.test", Plan: "pro"})
		as := func(u *snapglyph.User) snapglyph.Actor {
			return snapglyph.Actor{UserID: u.ID, Label: u.Email, IP: "198.51.100.7"}
		}
		own := as(owner)
		if _, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp"); err != nil {
			t.Fatal(err)
		}
		paused, _ := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Dev-Testing")
		if _, err := svc.PauseKey(ctx, snapglyph.Operator, paused.ID); err != nil {
			t.Fatal(err)
		}
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		for i := range 7 {
			name, typ := "code "+string(rune('a'+i)), "url"
			if _, err := svc.CreateQRCode(ctx, by, org.ID, service.QRInput{Name: &name, Type: &typ, Content: []byte(`{"url":"https://example.com/"}`)}); err != nil {
				t.Fatal(err)
			}
		}

		t.Run("impact", func(t *testing.T) {
			im, err := svc.PlanImpact(ctx, own, org.ID, "pro")
			if err != nil {
				t.Fatal(err)
			}
			if all := strings.Join(im.Losses, "\n"); !strings.Contains(all, "Webhooks: a Max feature (you have no endpoints)") {
				t.Errorf("Max→Pro without endpoints:\n%s", all)
			}
			svc.Webhooks.AllowInsecureLocal = true
			for _, u := range []string{"http://127.0.0.1:9/a", "http://127.0.0.1:9/b"} {
				if _, err := svc.CreateWebhook(ctx, own, org.ID, u, []string{"qr.created"}); err != nil {
					t.Fatal(err)
				}
			}
			im, err = svc.PlanImpact(ctx, own, org.ID, "starter")
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(im.Losses, "\n")
			for _, want := range []string{"API access: the organisation's working API keys (1) stop working at once",
				"Starter includes 1 seat and your organisation uses 3", "Starter holds 5 and your organisation has 7",
				"Webhooks: a Max feature. Your 2 endpoints will stop receiving events",
				"Request log history: 30 days instead of 90"} {
				if !strings.Contains(all, want) {
					t.Errorf("Max→Starter does not say %q:\n%s", want, all)
				}
			}
			im, err = svc.PlanImpact(ctx, own, org.ID, "pro")
			if err != nil {
				t.Fatal(err)
			}
			all = strings.Join(im.Losses, "\n")
			for _, want := range []string{"1,000 API calls and 200 image generation credits instead of 10,000 and 2,000", "at most 5 seats (you use 3)", "Webhooks"} {
				if !strings.Contains(all, want) {
					t.Errorf("Max→Pro does not say %q:\n%s", want, all)
				}
			}
			if strings.Contains(all, "API access") || strings.Contains(all, "QR codes") {
				t.Errorf("Max→Pro loses too much:\n%s", all)
			}
			for _, plan := range []string{"trial", "gold", "max", "", "pro\x00", "\xffpro", strings.Repeat("pro", 100_000)} {
				if _, err := svc.PlanImpact(ctx, own, org.ID, plan); snapglyph.ErrorKind(err) != snapglyph.EINVALID || len(snapglyph.ErrorMessage(err)) > 200 {
					t.Errorf("%.20q…: %.300v, want EINVALID with a short message", plan, err)
				}
			}
		})
		t.Run("not the Owner", func(t *testing.T) {
			for who, a := range map[string]snapglyph.Actor{"admin": as(admin), "member": as(member), "operator": snapglyph.Operator} {
				if _, err := svc.ChangePlan(ctx, a, org.ID, "pro"); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
					t.Errorf("%s: %v, want EFORBIDDEN", who, err)
				}
			}
			if _, err := svc.ChangePlan(ctx, as(stranger), org.ID, "pro"); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
				t.Errorf("stranger: %v, want ENOTFOUND", err)
			}
			if _, err := svc.PlanRequests(ctx, own, false); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
				t.Errorf("the Owner listed requests: %v", err)
			}
		})
		t.Run("operator approval", func(t *testing.T) {
			ch, err := svc.ChangePlan(ctx, own, org.ID, "pro")
			if err != nil || ch.Applied || ch.Request == nil {
				t.Fatalf("%+v, %v", ch, err)
			}
			if o, _ := db.Org(ctx, org.ID); o.Plan != snapglyph.PlanMax {
				t.Fatalf("the request changed the plan to %s", o.Plan)
			}
			if _, err := svc.ChangePlan(ctx, own, org.ID, "starter"); snapglyph.ErrorCode(err) != "plan_request_pending" {
				t.Fatalf("a second request: %v", err)
			}
			pending, err := svc.PendingPlanRequest(ctx, own, org.ID)
			if err != nil || pending == nil || pending.ID != ch.Request.ID || pending.Plan != snapglyph.PlanPro || pending.ByLabel != "owner@acme.test" {
				t.Fatalf("pending %+v, %v", pending, err)
			}
			list, err := svc.PlanRequests(ctx, snapglyph.Operator, false)
			if err != nil || len(list) != 1 || list[0].OrgName != "Acme" || list[0].From != snapglyph.PlanMax {
				t.Fatalf("list %+v, %v", list, err)
			}
			if err := svc.SetPlan(ctx, snapglyph.Operator, org.ID, "pro"); err != nil {
				t.Fatal(err)
			}
			if p, _ := db.PlanRequest(ctx, ch.Request.ID); p.Status != snapglyph.PlanRequestApproved {
				t.Errorf("after set-plan the request is %s", p.Status)
			}
			if list, _ := svc.PlanRequests(ctx, snapglyph.Operator, false); len(list) != 0 {
				t.Errorf("%d pending after approval", len(list))
			}

			// Cancelled by the Owner; once only.
			ch, err = svc.ChangePlan(ctx, own, org.ID, "max")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.CancelPlanRequest(ctx, as(admin), org.ID, ch.Request.ID); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
				t.Errorf("admin cancelled: %v", err)
			}
			if _, err := svc.CancelPlanRequest(ctx, own, org.ID, ch.Request.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.CancelPlanRequest(ctx, own, org.ID, ch.Request.ID); snapglyph.ErrorCode(err) != "plan_request_closed" {
				t.Errorf("cancelled twice: %v", err)
			}
			// Refused by the operator, with a reason the Owner sees.
			ch, err = svc.ChangePlan(ctx, own, org.ID, "max")
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"bad\x00reason", "bad\xffreason", strings.Repeat("x", 201), strings.Repeat("é", 100_000)} {
				if _, err := svc.RefusePlanRequest(ctx, snapglyph.Operator, ch.Request.ID, bad); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
					t.Errorf("refused with the reason %.20q…: %v, want EINVALID", bad, err)
				}
			}
			if _, err := svc.RefusePlanRequest(ctx, own, ch.Request.ID, ""); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
				t.Errorf("the Owner refused: %v", err)
			}
			if _, err := svc.RefusePlanRequest(ctx, snapglyph.Operator, ch.Request.ID, "call sales first"); err != nil {
				t.Fatal(err)
			}
			last, err := svc.LastPlanRequest(ctx, own, org.ID)
			if err != nil || last.Status != snapglyph.PlanRequestRefused || last.Note != "call sales first" {
				t.Fatalf("last %+v, %v", last, err)
			}
			if o, _ := db.Org(ctx, org.ID); o.Plan != snapglyph.PlanPro {
				t.Errorf("plan %s after refusal, want pro", o.Plan)
			}
			events, _ := db.AuditEvents(ctx, org.ID, 0, 20)
			var actions []string
			for _, e := range events {
				actions = append(actions, e.Action)
			}
			got := strings.Join(actions, " ")
			for _, want := range []string{"org.plan_request_refused", "org.plan_request_cancelled", "org.plan_change_requested", "org.plan_changed"} {
				if !strings.Contains(got, want) {
					t.Errorf("the audit log lacks %s: %s", want, got)
				}
			}
		})
		t.Run("self-serve", func(t *testing.T) {
			svc.PlanChanges = service.PlanChangesSelfServe
			defer func() { svc.PlanChanges = "" }()
			ch, err := svc.ChangePlan(ctx, own, org.ID, "max")
			if err != nil || !ch.Applied || ch.Request != nil {
				t.Fatalf("%+v, %v", ch, err)
			}
			if o, _ := db.Org(ctx, org.ID); o.Plan != snapglyph.PlanMax {
				t.Errorf("plan %s, want max", o.Plan)
			}
			events, _ := db.AuditEvents(ctx, org.ID, 0, 1)
			if len(events) != 1 || events[0].Action != "org.plan_changed" || events[0].ActorLabel != "owner@acme.test" {
				t.Errorf("audit %+v", events[0])
			}
			if _, err := svc.ChangePlan(ctx, as(admin), org.ID, "pro"); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
				t.Errorf("admin self-served: %v", err)
			}
		})
		if _, err := service.ParsePlanChangeMode("auto"); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("mode auto: %v", err)
		}
	})
}
