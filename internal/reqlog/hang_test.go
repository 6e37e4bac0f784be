package reqlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// hangingStore is a database that hangs rather than refusing (a frozen
// server, a black-holed network): a write waits until its context ends
// or the test lets go.
type hangingStore struct {
	nullStore
	entered chan struct{}
	release chan struct{}
}

func (s *hangingStore) SaveRequestLog(ctx context.Context, e []snapglyph.RequestLogEntry, r snapglyph.LogRetention, fresh []snapglyph.KeyIP) ([]int, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.release:
		return s.nullStore.SaveRequestLog(ctx, e, r, fresh)
	}
}

// TestFlushGivesUpOnStuckWrite (review 7): a graceful stop's write waits
// for the periodic write in progress only until its own deadline. The
// periodic write, stuck on a database that hangs, held a lock the stop's
// write waited on with no deadline, and the node never stopped.
func TestFlushGivesUpOnStuckWrite(t *testing.T) {
	s := &hangingStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	w := reqlog.New(s, quiet())
	w.Interval = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx, func(error) {}); close(done) }()
	defer func() { close(s.release); cancel(); <-done }()
	e := entry("org_a", "key_a", "192.0.2.1", time.Now(), 200, "")
	w.Record(&e)
	select {
	case <-s.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the periodic write did not start")
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer fcancel()
	result := make(chan error, 1)
	go func() { result <- w.Flush(fctx) }()
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("Flush succeeded while the database hung")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Flush waited past its deadline for the write stuck on a hung database")
	}
	if n := w.Backlog(); n != 1 {
		t.Errorf("backlog %d, want the entry kept", n)
	}
}
