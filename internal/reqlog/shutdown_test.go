package reqlog_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// recordEntries records n entries of one organisation over 50 keys.
func recordEntries(w *reqlog.Writer, n int) {
	now := time.Now()
	for i := range n {
		e := entry("org_a", fmt.Sprintf("key_%d", i%50), fmt.Sprintf("192.0.2.%d", i%200), now, 200, "")
		w.Record(&e)
	}
}

// TestShutdownKeepsItsDeadline: the final write of a stop, with the
// database hanging, gives up at the stop's deadline and logs how many
// entries were lost; the writer's loop, ending after it, does not try
// again for 10 s more. Before, the node's write and then the loop's own
// final write each took their 10 s.
func TestShutdownKeepsItsDeadline(t *testing.T) {
	logs := &testdb.Buffer{}
	s := &hangingStore{entered: make(chan struct{}, 1), release: make(chan struct{})}
	defer close(s.release)
	w := reqlog.New(s, slog.New(slog.NewJSONHandler(logs, nil)))
	w.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var reported []error
	go func() {
		w.Run(ctx, func(err error) { reported = append(reported, err) })
		close(done)
	}()
	recordEntries(w, 3000)

	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer scancel()
	start := time.Now()
	err := w.Shutdown(sctx)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %v with a deadline of 300 ms", took)
	}
	if err == nil {
		t.Fatal("Shutdown succeeded while the database hung")
	}
	lost := w.Backlog()
	if lost != 3000 {
		t.Errorf("backlog %d after the failed final write, want the 3000 entries", lost)
	}
	if r := logs.Records("request log: entries lost at stop"); len(r) != 1 || r[0]["entries"] != 3000.0 {
		t.Errorf("lost entries logged as %v, want one record of 3000", r)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not end within 2 s of its context after Shutdown: it wrote again")
	}
	if n := len(logs.Records("request log: entries lost at stop")); n != 1 || len(reported) != 0 {
		t.Errorf("the loss was logged %d times and reported %d times by Run, want once, by Shutdown", n, len(reported))
	}
}

// TestShutdownWritesEverything: with a database that answers, Shutdown
// writes every buffered entry, and entries a request that outlived the
// stop's drain recorded afterwards are reported by Run's end, not lost
// silently.
func TestShutdownWritesEverything(t *testing.T) {
	logs := &testdb.Buffer{}
	s := &nullStore{}
	w := reqlog.New(s, slog.New(slog.NewJSONHandler(logs, nil)))
	w.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx, func(error) {}); close(done) }()
	recordEntries(w, 3000)
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := s.saved.Load(); n != 3000 {
		t.Errorf("%d entries written, want 3000", n)
	}
	recordEntries(w, 2) // after the final write
	cancel()
	<-done
	if r := logs.Records("request log: entries recorded after the final write are lost"); len(r) != 1 || r[0]["entries"] != 2.0 {
		t.Errorf("late entries logged as %v, want one record of 2", r)
	}
}
