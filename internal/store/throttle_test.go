package store_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestTryAttemptConcurrent: 50 attempts at once through two connection
// pools (two nodes) against a subject that blocks from the 10th: exactly
// 10 are let through, the others are refused with the block's end and
// not counted; after the block, one more passes and blocks again.
func TestTryAttemptConcurrent(t *testing.T) {
	const free, parallel = 10, 50
	block := func(n int64) time.Duration {
		if n < free {
			return 0
		}
		return time.Duration(n-free+1) * 30 * time.Second
	}
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		other, err := store.Open(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		other.Now = clock.Now
		dbs := []*store.DB{db.DB, other}
		for _, d := range dbs {
			warm(t, d, 20)
		}

		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			allowed int
			refused []time.Time
			errs    []error
			start   = make(chan struct{})
		)
		for i := range parallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, until, err := dbs[i%2].TryAttempt(ctx, "signup:203.0.113.5", time.Hour, block)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					errs = append(errs, err)
				case ok:
					allowed++
				default:
					refused = append(refused, until)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("%d errors, first %v", len(errs), errs[0])
		}
		if allowed != free || len(refused) != parallel-free {
			t.Fatalf("%d allowed and %d refused, want %d and %d", allowed, len(refused), free, parallel-free)
		}
		for _, until := range refused {
			if !until.Equal(t0.Add(30 * time.Second)) {
				t.Fatalf("refused until %v, want the block set by the 10th attempt, %v", until, t0.Add(30*time.Second))
			}
		}
		// Refused attempts were not counted: the 11th, after the block,
		// blocks for 60 s (not for 41 × 30 s).
		clock.Set(t0.Add(30 * time.Second))
		ok, until, err := db.TryAttempt(ctx, "signup:203.0.113.5", time.Hour, block)
		if err != nil || !ok || !until.Equal(clock.Now().Add(60*time.Second)) {
			t.Fatalf("after the block: allowed %v until %v (%v), want allowed with a 60 s block", ok, until, err)
		}
		if ok, _, _ := db.TryAttempt(ctx, "signup:203.0.113.5", time.Hour, block); ok {
			t.Error("allowed during the second block")
		}
		// Another subject is not affected, and a failed sign-in counted
		// with CountAttempt is counted even while blocked.
		if ok, _, err := db.TryAttempt(ctx, "signup:198.51.100.7", time.Hour, block); !ok || err != nil {
			t.Errorf("another network: %v %v", ok, err)
		}
		if u, err := db.CountAttempt(ctx, "signup:203.0.113.5", time.Hour, block); err != nil || !u.Equal(clock.Now().Add(90*time.Second)) {
			t.Errorf("CountAttempt while blocked: until %v (%v), want 90 s", u, err)
		}
	})
}

// warm opens n connections (at most the pool's limit) in d's pool one
// after the other and returns them to it idle, so a burst of requests does not open them all at once
// (on a loaded machine PostgreSQL then takes longer than the pool's 3 s
// connect timeout).
func warm(t *testing.T, d *store.DB, n int) {
	t.Helper()
	ctx := context.Background()
	var conns []*sql.Conn
	if m := d.SQL().Stats().MaxOpenConnections; m > 0 && m < n {
		n = m
	}
	for range n {
		c, err := d.SQL().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
}
