package meter

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// TestCloseKeepsItsDeadlineWithLeaseInFlight: a graceful stop while a
// lease ahead of need hangs on the database (a frozen server, a
// black-holed network) gives up at its own deadline and counts what it
// could not give back; it waited for the lease's own timeout (10 s)
// first, past the stop's budget.
func TestCloseKeepsItsDeadlineWithLeaseInFlight(t *testing.T) {
	st := newMemStore()
	m := New(st)
	org := orgWith("org_h", 100000, 1000)
	ctx := context.Background()
	if _, ok, err := m.Charge(ctx, org, snapglyph.APICalls, 1); err != nil || !ok {
		t.Fatal(ok, err)
	}
	st.gate = make(chan struct{}) // every lease from now on hangs
	defer close(st.gate)
	for n := 1; !m.fetching(org.ID); n++ {
		if _, ok, err := m.Charge(ctx, org, snapglyph.APICalls, 1); err != nil || !ok {
			t.Fatal(ok, err)
		}
		if n > 100000 {
			t.Fatal("no prefetch started")
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := m.Close(cctx)
	took := time.Since(start)
	if took > 2*time.Second {
		t.Errorf("Close took %v with a deadline of 300 ms", took)
	}
	if err == nil {
		t.Fatal("Close succeeded with a lease stuck in flight")
	}
	// The lease held (a block, partly spent) and the one in flight.
	if n := m.ReturnErrors.Load(); n != 2 {
		t.Errorf("ReturnErrors = %d, want 2 (the lease held and the one in flight): %v", n, err)
	}
}
