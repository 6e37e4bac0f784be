package notify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
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
