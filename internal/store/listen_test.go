package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestListenSurvivesIdleProbes: the listener checks its connection while
// idle (every ListenProbe) and still hears changes afterwards.
func TestListenSurvivesIdleProbes(t *testing.T) {
	db := testdb.Open(t, "postgres")
	org := newOrg(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	got := make(chan store.Change, 4)
	done := make(chan error, 1)
	go func() {
		done <- db.Listen(ctx, func() { close(ready) }, func(c store.Change) { got <- c })
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("LISTEN not in place")
	}
	time.Sleep(store.ListenProbe + 500*time.Millisecond) // at least one probe
	if err := db.SetPlan(context.Background(), org.ID, snapglyph.PlanMax, snapglyph.Operator); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.Kind != store.ChangeOrg || c.RefID != org.ID {
			t.Fatalf("heard %+v", c)
		}
	case err := <-done:
		t.Fatalf("the listener stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after an idle probe")
	}
}
