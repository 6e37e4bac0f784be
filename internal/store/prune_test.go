package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPruneKeyIPs: a key's addresses go once last seen before the request
// log's retention of its organisation's plan (Pro 30 days, Max 90, or what
// the operator set), the others stay with their counts.
func TestPruneKeyIPs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
		ages := map[string]int{"192.0.2.1": 100, "192.0.2.2": 40, "192.0.2.3": 31, "192.0.2.4": 29, "192.0.2.5": 8, "192.0.2.6": 0}
		keyOn := func(plan snapglyph.Plan) string {
			org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: plan}
			if _, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
				t.Fatal(err)
			}
			key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
			if err := db.CreateKey(ctx, key, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
				t.Fatal(err)
			}
			b := &snapglyph.UsageBatch{KeyIPs: map[snapglyph.KeyIP]snapglyph.IPSeen{}}
			for ip, days := range ages {
				last := now.AddDate(0, 0, -days)
				b.KeyIPs[snapglyph.KeyIP{KeyID: key.ID, IP: ip}] = snapglyph.IPSeen{First: last.Add(-time.Hour), Last: last, Calls: 3}
			}
			if _, err := db.SaveUsage(ctx, b); err != nil {
				t.Fatal(err)
			}
			return key.ID
		}
		pro, max := keyOn(snapglyph.PlanPro), keyOn(snapglyph.PlanMax)
		left := func(keyID string) []string {
			t.Helper()
			ips, total, err := db.KeyIPs(ctx, keyID, 10)
			if err != nil || total != len(ips) {
				t.Fatalf("%d of %d addresses (%v)", len(ips), total, err)
			}
			var out []string
			for _, ip := range ips {
				if ip.Calls != 3 {
					t.Errorf("%s: %d calls after the prune, want 3", ip.IP, ip.Calls)
				}
				out = append(out, ip.IP)
			}
			return out
		}
		check := func(retention snapglyph.LogRetention, removed int64, wantPro, wantMax []string) {
			t.Helper()
			n, err := db.PruneKeyIPs(ctx, now, retention)
			if err != nil || n != removed {
				t.Fatalf("pruned %d (%v), want %d", n, err, removed)
			}
			if got := left(pro); !slices.Equal(got, wantPro) {
				t.Errorf("the Pro key keeps %v, want %v", got, wantPro)
			}
			if got := left(max); !slices.Equal(got, wantMax) {
				t.Errorf("the Max key keeps %v, want %v", got, wantMax)
			}
		}
		check(snapglyph.DefaultLogRetention(), 4,
			[]string{"192.0.2.6", "192.0.2.5", "192.0.2.4"},
			[]string{"192.0.2.6", "192.0.2.5", "192.0.2.4", "192.0.2.3", "192.0.2.2"})
		check(snapglyph.DefaultLogRetention(), 0, // again: nothing more
			[]string{"192.0.2.6", "192.0.2.5", "192.0.2.4"},
			[]string{"192.0.2.6", "192.0.2.5", "192.0.2.4", "192.0.2.3", "192.0.2.2"})
		// The operator shortens Pro's retention to 7 days: Max is untouched.
		retention, err := snapglyph.ParseLogRetention("pro=7d")
		if err != nil {
			t.Fatal(err)
		}
		check(retention, 2,
			[]string{"192.0.2.6"},
			[]string{"192.0.2.6", "192.0.2.5", "192.0.2.4", "192.0.2.3", "192.0.2.2"})
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

// TestPruneForgetsOldFirstUses: the request log's record of the addresses
// a key was used from (what flags a new one) forgets an address first
// used before the plan's retention and not seen since; one still in use,
// or first used within the retention, is kept. A request from a
// forgotten address is flagged new again; one from a kept address is not.
func TestPruneForgetsOldFirstUses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
		if _, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
			t.Fatal(err)
		}
		key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
		if err := db.CreateKey(ctx, key, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		retention := snapglyph.DefaultLogRetention() // Pro: 30 days
		save := func(at time.Time, ips ...string) map[string]snapglyph.RequestLogFlags {
			t.Helper()
			var entries []snapglyph.RequestLogEntry
			var fresh []snapglyph.KeyIP
			for _, ip := range ips {
				entries = append(entries, snapglyph.RequestLogEntry{At: at, RequestID: snapglyph.NewRequestID(at), OrgID: org.ID, KeyID: key.ID,
					KeyPrefix: key.Prefix, Method: "GET", Route: "/api/v1/usage", Status: 200, IP: ip, Plan: org.Plan})
				fresh = append(fresh, snapglyph.KeyIP{KeyID: key.ID, IP: ip})
			}
			if err := db.EnsureRequestLogPartitions(ctx, []snapglyph.LogPartition{{RetentionDays: retention.Days(org.Plan), Day: snapglyph.DayOf(at)}}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.SaveRequestLog(ctx, entries, retention, fresh); err != nil {
				t.Fatal(err)
			}
			flags := map[string]snapglyph.RequestLogFlags{}
			for _, e := range entries {
				flags[e.IP] = e.Flags
			}
			return flags
		}
		// First uses today: .1 (the key's first address) and .2, .3.
		save(start, "192.0.2.1", "192.0.2.2", "192.0.2.3")
		// The key page's addresses: .2 is used until day 39; .1 and .3
		// were last seen today.
		b := &snapglyph.UsageBatch{KeyIPs: map[snapglyph.KeyIP]snapglyph.IPSeen{
			{KeyID: key.ID, IP: "192.0.2.1"}: {First: start, Last: start, Calls: 1},
			{KeyID: key.ID, IP: "192.0.2.2"}: {First: start, Last: start.AddDate(0, 0, 39), Calls: 40},
			{KeyID: key.ID, IP: "192.0.2.3"}: {First: start, Last: start, Calls: 1},
		}}
		if _, err := db.SaveUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
		// On day 20 .4 is first used: within the retention at day 40.
		day20 := start.AddDate(0, 0, 20)
		save(day20, "192.0.2.4")

		// Day 40: .1 and .3 were first used 40 days ago and not seen for
		// 40 days, more than Pro's 30. .2 is still in use; .4 is 20 days old.
		day40 := start.AddDate(0, 0, 40)
		n, err := db.PruneKeyIPs(ctx, day40, retention)
		if err != nil {
			t.Fatal(err)
		}
		if n != 4 { // .1 and .3 from the key page's list, then from the first uses
			t.Errorf("pruned %d rows, want 4", n)
		}
		ips, _, err := db.KeyIPs(ctx, key.ID, 10)
		if err != nil || len(ips) != 1 || ips[0].IP != "192.0.2.2" {
			t.Fatalf("the key page keeps %v (%v), want 192.0.2.2 only", ips, err)
		}
		flags := save(day40, "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5")
		for ip, want := range map[string]bool{"192.0.2.1": true, "192.0.2.2": false, "192.0.2.3": true, "192.0.2.4": false, "192.0.2.5": true} {
			if got := flags[ip]&snapglyph.FlagNewIP != 0; got != want {
				t.Errorf("day 40, %s: flagged as a new address %v, want %v", ip, got, want)
			}
		}
		// Again: nothing more to prune (.1 and .3 were first used again today).
		if n, err := db.PruneKeyIPs(ctx, day40, retention); err != nil || n != 0 {
			t.Errorf("a second prune deleted %d (%v), want 0", n, err)
		}
	})
}
