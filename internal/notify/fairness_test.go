package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// countingEndpoint answers webhooks, counting them; while hold is open it
// holds each request (as a receiver that accepts the connection and never
// answers does), and it notes how many it held at once.
type countingEndpoint struct {
	srv  *httptest.Server
	hold chan struct{} // closed: answer at once
	held bool
	once sync.Once
	want int
	all  chan struct{} // closed when want requests were answered

	mu              sync.Mutex
	answered        int
	inFlight, most  int
	started         int
	firstStartedSig chan struct{}
}

func newCountingEndpoint(t *testing.T, want int, hold bool) *countingEndpoint {
	e := &countingEndpoint{hold: make(chan struct{}), want: want, all: make(chan struct{}), firstStartedSig: make(chan struct{})}
	e.held = hold
	if !hold {
		close(e.hold)
	}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.started++
		if e.started == 1 {
			close(e.firstStartedSig)
		}
		e.inFlight++
		e.most = max(e.most, e.inFlight)
		e.mu.Unlock()
		select {
		case <-e.hold:
		case <-r.Context().Done():
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.inFlight--
		if r.Context().Err() != nil {
			return
		}
		e.answered++
		if e.answered == e.want {
			close(e.all)
		}
	}))
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.release) // first (cleanups run last-in first-out): Close waits for held requests
	return e
}

// release makes the endpoint answer, now and from now on.
func (e *countingEndpoint) release() {
	e.once.Do(func() {
		if e.held {
			close(e.hold)
		}
	})
}

func (e *countingEndpoint) counts() (started, answered, most int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.started, e.answered, e.most
}

// TestHungEndpointDelaysNoOther: one webhook endpoint that takes every
// request and never answers must not hold back another endpoint's
// deliveries on the same node (before, the node sent a claimed batch one
// delivery after another, so every other endpoint waited 30 s per hung
// request). The other endpoint gets all its events while the hung one
// still holds its first; the hung one is sent one request at a time, and
// gets the rest once it answers. Both stores.
func TestHungEndpointDelaysNoOther(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := maxFixture(t, db)
		ctx := context.Background()
		const codes = 12
		hung := newCountingEndpoint(t, codes, true)
		healthy := newCountingEndpoint(t, codes, false)
		// The hung endpoint first: its deliveries come first in every claim.
		for _, e := range []*countingEndpoint{hung, healthy} {
			if _, err := f.svc.CreateWebhook(ctx, f.actor(f.owner), f.org.ID, e.srv.URL, []string{"qr.created"}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range codes {
			f.createQR(fmt.Sprintf("code %d", i))
		}
		d := f.hookDeliverer("n1", nil, true)
		d.Poll = 20 * time.Millisecond
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { d.Run(runCtx); close(done) }()
		defer func() {
			stop()
			<-done
		}()

		// Bounds, not measurements: a webhook waits 30 s for its answer.
		bound := time.NewTimer(20 * time.Second)
		defer bound.Stop()
		select {
		case <-healthy.all:
		case <-bound.C:
			_, got, _ := healthy.counts()
			t.Fatalf("the healthy endpoint got %d of %d events while the other endpoint hung", got, codes)
		}
		<-hung.firstStartedSig
		if started, answered, most := hung.counts(); started != 1 || answered != 0 || most != 1 {
			t.Fatalf("hung endpoint: %d requests started, %d answered, at most %d at once; want its first request alone, unanswered", started, answered, most)
		}

		hung.release() // it answers now: the rest follow, one at a time
		select {
		case <-hung.all:
		case <-bound.C:
			_, got, _ := hung.counts()
			t.Fatalf("the once hung endpoint got %d of %d events after it answered", got, codes)
		}
		if _, _, most := hung.counts(); most != 1 {
			t.Errorf("the hung endpoint was sent %d requests at once; want one at a time", most)
		}
		if _, _, most := healthy.counts(); most != 1 {
			t.Errorf("the healthy endpoint was sent %d requests at once; want one at a time", most)
		}
		for _, w := range mustWebhooks(t, f) {
			for _, a := range f.attempts(w.ID) {
				if !a.OK() {
					t.Errorf("endpoint %s: attempt %+v failed", w.URL, a)
				}
			}
		}
	})
}

func mustWebhooks(t *testing.T, f *fixture) []*snapglyph.Webhook {
	t.Helper()
	ws, err := f.db.Webhooks(context.Background(), f.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}
