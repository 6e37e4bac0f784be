package meter

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// usedStore is a database whose usage a test controls: SaveUsage adds a
// batch in two steps (commit, then return) that the test can hold apart.
type usedStore struct {
	memStore
	mu                sync.Mutex
	used              map[string]snapglyph.Counts
	reads             int
	committed, resume chan struct{}
}

func (s *usedStore) Usage(ctx context.Context, orgID, period string) (snapglyph.StoredUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return snapglyph.StoredUsage{Used: s.used[orgID+"/"+period]}, nil
}

func (s *usedStore) SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) ([]snapglyph.DroppedUsage, error) {
	s.mu.Lock()
	for k, c := range b.Orgs {
		s.used[k.ID+"/"+k.Period] = add(s.used[k.ID+"/"+k.Period], c)
	}
	s.mu.Unlock()
	if s.committed != nil {
		s.committed <- struct{}{}
		<-s.resume
	}
	return nil, nil
}

// TestSpentAcrossFlush: the reported usage counts every call exactly once
// before, during and after a flush (the batch moves from the buffer to
// the database), and reads the database only when it must.
func TestSpentAcrossFlush(t *testing.T) {
	st := &usedStore{memStore: *newMemStore(), used: make(map[string]snapglyph.Counts)}
	rec := usage.New(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sp := NewSpent(st, rec)
	sp.MaxAge = time.Hour // only this node's flushes invalidate here
	ctx := context.Background()
	period, _ := snapglyph.Period(time.Now())
	record := func(n int) {
		for i := 0; i < n; i++ {
			rec.Record("org_s", "key_s", period, snapglyph.Counts{APICalls: 1, ImageCredits: 10}, snapglyph.LastUse{At: time.Now()})
		}
	}
	expect := func(step string, calls int64) {
		t.Helper()
		u, err := sp.Used(ctx, "org_s", period)
		if err != nil {
			t.Fatal(err)
		}
		if u.APICalls != calls || u.ImageCredits != 10*calls {
			t.Fatalf("%s: reported %+v, want %d calls", step, u, calls)
		}
	}
	record(5)
	expect("buffered", 5)
	record(2)
	expect("buffered, cached", 7)
	if st.reads != 1 {
		t.Errorf("%d database reads for two answers, want 1", st.reads)
	}

	st.committed, st.resume = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- rec.Flush(ctx) }()
	<-st.committed // in the database, and still in the flushing batch
	expect("flush committed, not returned", 7)
	record(1)
	expect("flush committed, more buffered", 8)
	close(st.resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st.committed = nil
	expect("after the flush", 8)
	if st.reads != 2 {
		t.Errorf("%d database reads, want 2 (one after the flush)", st.reads)
	}
	// Another node's flush shows once the figure is older than MaxAge.
	st.mu.Lock()
	st.used["org_s/"+period] = add(st.used["org_s/"+period], snapglyph.Counts{APICalls: 4, ImageCredits: 40})
	st.mu.Unlock()
	expect("another node flushed, cached", 8)
	sp.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	expect("another node flushed, read again", 12)
}
