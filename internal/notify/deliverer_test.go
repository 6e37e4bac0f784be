package notify_test

import (
	"context"
	"errors"
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

// lockingSink holds the SQLite database with another writer for hold
// while it answers err: the delivery's outcome is then written while the
// database is away.
type lockingSink struct {
	path     string
	hold     time.Duration
	err      error
	released chan struct{} // closed when the other writer lets go
}

func (lockingSink) Name() string { return store.SinkNotify }
func (s lockingSink) Deliver(ctx context.Context, d *store.Delivery) error {
	release, err := testdb.LockSQLite(ctx, s.path)
	if err != nil {
		return err
	}
	time.AfterFunc(s.hold, func() {
		release()
		close(s.released)
	})
	return s.err
}

// TestOutcomeWrittenAfterOutage: a delivery's outcome that cannot be
// written at once (the database is away for a moment) is written when it
// is back. Lost, the delivery stayed claimed for the whole lease: a
// failed one was tried again ten minutes later instead of after a
// minute, and one that had gone out was sent a second time.
func TestOutcomeWrittenAfterOutage(t *testing.T) {
	for _, failed := range []bool{false, true} {
		ctx := context.Background()
		db, path := testdb.OpenImpatient(t)
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
		if _, err := db.CreateOrg(ctx, org, "o@acme.test", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Emit(ctx, &snapglyph.Event{Kind: snapglyph.EventTrialEnded, OrgID: org.ID}, ""); err != nil {
			t.Fatal(err)
		}
		sink := lockingSink{path: path, hold: 700 * time.Millisecond, released: make(chan struct{})}
		if failed {
			sink.err = errors.New("503 from the receiver")
		}
		d := &notify.Deliverer{DB: db, Node: "a", Sinks: []notify.Sink{sink}}
		d.RunOnce(ctx)
		<-sink.released
		// Two minutes on, a failed delivery is due again (its first retry
		// is after a minute); one that went out is done, even once the
		// claim's lease has lapsed.
		later := 2 * time.Minute
		if !failed {
			later = notify.DefaultLease + time.Minute
		}
		clock.Set(clock.Now().Add(later))
		ds, err := db.ClaimDeliveries(ctx, store.SinkNotify, "b", 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if failed && (len(ds) != 1 || ds[0].Attempts != 2) {
			t.Errorf("a failed delivery two minutes later: %+v, want it due for its second attempt", ds)
		}
		if !failed && len(ds) != 0 {
			t.Errorf("a delivery that went out is due again: %+v", ds)
		}
	}
}
