package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify/smtptest"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestKeyLifecycleNotices: the key lifecycle's events reach Owners and
// Admins: a pause with its reason and end, a roll (one notice naming the
// replacement, not a second one for the new key), a key expiring within 7
// days and then expired (each once, however often the dates are looked
// at); a revoked key's expiry is not told.
func TestKeyLifecycleNotices(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newFixture(t, db, smtptest.Config{})
		ctx := context.Background()
		now := f.clock.Now()
		k, err := f.svc.CreateKeyWith(ctx, snapglyph.Operator, f.org.ID, service.KeySpec{Name: "Nightly-Export", ExpiresAt: now.Add(10 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		gone, err := f.svc.CreateKeyWith(ctx, snapglyph.Operator, f.org.ID, service.KeySpec{Name: "Old-Batch", ExpiresAt: now.Add(9 * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RevokeKey(ctx, snapglyph.Operator, gone.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.PauseKeyWith(ctx, f.actor(f.admin), k.ID, "rotating the CI secret", now.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.ResumeKey(ctx, f.actor(f.admin), k.ID); err != nil {
			t.Fatal(err)
		}
		web, err := f.svc.CreateKey(ctx, snapglyph.Operator, f.org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		rolled, err := f.svc.RollKey(ctx, f.actor(f.owner), web.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d := f.deliverer("n1", nil, f.mailer)
		f.drain(d)
		titles := func() []string {
			var out []string
			for _, n := range f.notices(f.owner) {
				out = append(out, n.Title+" | "+n.Body)
			}
			return out
		}
		got := strings.Join(titles(), "\n")
		for _, want := range []string{
			"API key Nightly-Export paused | " + f.admin.Email + " paused the API key Nightly-Export (" + k.Prefix + "...) of Acme & Co (rotating the CI secret). Requests with it are refused (401 api_key_paused) until 15 Nov 2026 at 14:00 UTC",
			"API key Production-WebApp rolled | " + f.owner.Email + " rolled the API key Production-WebApp (" + web.Prefix + "...) of Acme & Co: its replacement is " + rolled.Prefix + "...; the old key works until 16 Nov 2026 at 12:00 UTC",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("no notice %q in\n%s", want, got)
			}
		}
		if n := strings.Count(got, "API key Production-WebApp created"); n != 1 {
			t.Errorf("%d created notices for Production-WebApp, want 1 (not one for the roll's new key)", n)
		}
		before := len(titles())

		// Four days later Nightly-Export expires within 7 days.
		f.clock.Set(now.Add(4 * 24 * time.Hour))
		for i := 0; i < 3; i++ {
			if _, err := db.EmitKeyExpiryEvents(ctx); err != nil {
				t.Fatal(err)
			}
		}
		f.drain(d)
		ts := titles()
		if len(ts) != before+1 || !strings.HasPrefix(ts[0], "API key Nightly-Export expires on 25 Nov 2026 | ") {
			t.Fatalf("after 4 days: %q", ts[:len(ts)-before])
		}
		f.clock.Set(now.Add(10*24*time.Hour + time.Minute))
		for i := 0; i < 3; i++ {
			if _, err := db.EmitKeyExpiryEvents(ctx); err != nil {
				t.Fatal(err)
			}
		}
		f.drain(d)
		ts = titles()
		if len(ts) != before+2 || !strings.HasPrefix(ts[0], "API key Nightly-Export expired | ") {
			t.Fatalf("after the expiry: %q", ts[:len(ts)-before])
		}
		if strings.Contains(strings.Join(ts, "\n"), "Old-Batch expire") {
			t.Error("a revoked key's expiry was told")
		}
	})
}
