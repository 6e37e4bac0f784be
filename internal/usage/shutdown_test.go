package usage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// memSaver keeps what it is given.
type memSaver struct {
	mu    sync.Mutex
	calls int64
}

func (s *memSaver) SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) ([]snapglyph.DroppedUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range b.Orgs {
		s.calls += c.APICalls
	}
	return nil, nil
}

// recordCalls records n calls spread over 50 keys of one organisation.
func recordCalls(r *Recorder, n int) {
	now := time.Now()
	period, _ := snapglyph.Period(now)
	for i := range n {
		r.Record("org_a", fmt.Sprintf("key_%d", i%50), period, snapglyph.Counts{APICalls: 1},
			snapglyph.LastUse{At: now, IP: fmt.Sprintf("192.0.2.%d", i%200)})
	}
}

// TestShutdownKeepsItsDeadline: the final flush of a stop, with the
// database hanging, gives up at the stop's deadline and says what was
// lost (the calls, not only that something was); the flush loop, ending
// after it, does not try again for 10 s more. Before, the node's flush
// and then the loop's own final flush each took their 10 s.
func TestShutdownKeepsItsDeadline(t *testing.T) {
	logs := &testdb.Buffer{}
	s := &hangingSaver{entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(s.release)
	r := New(s, slog.New(slog.NewJSONHandler(logs, nil)))
	r.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	recordCalls(r, 3000)

	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	start := time.Now()
	err := r.Shutdown(sctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a deadline of 300 ms", took)
	}
	if err == nil {
		t.Fatal("Shutdown succeeded while the database hung")
	}
	lost := logs.Records("final usage flush failed; buffered usage is lost")
	if len(lost) != 1 || lost[0]["api_calls"] != 3000.0 {
		t.Errorf("lost usage logged as %v, want one record of 3000 API calls", lost)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not end within 2 s of its context after Shutdown: it flushed again")
	}
	if n := len(logs.Records("final usage flush failed; buffered usage is lost")); n != 1 {
		t.Errorf("the loss was logged %d times, want once", n)
	}
}

// TestShutdownWritesEverything: with a database that answers, Shutdown
// writes all that is buffered, and what the stop's drain let through
// afterwards (a request that outlived it) is reported by Run's end, not
// lost silently.
func TestShutdownWritesEverything(t *testing.T) {
	logs := &testdb.Buffer{}
	s := &memSaver{}
	r := New(s, slog.New(slog.NewJSONHandler(logs, nil)))
	r.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	recordCalls(r, 3000)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.calls != 3000 {
		t.Errorf("%d calls written, want 3000", s.calls)
	}
	recordCalls(r, 2) // after the final flush
	cancel()
	<-done
	late := logs.Records("usage recorded after the final flush is lost")
	if len(late) != 1 || late[0]["api_calls"] != 2.0 {
		t.Errorf("late usage logged as %v, want one record of 2 API calls", late)
	}
}
