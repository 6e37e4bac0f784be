package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSaveKeyDaysAndAddresses: a key's counts by day add up across
// flushes, and its addresses keep the earliest first and the latest last
// use whatever order nodes flush in.
func TestSaveKeyDaysAndAddresses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		org := newOrg(t, db)
		ctx := context.Background()
		key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
		if err := db.CreateKey(ctx, key, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)
		batch := func(day string, calls int64, ip string, first, last time.Time) *snapglyph.UsageBatch {
			return &snapglyph.UsageBatch{
				KeyDays: map[snapglyph.PeriodKey]snapglyph.Counts{{ID: key.ID, Period: day}: {APICalls: calls, ImageCredits: 2 * calls}},
				KeyIPs:  map[snapglyph.KeyIP]snapglyph.IPSeen{{KeyID: key.ID, IP: ip}: {First: first, Last: last, Calls: calls}},
			}
		}
		for _, b := range []*snapglyph.UsageBatch{
			batch("2026-11-03", 3, "192.0.2.1", at, at.Add(time.Minute)),
			batch("2026-11-03", 2, "192.0.2.1", at.Add(-time.Hour), at.Add(-time.Minute)), // an older batch, flushed later
			batch("2026-11-04", 5, "2001:db8::1", at.Add(24*time.Hour), at.Add(25*time.Hour)),
			batch("2026-10-31", 7, "192.0.2.1", at.Add(-72*time.Hour), at.Add(-72*time.Hour)),
			batch("2026-11-05", 1, "bad\xff\x00address", at.Add(48*time.Hour), at.Add(48*time.Hour)),
		} {
			if dropped, err := db.SaveUsage(ctx, b); err != nil || len(dropped) != 0 {
				t.Fatal(dropped, err)
			}
		}
		days, err := db.KeyDays(ctx, key.ID, "2026-11-01", "2026-11-30")
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 3 || days["2026-11-03"] != (snapglyph.Counts{APICalls: 5, ImageCredits: 10}) || days["2026-11-04"].APICalls != 5 || days["2026-11-05"].APICalls != 1 {
			t.Errorf("days %v", days)
		}
		ips, total, err := db.KeyIPs(ctx, key.ID, 2)
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 || len(ips) != 2 || ips[0].IP != "bad\uFFFDaddress" || ips[1].IP != "2001:db8::1" {
			t.Fatalf("addresses %+v, total %d", ips, total)
		}
		all, _, _ := db.KeyIPs(ctx, key.ID, 10)
		v4 := all[2]
		if v4.IP != "192.0.2.1" || !v4.First.Equal(at.Add(-72*time.Hour)) || !v4.Last.Equal(at.Add(time.Minute)) || v4.Calls != 12 {
			t.Errorf("192.0.2.1: %+v", v4)
		}
	})
}
