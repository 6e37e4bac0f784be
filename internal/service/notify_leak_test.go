package service_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestReportLeaksWaitsOnce: a report naming many keys stops them all in
// one transaction and waits for the other nodes once, not once per key.
// With a node that never confirms (PostgreSQL), a report of 6 keys takes
// about one ApplyTimeout, not six, and each key's change is reported
// unconfirmed naming that node; this process's caches hear of every key.
func TestReportLeaksWaitsOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		var mu sync.Mutex
		var heard []string
		var unconfirmed []service.Unconfirmed
		svc.Changed = func(c snapglyph.Change) { mu.Lock(); heard = append(heard, c.RefID); mu.Unlock() }
		svc.Unconfirmed = func(u service.Unconfirmed) { mu.Lock(); unconfirmed = append(unconfirmed, u); mu.Unlock() }
		org, _ := account(t, db, snapglyph.PlanPro)
		const n = 6
		var leaks []service.Leak
		ids := map[string]bool{}
		for i := range n {
			k, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Worker-"+string(rune('A'+i)))
			if err != nil {
				t.Fatal(err)
			}
			ids[k.ID] = true
			leaks = append(leaks, service.Leak{Token: k.Secret, Type: service.LeakTokenType, URL: "https://github.com/o/r/blob/main/.env"})
		}
		mu.Lock()
		heard = nil
		mu.Unlock()
		if db.Postgres() {
			// A live, listening node that never applies anything.
			if err := db.SetNode(ctx, "node_stuck", 0, true); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.RemoveNode(context.Background(), "node_stuck") })
		}
		sum := sha256.Sum256([]byte(t.Name()))
		began := time.Now()
		res, err := svc.ReportLeaks(ctx, hex.EncodeToString(sum[:]), leaks)
		took := time.Since(began)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if !r.Found || r.Action != snapglyph.LeakPause {
				t.Errorf("token %d: %+v, want found and paused", i, r)
			}
		}
		for id := range ids {
			if k, _ := db.Key(ctx, id); k.Status != snapglyph.KeyPaused {
				t.Errorf("key %s is %s after the report", id, k.Status)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(heard) != n {
			t.Errorf("this process heard of %d changes, want %d", len(heard), n)
		}
		for _, id := range heard {
			if !ids[id] {
				t.Errorf("heard of a change to %s, not a reported key", id)
			}
		}
		if !db.Postgres() {
			return
		}
		if took > 3*service.ApplyTimeout {
			t.Errorf("the report took %s with a node that never confirms: it waited more than once (ApplyTimeout %s)", took, service.ApplyTimeout)
		}
		if len(unconfirmed) != n {
			t.Fatalf("%d unconfirmed reports, want one per key (%d)", len(unconfirmed), n)
		}
		for _, u := range unconfirmed {
			if !ids[u.Change.RefID] || len(u.Nodes) != 1 || u.Nodes[0] != "node_stuck" {
				t.Errorf("unconfirmed %+v", u)
			}
		}
	})
}
