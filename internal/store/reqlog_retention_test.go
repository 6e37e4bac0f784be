package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPruneShortenedRetention: entries stored with a longer retention than
// their organisation's current one (Max moved to Pro; a trial that ended,
// whose Starter retention the operator set to 7 days) are removed by it,
// a bounded number a run; an organisation still on its plan, and one that
// is gone, keep theirs to their stored retention. The key page's
// addresses of the ended trial go by Starter's retention too.
func TestPruneShortenedRetention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		retention, err := snapglyph.ParseLogRetention("starter=7d")
		if err != nil {
			t.Fatal(err)
		}
		newOrg := func(plan snapglyph.Plan, trialEnds time.Time) (org, key string) {
			o := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: plan, TrialEndsAt: trialEnds}
			if _, err := db.CreateOrg(ctx, o, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
				t.Fatal(err)
			}
			k := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: o.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
			if err := db.CreateKey(ctx, k, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
				t.Fatal(err)
			}
			return o.ID, k.ID
		}
		down, downKey := newOrg(snapglyph.PlanMax, time.Time{})
		stays, staysKey := newOrg(snapglyph.PlanMax, time.Time{})
		trial, trialKey := newOrg(snapglyph.PlanTrial, now.AddDate(0, 0, -1))
		gone, goneKey := "org_gone", "key_gone"
		ages := []int{60, 40, 20, 10, 1}
		var entries []snapglyph.RequestLogEntry
		var parts []snapglyph.LogPartition
		for _, o := range []struct {
			org, key string
			plan     snapglyph.Plan
		}{{down, downKey, snapglyph.PlanMax}, {stays, staysKey, snapglyph.PlanMax}, {trial, trialKey, snapglyph.PlanTrial}, {gone, goneKey, snapglyph.PlanMax}} {
			for _, days := range ages {
				at := now.AddDate(0, 0, -days)
				if days > retention.Days(o.plan) {
					continue
				}
				entries = append(entries, snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: o.org, KeyID: o.key,
					KeyPrefix: "qr_live_abcd", Method: "GET", Route: "/api/v1/usage", Status: 200, IP: "192.0.2.1", Plan: o.plan})
				parts = append(parts, snapglyph.LogPartition{RetentionDays: retention.Days(o.plan), Day: snapglyph.DayOf(at)})
			}
		}
		slices.SortFunc(entries, func(a, b snapglyph.RequestLogEntry) int { return a.At.Compare(b.At) })
		if err := db.EnsureRequestLogPartitions(ctx, parts); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveRequestLog(ctx, entries, retention, nil); err != nil {
			t.Fatal(err)
		}
		if err := db.SetPlan(ctx, down, snapglyph.PlanPro, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		ageOf := func(org string) []int {
			t.Helper()
			var out []int
			err := db.RequestLog(ctx, org, snapglyph.RequestLogFilter{}, time.Time{}, func(e *snapglyph.RequestLogEntry) error {
				out = append(out, int(now.Sub(e.At)/(24*time.Hour)))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		stored := func() int {
			return len(ageOf(down)) + len(ageOf(stays)) + len(ageOf(trial)) + len(ageOf(gone))
		}
		before := stored()
		// A run removes at most what it is given.
		if n, err := db.PruneShortenedRequestLog(ctx, now, retention, 2); err != nil || n != 2 {
			t.Fatalf("a run bounded to 2 removed %d (%v)", n, err)
		}
		if got := stored(); got != before-2 {
			t.Fatalf("%d entries left of %d, want 2 fewer", got, before)
		}
		if n, err := db.PruneShortenedRequestLog(ctx, now, retention, 1000); err != nil || n != 2 {
			t.Fatalf("the next run removed %d (%v), want the other 2", n, err)
		}
		if n, err := db.PruneShortenedRequestLog(ctx, now, retention, 1000); err != nil || n != 0 {
			t.Fatalf("a third run removed %d (%v), want none", n, err)
		}
		for _, c := range []struct {
			name string
			org  string
			want []int
		}{
			{"Max moved to Pro (30 days)", down, []int{1, 10, 20}},
			{"still on Max", stays, []int{1, 10, 20, 40, 60}},
			{"an ended trial (Starter, 7 days)", trial, []int{1}},
			{"an organisation that is gone", gone, []int{1, 10, 20, 40, 60}},
		} {
			if got := ageOf(c.org); !slices.Equal(got, c.want) {
				t.Errorf("%s: entries %v days old are left, want %v", c.name, got, c.want)
			}
		}

		// The key page's addresses follow the effective plan too: the
		// ended trial's go by Starter's 7 days.
		b := &snapglyph.UsageBatch{KeyIPs: map[snapglyph.KeyIP]snapglyph.IPSeen{}}
		for _, k := range []string{trialKey, staysKey} {
			for ip, days := range map[string]int{"192.0.2.1": 10, "192.0.2.2": 1} {
				last := now.AddDate(0, 0, -days)
				b.KeyIPs[snapglyph.KeyIP{KeyID: k, IP: ip}] = snapglyph.IPSeen{First: last, Last: last, Calls: 1}
			}
		}
		if _, err := db.SaveUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := db.PruneKeyIPs(ctx, now, retention); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			key  string
			want int
		}{{trialKey, 1}, {staysKey, 2}} {
			if _, n, err := db.KeyIPs(ctx, c.key, 10); err != nil || n != c.want {
				t.Errorf("key %s keeps %d addresses (%v), want %d", c.key, n, err, c.want)
			}
		}
	})
}
