package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

func newOrg(t *testing.T, db *testdb.DB) *snapglyph.Org {
	t.Helper()
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := db.CreateOrg(context.Background(), org, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	return org
}

// TestLeaseNeverPassesLimit: many handles (standing in for nodes) lease
// concurrently; the reserved total never passes the limit and reaches it
// exactly.
func TestLeaseNeverPassesLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		org := newOrg(t, db)
		ctx := context.Background()
		handles := []*store.DB{db.DB}
		for i := 0; i < 2; i++ {
			h, err := store.Open(db.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			handles = append(handles, h)
		}
		const limit = 500
		var granted atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 12; w++ {
			wg.Add(1)
			go func(h *store.DB) {
				defer wg.Done()
				for i := 0; i < 200; i++ {
					g, _, err := h.Lease(ctx, "", org.ID, "2026-11", snapglyph.APICalls, 7, 1, limit)
					if err != nil {
						t.Error(err)
						return
					}
					if g == 0 {
						return
					}
					granted.Add(g)
				}
			}(handles[w%len(handles)])
		}
		wg.Wait()
		u, err := db.Usage(ctx, org.ID, "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		if granted.Load() != limit || u.Reserved.APICalls != limit {
			t.Fatalf("granted %d, reserved %d; want exactly %d", granted.Load(), u.Reserved.APICalls, limit)
		}
		if err := db.ReturnLease(ctx, org.ID, "2026-11", snapglyph.APICalls, 20); err != nil {
			t.Fatal(err)
		}
		if g, r, _ := db.Lease(ctx, "", org.ID, "2026-11", snapglyph.APICalls, 64, 20, limit); g != 20 || r != limit {
			t.Fatalf("after returning 20: granted %d reserved %d", g, r)
		}
	})
}

func TestSaveUsage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		org := newOrg(t, db)
		ctx := context.Background()
		key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
		if err := db.CreateKey(ctx, key, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)
		batch := func(calls int64, at time.Time, ip string) *snapglyph.UsageBatch {
			return &snapglyph.UsageBatch{
				Orgs:     map[snapglyph.PeriodKey]snapglyph.Counts{{ID: org.ID, Period: "2026-11"}: {APICalls: calls, ImageCredits: 10}},
				Keys:     map[snapglyph.PeriodKey]snapglyph.Counts{{ID: key.ID, Period: "2026-11"}: {APICalls: calls, ImageCredits: 10}},
				LastUsed: map[string]snapglyph.LastUse{key.ID: {At: at, IP: ip, UserAgent: "sdk"}},
			}
		}
		if _, err := db.SaveUsage(ctx, batch(3, at, "192.0.2.1")); err != nil {
			t.Fatal(err)
		}
		// A batch from a node whose last use is older does not move
		// last used back.
		if _, err := db.SaveUsage(ctx, batch(2, at.Add(-time.Minute), "192.0.2.2")); err != nil {
			t.Fatal(err)
		}
		u, _ := db.Usage(ctx, org.ID, "2026-11")
		k, _ := db.KeyUsage(ctx, key.ID, "2026-11")
		got, _ := db.Key(ctx, key.ID)
		if u.Used.APICalls != 5 || u.Used.ImageCredits != 20 || k.APICalls != 5 {
			t.Errorf("org %+v key %+v", u, k)
		}
		if !got.LastUsedAt.Equal(at) || got.LastUsedIP != "192.0.2.1" {
			t.Errorf("last used %v from %s", got.LastUsedAt, got.LastUsedIP)
		}
	})
}

// TestVersionerSkipsOnlyWhenNothingCommitted: the shared-memory check says
// "unchanged" only while no connection has committed.
func TestVersionerSkipsOnlyWhenNothingCommitted(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx := context.Background()
	v, err := db.NewVersioner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	v1, _ := v.Version(ctx)
	v.Commit()
	if !v.Unchanged() {
		t.Fatal("Unchanged is false with no commit: the shared-memory check is not in use")
	}
	other, err := store.Open(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	newOrg(t, &testdb.DB{DB: other})
	if v.Unchanged() {
		t.Fatal("Unchanged is true after another connection committed")
	}
	if v2, _ := v.Version(ctx); v2 == v1 {
		t.Fatal("data_version did not move")
	}
	v.Commit()
	if !v.Unchanged() {
		t.Fatal("Unchanged is false after catching up")
	}
}
