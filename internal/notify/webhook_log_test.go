package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestDeliveredOnceWhenItsLogRowIsLost: a delivery the receiver answered
// 2xx is done even when its attempt cannot be written to the delivery
// log (here a rule added for the test refuses every row): the receiver
// gets it once, the node's log says what was lost. Before, the lost row
// made the delivery fail, and it was sent again a minute later.
func TestDeliveredOnceWhenItsLogRowIsLost(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		r := newReceiver(t, nil)
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, r.srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		r.secret = w.Secret
		rules := []string{`CREATE TRIGGER no_attempts BEFORE INSERT ON webhook_attempts BEGIN SELECT RAISE(ABORT, 'the delivery log is full'); END`}
		if db.Postgres() {
			rules = []string{
				`CREATE FUNCTION no_attempts() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the delivery log is full'; END $$`,
				`CREATE TRIGGER no_attempts BEFORE INSERT ON webhook_attempts FOR EACH ROW EXECUTE FUNCTION no_attempts()`,
			}
		}
		for _, rule := range rules {
			if _, err := db.SQL().ExecContext(ctx, rule); err != nil {
				t.Fatal(err)
			}
		}
		f.createQR("Menu")
		d := f.hookDeliverer("n1", nil, true)
		f.drain(d)
		// Past the first retry and the claim's lease: nothing is due.
		f.clock.Set(f.clock.Now().Add(notify.DefaultLease + time.Hour))
		f.drain(d)
		if got := r.received(); len(got) != 1 || r.calls != 1 {
			t.Fatalf("%d received, %d calls; want the event once", len(got), r.calls)
		}
		if n, err := db.PendingDeliveries(ctx, store.SinkWebhook+w.ID); err != nil || n != 0 {
			t.Fatalf("%d deliveries pending (%v), want the delivery done", n, err)
		}
		if as := f.attempts(w.ID); len(as) != 0 {
			t.Fatalf("the log holds %d attempts despite the rule", len(as))
		}
		if logs := f.logs.String(); !strings.Contains(logs, "not written to the delivery log") || !strings.Contains(logs, "the delivery log is full") {
			t.Errorf("the node's log does not tell of the lost row:\n%s", logs)
		}
	})
}

// TestStopCountsOnlyAttemptsMade: a node stopped while it sends the first
// of an endpoint's two claimed deliveries logs that attempt as not
// finished because the node stopped, and gives the second back unsent
// without counting it: its first attempt, made later, is attempt 1.
// Before, the second kept its claim's count (the log's only row of it
// was attempt 2) and the first was logged as "context canceled".
func TestStopCountsOnlyAttemptsMade(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		arrived := make(chan struct{}, 1)
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // so that the client's leaving ends r's context
			if calls.Add(1) == 1 {
				arrived <- struct{}{}
				<-r.Context().Done() // held until the node stops
				return
			}
			fmt.Fprint(w, "ok")
		}))
		t.Cleanup(srv.Close)
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("One")
		f.createQR("Two")
		evs, err := db.Events(ctx, f.org.ID, snapglyph.EventQRCreated, 10)
		if err != nil || len(evs) != 2 {
			t.Fatalf("events %v %v", evs, err)
		}
		sink := store.SinkWebhook + w.ID

		d := f.hookDeliverer("n1", nil, true)
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			d.RunOnce(runCtx) // claims both, sends One
			close(done)
		}()
		<-arrived
		stop()
		<-done
		for i, want := range []int{1, 0} {
			s, err := db.DeliveryState(ctx, evs[i].ID, sink)
			if err != nil || s.Attempts != want || !s.DoneAt.IsZero() {
				t.Errorf("delivery of event %d after the stop: %+v %v, want %d attempts, not done", i+1, s, err, want)
			}
		}
		as := f.attempts(w.ID)
		if len(as) != 1 || as[0].EventID != evs[0].ID || as[0].Attempt != 1 || as[0].Status != 0 || as[0].Error != "not finished: the node stopped" {
			t.Fatalf("log after the stop: %+v, want One's attempt 1, not finished because the node stopped", as)
		}

		f.drain(f.hookDeliverer("n2", nil, true))
		got := map[int64][]int{}
		for _, a := range f.attempts(w.ID) {
			got[a.EventID] = append(got[a.EventID], a.Attempt)
		}
		if fmt.Sprint(got[evs[0].ID]) != "[2 1]" || fmt.Sprint(got[evs[1].ID]) != "[1]" {
			t.Fatalf("attempts in the log: One %v, Two %v; want [2 1] and [1]", got[evs[0].ID], got[evs[1].ID])
		}
	})
}
