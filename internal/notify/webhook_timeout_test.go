package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestWebhookTimeoutIsRetried: "a 2xx answer within 30 s is success; a
// timeout is retried", with the sink's Timeout shortened to 200 ms. The
// receiver holds the first request past it: that attempt is logged as no
// answer (status 0, an error naming the timeout) and scheduled again after
// the backoff. The second, answered at once, succeeds, with the same
// X-Snapglyph-Delivery as the first.
func TestWebhookTimeoutIsRetried(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		const timeout = 200 * time.Millisecond

		// The receiver holds its first request until the test ends (or
		// the client gives up on it, or 10 s pass, so that it never hangs
		// the server's Close), and answers the others at once.
		release := make(chan struct{})
		var mu sync.Mutex
		var deliveries []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			io.Copy(io.Discard, req.Body)
			mu.Lock()
			deliveries = append(deliveries, req.Header.Get("X-Snapglyph-Delivery"))
			n := len(deliveries)
			mu.Unlock()
			if n == 1 {
				select {
				case <-release:
				case <-req.Context().Done():
				case <-time.After(10 * time.Second):
				}
				return
			}
			fmt.Fprint(w, "ok")
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) }) // runs first: Close waits for the held request
		calls := func() []string {
			mu.Lock()
			defer mu.Unlock()
			return append([]string(nil), deliveries...)
		}

		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("Menu")
		d := f.hookDeliverer("n1", nil, true)
		// The deliverer's own bound is well above the sink's and well
		// below the 30 s default: if Timeout were ignored, the attempt
		// would end here after 5 s, with another error, not after 30 s.
		d.Timeout = 5 * time.Second
		for _, s := range d.Sinks {
			if ws, ok := s.(*notify.WebhookSink); ok {
				ws.Timeout = timeout
			}
		}

		runCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		began := time.Now()
		if _, err := d.RunOnce(runCtx); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(began); took > 4*time.Second {
			t.Fatalf("the first attempt took %s with a %s timeout", took, timeout)
		}
		as := f.attempts(w.ID)
		if len(as) != 1 || len(calls()) != 1 {
			t.Fatalf("after the first run: %d attempts logged, %d requests received; want 1 and 1", len(as), len(calls()))
		}
		first := as[0]
		if first.OK() || first.Status != 0 || first.Attempt != 1 || !strings.Contains(first.Error, "no answer within "+timeout.String()) {
			t.Fatalf("first attempt %+v: want status 0 (no answer) and an error saying no answer within %s", first, timeout)
		}
		if first.Duration < timeout || first.Duration > 4*time.Second {
			t.Errorf("first attempt took %s, want the %s timeout (bounds, not a measurement)", first.Duration, timeout)
		}
		sink := store.SinkWebhook + w.ID
		st, err := db.DeliveryState(ctx, first.EventID, sink)
		if err != nil {
			t.Fatal(err)
		}
		if !st.DoneAt.IsZero() || st.Attempts != 1 || !st.NextAt.After(f.clock.Now()) || !strings.Contains(st.LastError, "no answer within") {
			t.Fatalf("delivery after the timeout: %+v, want it scheduled again after the backoff", st)
		}

		// Not due before the backoff has passed.
		if n, err := d.RunOnce(runCtx); err != nil || n != 0 {
			t.Fatalf("before the backoff: %d deliveries (%v), want 0", n, err)
		}
		f.clock.Set(f.clock.Now().Add(notify.WebhookBackoff(1)))
		if n, err := d.RunOnce(runCtx); err != nil || n != 1 {
			t.Fatalf("after the backoff: %d deliveries (%v), want 1", n, err)
		}
		as = f.attempts(w.ID)
		if len(as) != 2 || !as[0].OK() || as[0].Status != http.StatusOK || as[0].Attempt != 2 || as[0].EventID != first.EventID {
			t.Fatalf("second attempt %+v: want the same event answered 200", as[0])
		}
		got := calls()
		want := snapglyph.WebhookDeliveryID(first.EventID, w.ID)
		if len(got) != 2 || got[0] != want || got[1] != want {
			t.Fatalf("delivery ids %v, want %s twice", got, want)
		}
		if st, err := db.DeliveryState(ctx, first.EventID, sink); err != nil || st.DoneAt.IsZero() {
			t.Fatalf("delivery after the second attempt: %+v %v, want done", st, err)
		}
		// Done: nothing more is sent, however much later.
		f.clock.Set(f.clock.Now().Add(time.Hour))
		f.drain(d)
		if n := len(calls()); n != 2 {
			t.Fatalf("%d requests after success, want 2", n)
		}
	})
}

// TestWebhookDurationHoldsTheBody: a receiver that answers 200 at once and
// then sends its body a byte at a time holds the delivery until the sink
// gives up reading (its Timeout, 300 ms here): the attempt is a success
// (the status decides), and the delivery log's duration is the time the
// receiver held it, not the time to its first line.
func TestWebhookDurationHoldsTheBody(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		const timeout = 300 * time.Millisecond
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			io.Copy(io.Discard, req.Body)
			w.WriteHeader(http.StatusOK)
			for i := 0; i < 100; i++ { // at most 10 s
				if _, err := w.Write([]byte("y")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-req.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}))
		t.Cleanup(srv.Close)
		w, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, srv.URL, []string{"qr.created"})
		if err != nil {
			t.Fatal(err)
		}
		f.createQR("Menu")
		d := f.hookDeliverer("n1", nil, true)
		for _, s := range d.Sinks {
			if ws, ok := s.(*notify.WebhookSink); ok {
				ws.Timeout = timeout
			}
		}
		if _, err := d.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		as := f.attempts(w.ID)
		if len(as) != 1 || !as[0].OK() || as[0].Status != http.StatusOK || !strings.HasPrefix(as[0].Response, "y") {
			t.Fatalf("attempts %+v, want one success with the start of the body", as)
		}
		if as[0].Duration < timeout {
			t.Errorf("logged duration %s; the receiver held the delivery for the sink's %s", as[0].Duration, timeout)
		}
	})
}
