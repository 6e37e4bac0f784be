package reqlog_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestGapsFromManyNodesAtOnce: nodes adding gaps of the same organisations
// and hours at the same moment all succeed and add up. The rows are
// written in one order; before, each transaction went through the hours
// in map order, and two of them on PostgreSQL could each hold a row the
// other wanted (deadlock detected).
func TestGapsFromManyNodesAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		orgs := []string{snapglyph.NewID("org"), snapglyph.NewID("org")}
		const nodes, rounds, hours = 4, 6, 48
		var wg sync.WaitGroup
		errs := make(chan error, nodes*rounds)
		for range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					gaps := map[string]map[time.Time]int64{}
					for _, o := range orgs {
						gaps[o] = map[time.Time]int64{}
						for h := range hours {
							gaps[o][t0.Add(time.Duration(h)*time.Hour)] = 1
						}
					}
					if err := db.AddRequestLogGaps(ctx, gaps); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, o := range orgs {
			got, err := db.RequestLogGaps(ctx, o, t0, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != hours {
				t.Fatalf("%d hours with gaps, want %d", len(got), hours)
			}
			for _, g := range got {
				if g.Dropped != nodes*rounds {
					t.Errorf("hour %s: %d dropped, want %d", g.Hour, g.Dropped, nodes*rounds)
				}
			}
		}
	})
}

// TestMaintainPrunesKeyAddresses: the request log's maintenance removes
// the addresses keys were last seen from before the longest retention
// (the key page's list), and keeps younger ones.
func TestMaintainPrunesKeyAddresses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanMax}
		if _, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
			t.Fatal(err)
		}
		key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
		if err := db.CreateKey(ctx, key, snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		retention := snapglyph.LogRetention{snapglyph.PlanStarter: 10, snapglyph.PlanTrial: 10, snapglyph.PlanPro: 10, snapglyph.PlanMax: 20}
		b := &snapglyph.UsageBatch{KeyIPs: map[snapglyph.KeyIP]snapglyph.IPSeen{
			{KeyID: key.ID, IP: "192.0.2.1"}: {First: t0.AddDate(0, 0, -30), Last: t0.AddDate(0, 0, -21), Calls: 1},
			{KeyID: key.ID, IP: "192.0.2.2"}: {First: t0.AddDate(0, 0, -30), Last: t0.AddDate(0, 0, -15), Calls: 1},
		}}
		if _, err := db.SaveUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, _, err := reqlog.Maintain(ctx, db, retention, t0); err != nil {
			t.Fatal(err)
		}
		left, total, err := db.KeyIPs(ctx, key.ID, 10)
		if err != nil || total != 1 || left[0].IP != "192.0.2.2" {
			t.Fatalf("addresses left %+v (%d, %v), want 192.0.2.2 (seen 15 days ago, the longest retention is 20)", left, total, err)
		}
	})
}

// lostAck saves a batch and then reports a failure, once: a commit whose
// answer was lost on the way back.
type lostAck struct {
	*testdb.DB
	lost atomic.Bool
}

func (l *lostAck) SaveRequestLog(ctx context.Context, e []snapglyph.RequestLogEntry, r snapglyph.LogRetention, fresh []snapglyph.KeyIP) ([]int, error) {
	dropped, err := l.DB.SaveRequestLog(ctx, e, r, fresh)
	if err == nil && l.lost.CompareAndSwap(false, true) {
		return nil, errors.New("unexpected EOF (the commit's answer was lost)")
	}
	return dropped, err
}

// TestRetriedBatchIsNotDuplicated: a batch saved whose answer was lost is
// written again by the next flush, with the entries that arrived since;
// each entry is stored once (PostgreSQL's request log has no unique key:
// the retry leaves out what is stored already).
func TestRetriedBatchIsNotDuplicated(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := snapglyph.NewID("org")
		s := &lostAck{DB: db}
		w := reqlog.New(s, quiet())
		w.Now = func() time.Time { return t0 }
		for i := range 40 {
			e := entry(org, "key_a", "192.0.2.1", t0.Add(time.Duration(i)*time.Millisecond), 200, "")
			w.Record(&e)
		}
		if err := w.Flush(ctx); err == nil {
			t.Fatal("the lost answer was not reported")
		}
		if n := len(all(t, db, org)); n != 40 {
			t.Fatalf("%d entries stored by the write whose answer was lost, want 40", n)
		}
		for i := range 10 { // arrived in the meantime
			e := entry(org, "key_a", "192.0.2.1", t0.Add(time.Second+time.Duration(i)*time.Millisecond), 200, "")
			w.Record(&e)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := all(t, db, org)
		seen := map[string]bool{}
		for _, e := range got {
			if seen[e.RequestID] {
				t.Errorf("entry %s stored twice", e.RequestID)
			}
			seen[e.RequestID] = true
		}
		if len(got) != 50 || len(seen) != 50 {
			t.Fatalf("%d entries (%d distinct) after the retry, want 50", len(got), len(seen))
		}
		if w.Backlog() != 0 {
			t.Fatalf("backlog %d", w.Backlog())
		}
	})
}

// TestEntriesOfADroppedDayAreDropped: a node whose clock is ahead dropped
// the partition of the oldest day the writer still keeps. The writer's
// entries of that day are dropped and counted, the partition is not made
// again, and the other entries of the batch are written (PostgreSQL: SQLite
// has no partitions).
func TestEntriesOfADroppedDayAreDropped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		if db.Dialect == "sqlite" {
			t.Skip("SQLite has no partitions")
		}
		ctx := context.Background()
		org := snapglyph.NewID("org")
		w := writer(db)
		days := w.Retention.Days(snapglyph.PlanPro)
		oldDay := snapglyph.DayOf(t0.AddDate(0, 0, -days)) // began before the cutoff, ends after it
		first := entry(org, "key_a", "192.0.2.1", oldDay.Add(13*time.Hour), 200, "")
		w.Record(&first)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// Another node, 13 hours ahead, prunes: the old day is past.
		if parts, _, err := db.PruneRequestLog(ctx, t0.Add(13*time.Hour)); err != nil || parts == 0 {
			t.Fatalf("prune dropped %d partitions (%v)", parts, err)
		}
		// A refused entry (a rule the test adds) of a Max organisation,
		// whose partition of that day exists, comes first: the batch is
		// then written entry by entry, where a missing partition must
		// not pass for refused data.
		if _, err := db.SQL().ExecContext(ctx, `ALTER TABLE request_log ADD CONSTRAINT no_teapots CHECK (status <> 418)`); err != nil {
			t.Fatal(err)
		}
		teapot := entry(org, "key_a", "192.0.2.1", oldDay.Add(13*time.Hour+time.Second), 418, "")
		teapot.Plan = snapglyph.PlanMax
		w.Record(&teapot)
		for i := range 3 {
			e := entry(org, "key_a", "192.0.2.1", oldDay.Add(14*time.Hour+time.Duration(i)*time.Second), 200, "")
			w.Record(&e)
		}
		recent := entry(org, "key_a", "192.0.2.1", t0, 200, "")
		w.Record(&recent)
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("the flush failed: %v (it would be retried for ever)", err)
		}
		if n, d := w.DroppedExpired.Load(), w.DroppedData.Load(); n != 3 || d != 1 {
			t.Errorf("%d entries counted as dropped with their day and %d as refused, want 3 and 1", n, d)
		}
		got := all(t, db, org)
		if len(got) != 1 || got[0].RequestID != recent.RequestID {
			t.Errorf("stored %d entries, want only the recent one", len(got))
		}
		parts, err := db.RequestLogPartitions(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			if p.Day.Equal(oldDay) && p.RetentionDays == days {
				t.Errorf("the dropped day's partition %v was made again", p)
			}
		}
		if w.Backlog() != 0 {
			t.Errorf("backlog %d", w.Backlog())
		}
	})
}

// TestRefusedAddressKeepsTheBatch: an address the database refuses for
// the record of first uses (a rule the test adds) does not hold the batch
// back: its entries are written, the rest of the batch too, and the next
// flush has nothing left (before, the whole batch failed at every flush).
func TestRefusedAddressKeepsTheBatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		rule := `ALTER TABLE log_key_ips ADD CONSTRAINT no_bad_ip CHECK (ip <> '203.0.113.66')`
		if !db.Postgres() {
			rule = `CREATE TRIGGER no_bad_ip BEFORE INSERT ON log_key_ips WHEN NEW.ip = '203.0.113.66' BEGIN SELECT RAISE(ABORT, 'no bad ip'); END`
		}
		if _, err := db.SQL().ExecContext(ctx, rule); err != nil {
			t.Fatal(err)
		}
		org := snapglyph.NewID("org")
		w := writer(db)
		for i, ip := range []string{"192.0.2.1", "203.0.113.66", "192.0.2.2"} {
			e := entry(org, "key_a", ip, t0.Add(time.Duration(i)*time.Second), 200, "")
			w.Record(&e)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("a refused address failed the batch: %v", err)
		}
		if got := all(t, db, org); len(got) != 3 || w.Backlog() != 0 {
			t.Fatalf("%d entries stored, backlog %d; want 3 and 0", len(got), w.Backlog())
		}
	})
}
