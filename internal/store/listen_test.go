package store_test

import (
	"context"
	"strings"
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
	// The listener's connection is named, so the test can see its probe.
	app := "listen_" + strings.ToLower(snapglyph.NewID("p")[2:12])
	listener, err := store.Open(db.DSN + "&application_name=" + app)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	got := make(chan snapglyph.Change, 4)
	done := make(chan error, 1)
	go func() {
		done <- listener.Listen(ctx, func() { close(ready) }, func(c snapglyph.Change) { got <- c })
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("LISTEN not in place")
	}
	// Wait until the idle listener has probed its connection: its last
	// statement, as PostgreSQL shows it, is then the probe, not LISTEN.
	var pid int
	if err := db.SQL().QueryRow(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, app).Scan(&pid); err != nil {
		t.Fatalf("the listener's connection: %v", err)
	}
	deadline := time.Now().Add(10 * store.ListenProbe)
	for {
		var last string
		if err := db.SQL().QueryRow(`SELECT query FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&last); err != nil {
			t.Fatalf("the listener's connection: %v", err)
		}
		if !strings.HasPrefix(last, "LISTEN") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe after %v; last statement %q", 10*store.ListenProbe, last)
		}
		time.Sleep(10 * time.Millisecond) // polling PostgreSQL's view
	}
	if err := db.SetPlan(context.Background(), org.ID, snapglyph.PlanMax, snapglyph.Operator); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.Kind != snapglyph.ChangeOrg || c.RefID != org.ID {
			t.Fatalf("heard %+v", c)
		}
	case err := <-done:
		t.Fatalf("the listener stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after an idle probe")
	}
}
