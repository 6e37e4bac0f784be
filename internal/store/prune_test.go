package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPruneKeyIPs: a key's addresses last seen before the cutoff go, the
// others stay with their counts.
func TestPruneKeyIPs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
		if err := db.CreateKey(ctx, key, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
		seen := map[string]time.Time{"192.0.2.1": now.AddDate(0, 0, -40), "192.0.2.2": now.AddDate(0, 0, -31), "192.0.2.3": now.AddDate(0, 0, -29), "192.0.2.4": now}
		b := &snapglyph.UsageBatch{KeyIPs: map[snapglyph.KeyIP]snapglyph.IPSeen{}}
		for ip, last := range seen {
			b.KeyIPs[snapglyph.KeyIP{KeyID: key.ID, IP: ip}] = snapglyph.IPSeen{First: last.Add(-time.Hour), Last: last, Calls: 3}
		}
		if _, err := db.SaveUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
		n, err := db.PruneKeyIPs(ctx, now.AddDate(0, 0, -30))
		if err != nil || n != 2 {
			t.Fatalf("pruned %d (%v), want 2", n, err)
		}
		left, total, err := db.KeyIPs(ctx, key.ID, 10)
		if err != nil || total != 2 || left[0].IP != "192.0.2.4" || left[1].IP != "192.0.2.3" || left[1].Calls != 3 {
			t.Fatalf("left %+v (%d, %v)", left, total, err)
		}
		if n, err := db.PruneKeyIPs(ctx, now.AddDate(0, 0, -30)); err != nil || n != 0 {
			t.Fatalf("a second prune removed %d (%v)", n, err)
		}
	})
}

// TestPruneNoticesAndLeakReports: read notices older than the retention
// go, unread ones of any age and recent read ones stay; leak report
// digests older than theirs go (that report may be received again), a
// recent one still refuses its replay.
func TestPruneNoticesAndLeakReports(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
		owner, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", "")
		if err != nil {
			t.Fatal(err)
		}
		add := func(event int64, read bool) int64 {
			t.Helper()
			ns, err := db.AddNotices(ctx, event, []*snapglyph.Notice{{UserID: owner.ID, OrgID: org.ID, Kind: snapglyph.EventKeyCreated, Title: "t", Body: "b", Link: "/", Mail: snapglyph.MailNone}})
			if err != nil || len(ns) != 1 {
				t.Fatal(ns, err)
			}
			if read {
				if _, err := db.ReadNotice(ctx, owner.ID, org.ID, ns[0].ID); err != nil {
					t.Fatal(err)
				}
			}
			return ns[0].ID
		}
		base := time.Now().UnixNano() // event ids of their own
		oldRead, oldUnread := add(base+1, true), add(base+2, false)
		if _, err := db.ApplyLeakReport(ctx, "old-report-"+snapglyph.NewID(""), nil); err != nil {
			t.Fatal(err)
		}
		oldDigest := "old-" + snapglyph.NewID("")
		if _, err := db.ApplyLeakReport(ctx, oldDigest, nil); err != nil {
			t.Fatal(err)
		}
		clock.Set(clock.Now().Add(store.NoticeRetention + time.Hour))
		newRead := add(base+3, true)
		newDigest := "new-" + snapglyph.NewID("")
		if _, err := db.ApplyLeakReport(ctx, newDigest, nil); err != nil {
			t.Fatal(err)
		}
		now := clock.Now()
		if n, err := db.PruneNotices(ctx, now.Add(-store.NoticeRetention)); err != nil || n != 1 {
			t.Fatalf("pruned %d notices (%v), want 1", n, err)
		}
		var ids []int64
		ns, _ := db.Notices(ctx, owner.ID, org.ID, 0, 10)
		for _, n := range ns {
			ids = append(ids, n.ID)
		}
		if len(ids) != 2 || ids[0] != newRead || ids[1] != oldUnread {
			t.Fatalf("notices left %v, want %d and %d (not %d)", ids, newRead, oldUnread, oldRead)
		}
		if n, err := db.PruneLeakReports(ctx, now.Add(-store.LeakReportRetention)); err != nil || n != 2 {
			t.Fatalf("pruned %d leak reports (%v), want 2", n, err)
		}
		if _, err := db.ApplyLeakReport(ctx, newDigest, nil); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Fatalf("a recent report again: %v, want a replay refused", err)
		}
		if _, err := db.ApplyLeakReport(ctx, oldDigest, nil); err != nil {
			t.Fatalf("a report older than the retention again: %v", err)
		}
	})
}
