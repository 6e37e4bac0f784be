package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// changeSeqs lists the change log's sequence numbers.
func changeSeqs(t *testing.T, db *testdb.DB) []int64 {
	t.Helper()
	cs, err := db.Changes(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, c := range cs {
		seqs = append(seqs, c.Seq)
	}
	return seqs
}

// TestPruneChanges: entries older than the retention go, except the
// newest keepLast; newer entries all stay.
func TestPruneChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		now := time.Now()
		change := func(at time.Time, n int) {
			db.Now = func() time.Time { return at }
			for i := 0; i < n; i++ {
				v := int64(1000 + i)
				if err := db.SetLimits(ctx, org.ID, &v, nil, snapglyph.Operator); err != nil {
					t.Fatal(err)
				}
			}
		}
		change(now.Add(-49*time.Hour), 6) // old
		change(now.Add(-23*time.Hour), 3) // within the retention
		db.Now = func() time.Time { return now }
		all := changeSeqs(t, db)
		if len(all) != 9 {
			t.Fatalf("%d changes logged, want 9", len(all))
		}

		// The last 5 are kept even though two of them are old.
		n, err := db.PruneChanges(ctx, store.ChangeRetention, 5)
		if err != nil {
			t.Fatal(err)
		}
		if got := changeSeqs(t, db); n != 4 || !slices.Equal(got, all[4:]) {
			t.Fatalf("deleted %d, left %v; want 4 deleted, %v left", n, got, all[4:])
		}
		// With a smaller floor every old entry goes, and only those.
		if n, err = db.PruneChanges(ctx, store.ChangeRetention, 1); err != nil {
			t.Fatal(err)
		}
		if got := changeSeqs(t, db); n != 2 || !slices.Equal(got, all[6:]) {
			t.Fatalf("deleted %d, left %v; want 2 deleted, %v left", n, got, all[6:])
		}
		// The newest entry survives any pruning, so the next sequence
		// number still follows it (a SQLite node detects gaps by it).
		db.Now = func() time.Time { return now.Add(72 * time.Hour) }
		if _, err := db.PruneChanges(ctx, store.ChangeRetention, 0); err != nil {
			t.Fatal(err)
		}
		if got := changeSeqs(t, db); !slices.Equal(got, all[8:]) {
			t.Fatalf("left %v, want the newest %v", got, all[8:])
		}
		if last, err := db.LastChange(ctx); err != nil || last != all[8] {
			t.Fatalf("LastChange = %d, %v; want %d", last, err, all[8])
		}
	})
}

// TestPruneIdempotency: keys past the 24-hour window go, others stay.
func TestPruneIdempotency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		now := time.Now()
		for i, age := range []time.Duration{25 * time.Hour, 24*time.Hour + time.Second, 23 * time.Hour, time.Minute} {
			q := fmt.Sprintf(`INSERT INTO idempotency_keys (org_id, idem_key, request_hash, qr_id, created_at) VALUES ('%s', 'k%d', 'h', 'qr_x', %d)`,
				org.ID, i, now.Add(-age).UnixMilli())
			if _, err := db.SQL().ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		db.Now = func() time.Time { return now }
		n, err := db.PruneIdempotency(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM idempotency_keys`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if n != 2 || left != 2 {
			t.Fatalf("deleted %d, %d left; want 2 and 2", n, left)
		}
	})
}

// TestNodeLivenessByDatabaseClock: whether a node is live is judged by
// the database's clock alone, so neither a node's nor the operator's
// skewed clock leaves a node out or waits for a dead one.
func TestNodeLivenessByDatabaseClock(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		// The node's clock is 5 s behind; the operator's 5 s ahead.
		db.Now = func() time.Time { return time.Now().Add(-5 * time.Second) }
		if err := db.SetNode(ctx, "node_behind", 0, true); err != nil {
			t.Fatal(err)
		}
		if err := db.SetNode(ctx, "node_other", 0, true); err != nil {
			t.Fatal(err)
		}
		db.Now = func() time.Time { return time.Now().Add(5 * time.Second) }
		if err := db.SetPlan(ctx, org.ID, snapglyph.PlanMax, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		behind, err := db.WaitApplied(ctx, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"node_behind", "node_other"}; !slices.Equal(behind, want) {
			t.Fatalf("behind %v, want %v", behind, want)
		}
		if n, err := db.OtherListeningNodes(ctx, "node_other"); err != nil || n != 1 {
			t.Fatalf("OtherListeningNodes = %d, %v; want 1", n, err)
		}
		// node_other catches up; node_behind stops heart-beating for
		// longer than NodeStaleAfter (by the database's clock): nobody
		// waits for it.
		last, err := db.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SetNode(ctx, "node_other", last, true); err != nil {
			t.Fatal(err)
		}
		stale := store.NodeStaleAfter.Milliseconds() + 1000
		if _, err := db.SQL().ExecContext(ctx, fmt.Sprintf(`UPDATE nodes SET seen_at = seen_at - %d WHERE id = 'node_behind'`, stale)); err != nil {
			t.Fatal(err)
		}
		if behind, err = db.WaitApplied(ctx, time.Second); err != nil || behind != nil {
			t.Fatalf("behind %v, %v; want none", behind, err)
		}
		if n, err := db.OtherListeningNodes(ctx, "node_other"); err != nil || n != 0 {
			t.Fatalf("OtherListeningNodes = %d, %v; want 0", n, err)
		}
	})
}
