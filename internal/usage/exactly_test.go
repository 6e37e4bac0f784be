package usage_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// lossySaver writes to a real store but answers some flushes with an
// error: every third after the database committed the batch (the
// connection was lost before the commit's answer came back: the node
// cannot tell that from a failure), every fifth before writing anything.
type lossySaver struct {
	db      *testdb.DB
	n       atomic.Int64
	lost    atomic.Int64 // committed, answered with an error
	refused atomic.Int64 // not written, answered with an error
}

var errConnLost = errors.New("write tcp 127.0.0.1:5432: connection reset by peer")

func (s *lossySaver) SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) ([]snapglyph.DroppedUsage, error) {
	n := s.n.Add(1)
	if n%5 == 0 {
		s.refused.Add(1)
		return nil, errConnLost
	}
	dropped, err := s.db.SaveUsage(ctx, b)
	if err == nil && n%3 == 0 {
		s.lost.Add(1)
		return nil, errConnLost
	}
	return dropped, err
}

// TestUsageCountedOnceWhenCommitAnswerIsLost: three nodes' recorders take
// 30,000 calls (and 3 credits each) of one key while they flush, and a
// third of their flushes commit but are answered with a lost connection,
// a fifth fail outright. What the database holds at the end is exactly
// the test's own count, for the organisation, the key and the key's day,
// on both stores: a batch whose commit was not confirmed is written again
// and not counted twice, and one that failed is not lost.
func TestUsageCountedOnceWhenCommitAnswerIsLost(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanMax}
		if _, err := db.CreateOrg(ctx, org, "o@acme.test", ""); err != nil {
			t.Fatal(err)
		}
		key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
		if err := db.CreateKey(ctx, key, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
		const nodes, writers, perWriter = 3, 4, 2500
		saver := &lossySaver{db: db}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		var recs []*usage.Recorder
		for range nodes {
			recs = append(recs, usage.New(saver, log))
		}

		var recorded atomic.Int64 // the independent count
		var wg sync.WaitGroup
		for _, r := range recs {
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						use := snapglyph.LastUse{At: at.Add(time.Duration(i) * time.Millisecond), IP: "192.0.2.1", UserAgent: "acme-sdk/1.0"}
						r.Record(org.ID, key.ID, "2026-11", snapglyph.Counts{APICalls: 1, ImageCredits: 3}, use)
						recorded.Add(1)
						if i%25 == w { // let the flushers in, a hundred times
							time.Sleep(time.Millisecond)
						}
						// Keep pace with the flushes, however slow the
						// machine makes them: about 100 of them happen
						// while the calls are recorded (each waits at
						// most 5 s).
						for deadline := time.Now().Add(5 * time.Second); i%100 == 99 && saver.n.Load() < int64(i/25) && time.Now().Before(deadline); {
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
		}
		done := make(chan struct{})
		var flushers sync.WaitGroup
		for _, r := range recs {
			flushers.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					r.Flush(ctx) // errors are the point: the next flush retries
				}
			})
		}
		wg.Wait()
		close(done)
		flushers.Wait()
		for _, r := range recs {
			var err error
			for range 20 { // at most a few failures in a row
				if err = r.Flush(ctx); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("the final flush kept failing: %v", err)
			}
			if p := r.Pending(org.ID, "2026-11"); p != (snapglyph.Counts{}) || r.Backlog() != 0 {
				t.Fatalf("still buffered after the final flush: %+v, backlog %d", p, r.Backlog())
			}
		}
		if saver.lost.Load() < 10 || saver.refused.Load() < 5 {
			t.Fatalf("only %d lost answers and %d failures in %d flushes: the test did not test", saver.lost.Load(), saver.refused.Load(), saver.n.Load())
		}

		want := snapglyph.Counts{APICalls: recorded.Load(), ImageCredits: 3 * recorded.Load()}
		if want.APICalls != nodes*writers*perWriter {
			t.Fatalf("recorded %d calls", want.APICalls)
		}
		u, err := db.Usage(ctx, org.ID, "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		k, err := db.KeyUsage(ctx, key.ID, "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		days, err := db.KeyDays(ctx, key.ID, "2026-11-03", "2026-11-03")
		if err != nil {
			t.Fatal(err)
		}
		var day snapglyph.Counts
		for _, d := range days {
			day.APICalls += d.APICalls
			day.ImageCredits += d.ImageCredits
		}
		if u.Used != want || k != want || day != want {
			t.Errorf("stored: organisation %+v, key %+v, key's day %+v; recorded %+v (%d flushes, %d answers lost after the commit, %d failed)",
				u.Used, k, day, want, saver.n.Load(), saver.lost.Load(), saver.refused.Load())
		}
	})
}
