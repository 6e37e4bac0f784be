package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// blockingSink holds each delivery until its context ends.
type blockingSink struct{ started chan struct{} }

func (blockingSink) Name() string { return store.SinkNotify }
func (s blockingSink) Deliver(ctx context.Context, d *store.Delivery) error {
	s.started <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// TestStopGivesClaimBack: a node that stops in the middle of a delivery
// gives its claim back, so another node takes the event at once rather
// than after the lease.
func TestStopGivesClaimBack(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx := context.Background()
	clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
	db.Now = clock.Now
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := db.CreateOrg(ctx, org, "o@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	ev := &snapglyph.Event{Kind: snapglyph.EventTrialEnded, OrgID: org.ID}
	if _, err := db.Emit(ctx, ev, ""); err != nil {
		t.Fatal(err)
	}
	sink := blockingSink{started: make(chan struct{}, 1)}
	d := &notify.Deliverer{DB: db.DB, Node: "a", Sinks: []notify.Sink{sink}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { d.RunOnce(runCtx); close(done) }()
	<-sink.started
	stop()
	<-done
	ds, err := db.ClaimDeliveries(ctx, store.SinkNotify, "b", 10, time.Minute)
	if err != nil || len(ds) != 1 || ds[0].Event.ID != ev.ID || ds[0].Attempts != 2 {
		t.Fatalf("another node's claim right after the stop: %+v %v", ds, err)
	}
}
