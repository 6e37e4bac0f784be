package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestOtherOrgActions: someone who is Owner of A and Admin of B, signed
// in to A, posts every key action and every QR code action at B's ids
// (URLs may be guessed, old, or from the other tab): each answers 404 and
// B is unchanged. After switching to B the same forms work, so the 404s
// come from the session's organisation, not from the role.
func TestOtherOrgActions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		orgA, email := e.org(snapglyph.PlanPro)
		orgB, ownerB := e.org(snapglyph.PlanPro)
		if _, err := db.AddMember(ctx, orgB.ID, email, snapglyph.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		op := snapglyph.Operator
		active, err := e.svc.CreateKey(ctx, op, orgB.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		paused, _ := e.svc.CreateKey(ctx, op, orgB.ID, "Paused-Worker")
		if _, err := e.svc.PauseKey(ctx, op, paused.ID); err != nil {
			t.Fatal(err)
		}
		rolled, _ := e.svc.CreateKey(ctx, op, orgB.ID, "Rolled-Worker")
		if _, err := e.svc.RollKey(ctx, op, rolled.ID, time.Hour); err != nil {
			t.Fatal(err)
		}
		u, _, err := db.UserByEmail(ctx, ownerB)
		if err != nil {
			t.Fatal(err)
		}
		name, typ := "Menu", "url"
		qr, err := e.svc.CreateQRCode(ctx, snapglyph.Creator{Type: snapglyph.CreatorUser, ID: u.ID, Name: ownerB}, orgB.ID,
			service.QRInput{Name: &name, Type: &typ, Content: json.RawMessage(`{"url":"https://example.com/menu"}`)})
		if err != nil {
			t.Fatal(err)
		}

		snapshot := func() string {
			keys, _ := db.Keys(ctx, orgB.ID, true)
			events, _ := db.AuditEvents(ctx, orgB.ID, 0, 1000)
			codes, _, _ := db.QRCodes(ctx, orgB.ID, snapglyph.QRFilter{Limit: 100})
			s := fmt.Sprintf("events %d;", len(events))
			for _, k := range keys {
				s += fmt.Sprintf(" key %+v;", *k)
			}
			for _, q := range codes {
				s += fmt.Sprintf(" qr %s %s v%d %s;", q.ID, q.Name, q.Version, q.Content)
			}
			return s
		}
		before := snapshot()

		b := e.browser()
		b.signIn(email)
		b.follow(b.post("/settings/profile/org", url.Values{"org": {orgA.ID}}))
		keyPath := func(id, action string) string { return "/settings/api/keys/" + id + "/" + action }
		posts := []struct {
			path string
			form url.Values
		}{
			{keyPath(active.ID, "pause"), url.Values{}},
			{keyPath(active.ID, "pause"), url.Values{"return": {"key"}, "reason": {"mine now"}, "until": {"2026-12-24T09:00"}}},
			{keyPath(paused.ID, "resume"), url.Values{}},
			{keyPath(active.ID, "revoke"), url.Values{}},
			{keyPath(active.ID, "rename"), url.Values{"name": {"Renamed-Key"}}},
			{keyPath(active.ID, "roll"), url.Values{"overlap": {"1h0m0s"}}},
			{keyPath(rolled.ID, "end-overlap"), url.Values{}},
			{keyPath(active.ID, "restrict"), url.Values{"access": {"restricted"}, "scope": {"usage:read"}, "allowed_ips": {"10.0.0.0/8"}}},
			{"/qr-codes/" + qr.ID + "/delete", url.Values{}},
		}
		for _, c := range posts {
			if p := b.post(c.path, c.form); p.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s %v in A: status %d, want 404\n%s", c.path, c.form, p.StatusCode, snippet(p.Body))
			}
		}
		if p := b.postMultipart("/qr-codes/"+qr.ID+"/edit", qrForm("Hijacked", "url", "url.url", "https://evil.test/"), nil); p.StatusCode != http.StatusNotFound {
			t.Errorf("POST edit of B's QR code in A: status %d, want 404", p.StatusCode)
		}
		for _, path := range []string{
			"/settings/api/keys/" + active.ID, keyPath(active.ID, "revoke"), keyPath(active.ID, "roll"),
			"/qr-codes/" + qr.ID, "/qr-codes/" + qr.ID + "/edit", "/qr-codes/" + qr.ID + "/delete", "/qr-codes/" + qr.ID + "/image.svg",
		} {
			if p := b.get(path); p.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s in A: status %d, want 404", path, p.StatusCode)
			}
		}
		if after := snapshot(); after != before {
			t.Errorf("organisation B changed:\nbefore %s\nafter  %s", before, after)
		}
		expectAPI(t, e, active.Secret, http.StatusOK, "")

		// In B, the same forms act.
		b.follow(b.post("/settings/profile/org", url.Values{"org": {orgB.ID}}))
		expectStatus(t, b.post(keyPath(active.ID, "rename"), url.Values{"name": {"Renamed-Key"}}), http.StatusSeeOther)
		expectStatus(t, b.post(keyPath(active.ID, "pause"), url.Values{}), http.StatusSeeOther)
		expectAPI(t, e, active.Secret, http.StatusUnauthorized, "api_key_paused")
		expectStatus(t, b.post("/qr-codes/"+qr.ID+"/delete", url.Values{}), http.StatusSeeOther)
	})
}
