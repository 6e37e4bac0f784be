package usage

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

type fakeSaver struct {
	fail  bool
	ids   []string // the id of every batch given, failed or not
	saved []*snapglyph.UsageBatch
	raw   []*snapglyph.UsageBatch // every batch as it was given
	// bad names key ids whose rows the fake database refuses as data.
	bad map[string]bool
}

func (f *fakeSaver) SaveUsage(_ context.Context, b *snapglyph.UsageBatch) ([]snapglyph.DroppedUsage, error) {
	f.ids = append(f.ids, b.ID)
	if f.fail {
		return nil, errors.New("database down")
	}
	f.raw = append(f.raw, b)
	var dropped []snapglyph.DroppedUsage
	kept := &snapglyph.UsageBatch{Orgs: b.Orgs, Keys: map[snapglyph.PeriodKey]snapglyph.Counts{}, LastUsed: map[string]snapglyph.LastUse{}}
	for k, c := range b.Keys {
		if f.bad[k.ID] {
			dropped = append(dropped, snapglyph.DroppedUsage{Kind: "key", ID: k.ID, Period: k.Period, Counts: c, Err: errors.New("invalid byte sequence (SQLSTATE 22021)")})
			continue
		}
		kept.Keys[k] = c
	}
	for id, u := range b.LastUsed {
		if f.bad[id] {
			dropped = append(dropped, snapglyph.DroppedUsage{Kind: "last_use", ID: id, Err: errors.New("invalid byte sequence (SQLSTATE 22021)")})
			continue
		}
		kept.LastUsed[id] = u
	}
	f.saved = append(f.saved, kept)
	return dropped, nil
}

// TestFailedFlushKeepsEverything: a batch that could not be written is
// kept whole, still counted as pending, and written again with the same id
// by the next flush (it may have been committed: the store skips an id it
// holds); what was recorded meanwhile follows as a batch of its own, with
// the latest use.
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
	if n := r.Backlog(); n < 4 { // both batches' key and day counts, at least
		t.Fatalf("backlog %d after a failed flush: the kept batch is buffered too", n)
	}
	if u, ok := r.PendingLastUse("key_a"); !ok || u.IP != "192.0.2.2" {
		t.Fatalf("pending last use %+v, %v; want the later one", u, ok)
	}
	if err := r.Flush(context.Background()); err == nil {
		t.Fatal("the second flush did not fail")
	}
	s.fail = false
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(s.raw) != 2 {
		t.Fatalf("%d batches written, want the failed one and the later one", len(s.raw))
	}
	first, second := s.raw[0], s.raw[1]
	if first.ID == "" || second.ID == "" || first.ID == second.ID {
		t.Fatalf("batch ids %q and %q: want two distinct ids", first.ID, second.ID)
	}
	if s.ids[0] != first.ID {
		t.Fatalf("the failed flush sent id %q, the retry %q: a retry must keep its id", s.ids[0], first.ID)
	}
	org1, org2 := first.Orgs[snapglyph.PeriodKey{ID: "org_a", Period: "2026-11"}], second.Orgs[snapglyph.PeriodKey{ID: "org_a", Period: "2026-11"}]
	key1 := first.Keys[snapglyph.PeriodKey{ID: "key_a", Period: "2026-11"}]
	if org1.APICalls != 1 || org1.ImageCredits != 10 || key1.APICalls != 1 || org2.APICalls != 2 || first.LastUsed["key_a"].IP != "192.0.2.1" || second.LastUsed["key_a"].IP != "192.0.2.2" {
		t.Fatalf("written %+v then %+v", first, second)
	}
	if got := r.Pending("org_a", "2026-11"); got.APICalls != 0 || r.Backlog() != 0 {
		t.Fatalf("still pending after a good flush: %+v", got)
	}
}

// TestDroppedRowsAreLoggedAndCounted: rows the database refuses for their
// data are dropped (not put back, so they cannot block later flushes),
// logged by id and counted; the other organisation's rows are saved and
// the next flush has nothing left over.
func TestDroppedRowsAreLoggedAndCounted(t *testing.T) {
	s := &fakeSaver{bad: map[string]bool{"key_bad": true}}
	var logs strings.Builder
	r := New(s, slog.New(slog.NewTextHandler(&logs, nil)))
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	r.Record("org_a", "key_bad", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, UserAgent: "secret-looking-agent"})
	r.Record("org_b", "key_b", "2026-11", snapglyph.Counts{APICalls: 4}, snapglyph.LastUse{At: t0, IP: "192.0.2.9"})
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.RowsDropped.Load(); got != 2 {
		t.Fatalf("RowsDropped = %d, want 2 (the bad key's counters and last use)", got)
	}
	b := s.saved[0]
	if b.Orgs[snapglyph.PeriodKey{ID: "org_a", Period: "2026-11"}].APICalls != 1 || b.Orgs[snapglyph.PeriodKey{ID: "org_b", Period: "2026-11"}].APICalls != 4 ||
		b.Keys[snapglyph.PeriodKey{ID: "key_b", Period: "2026-11"}].APICalls != 4 || b.LastUsed["key_b"].IP != "192.0.2.9" {
		t.Fatalf("saved %+v", b)
	}
	if r.Backlog() != 0 || r.Pending("key_bad", "2026-11").APICalls != 0 {
		t.Fatal("a dropped row was put back")
	}
	out := logs.String()
	if strings.Count(out, "level=ERROR") != 2 || !strings.Contains(out, "id=key_bad") || strings.Contains(out, "secret-looking-agent") {
		t.Fatalf("log:\n%s", out)
	}
	if err := r.Flush(context.Background()); err != nil || len(s.saved) != 1 {
		t.Fatalf("a second flush wrote %d batches (err %v); nothing was left", len(s.saved)-1, err)
	}
}

// TestInFlight: units admitted by running requests count in Pending from
// their charge on, exactly once: Record moves them from running to
// buffered in one step, a refund (negative Admit) takes them off, and the
// count never goes below zero.
func TestInFlight(t *testing.T) {
	r := New(&fakeSaver{}, slog.New(slog.DiscardHandler))
	use := snapglyph.LastUse{At: time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)}
	r.Admit("org_a", "2026-11", snapglyph.Counts{APICalls: 1})
	r.Admit("org_a", "2026-11", snapglyph.Counts{APICalls: 1, ImageCredits: 10})
	r.Admit("org_b", "2026-11", snapglyph.Counts{APICalls: 1})
	if p := r.Pending("org_a", "2026-11"); p != (snapglyph.Counts{APICalls: 2, ImageCredits: 10}) {
		t.Fatalf("two running requests: pending %+v", p)
	}
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1, ImageCredits: 10}, use)
	if p, in := r.Pending("org_a", "2026-11"), inFlight(r, "org_a", "2026-11"); p != (snapglyph.Counts{APICalls: 2, ImageCredits: 10}) || in != (snapglyph.Counts{APICalls: 1}) {
		t.Fatalf("one recorded: pending %+v, in flight %+v", p, in)
	}
	r.Admit("org_a", "2026-11", snapglyph.Counts{APICalls: -1}) // refunded
	r.Admit("org_a", "2026-11", snapglyph.Counts{APICalls: -1}) // once too often
	if p, in := r.Pending("org_a", "2026-11"), inFlight(r, "org_a", "2026-11"); p != (snapglyph.Counts{APICalls: 1, ImageCredits: 10}) || in != (snapglyph.Counts{}) {
		t.Fatalf("refunded: pending %+v, in flight %+v", p, in)
	}
	// Recorded without being admitted here: nothing goes negative.
	r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1}, use)
	if in := inFlight(r, "org_a", "2026-11"); in != (snapglyph.Counts{}) {
		t.Fatalf("in flight %+v", in)
	}
	if in := inFlight(r, "org_b", "2026-11"); in != (snapglyph.Counts{APICalls: 1}) {
		t.Fatalf("another organisation: in flight %+v", in)
	}
	if p := r.Pending("org_a", "2026-12"); p != (snapglyph.Counts{}) {
		t.Fatalf("another period: %+v", p)
	}
}

// inFlight returns the units the recorder counts as running for an
// organisation's period.
func inFlight(r *Recorder, orgID, period string) snapglyph.Counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inflight[snapglyph.PeriodKey{ID: orgID, Period: period}]
}
