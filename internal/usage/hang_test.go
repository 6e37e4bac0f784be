package usage

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// hangingSaver is a database that hangs rather than refusing (a frozen
// server, a black-holed network): a save waits until its context ends or
// the test lets go.
type hangingSaver struct {
	entered chan struct{}
	release chan struct{}
}

func (s *hangingSaver) SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) ([]snapglyph.DroppedUsage, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.release:
		return nil, nil
	}
}

// TestFlushGivesUpOnStuckFlush (review 7): a graceful stop's flush waits
// for the periodic flush in progress only until its own deadline. The
// periodic flush, stuck on a database that hangs, held a lock the stop's
// flush waited on with no deadline, and the node never stopped.
func TestFlushGivesUpOnStuckFlush(t *testing.T) {
	s := &hangingSaver{entered: make(chan struct{}, 1), release: make(chan struct{})}
	r := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.Interval = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { close(s.release); cancel(); <-done }()
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: time.Now(), IP: "192.0.2.1"})
	select {
	case <-s.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the periodic flush did not start")
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer fcancel()
	result := make(chan error, 1)
	go func() { result <- r.Flush(fctx) }()
	select {
	case err := <-result:
		if err == nil {
			t.Fatal("Flush succeeded while the database hung")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Flush waited past its deadline for the flush stuck on a hung database")
	}
	if p := r.Pending("org_a", "2026-11"); p.APICalls != 1 {
		t.Errorf("pending %+v, want the call kept", p)
	}
}
