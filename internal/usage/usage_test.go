package usage

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

type fakeSaver struct {
	fail  bool
	saved []*snapglyph.UsageBatch
}

func (f *fakeSaver) SaveUsage(_ context.Context, b *snapglyph.UsageBatch) error {
	if f.fail {
		return errors.New("database down")
	}
	f.saved = append(f.saved, b)
	return nil
}

// TestFailedFlushKeepsEverything: a batch that could not be written is
// merged back and written whole by the next flush, with the latest use.
func TestFailedFlushKeepsEverything(t *testing.T) {
	s := &fakeSaver{fail: true}
	r := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1, ImageCredits: 10}, snapglyph.LastUse{At: t0, IP: "192.0.2.1"})
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("the flush did not fail")
	}
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 2}, snapglyph.LastUse{At: t0.Add(time.Second), IP: "192.0.2.2"})
	if got := r.Pending("org_a", "2026-11"); got.APICalls != 3 || got.ImageCredits != 10 {
		t.Fatalf("pending %+v after a failed flush, want 3 calls and 10 credits", got)
	}
	s.fail = false
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	b := s.saved[0]
	org := b.Orgs[snapglyph.PeriodKey{ID: "org_a", Period: "2026-11"}]
	key := b.Keys[snapglyph.PeriodKey{ID: "key_a", Period: "2026-11"}]
	if len(s.saved) != 1 || org.APICalls != 3 || key.APICalls != 3 || key.ImageCredits != 10 || b.LastUsed["key_a"].IP != "192.0.2.2" {
		t.Fatalf("saved %+v", b)
	}
	if got := r.Pending("org_a", "2026-11"); got.APICalls != 0 || r.Backlog() != 0 {
		t.Fatalf("still pending after a good flush: %+v", got)
	}
}
