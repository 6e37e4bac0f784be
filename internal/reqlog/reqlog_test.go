package reqlog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

var t0 = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// flaky is the real database with a switch that makes every write fail as
// if the database were unreachable.
type flaky struct {
	*store.DB
	down atomic.Bool
}

var errDown = &snapglyph.Error{Kind: snapglyph.EUNAVAILABLE, Message: "the database is unavailable"}

func (f *flaky) SaveRequestLog(ctx context.Context, e []snapglyph.RequestLogEntry, r snapglyph.LogRetention, fresh []snapglyph.KeyIP) ([]int, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.DB.SaveRequestLog(ctx, e, r, fresh)
}

func (f *flaky) SaveRequestLogAgain(ctx context.Context, e []snapglyph.RequestLogEntry, r snapglyph.LogRetention, fresh []snapglyph.KeyIP) ([]int, error) {
	if f.down.Load() {
		return nil, errDown
	}
	return f.DB.SaveRequestLogAgain(ctx, e, r, fresh)
}

func (f *flaky) AddRequestLogGaps(ctx context.Context, g map[string]map[time.Time]int64) error {
	if f.down.Load() {
		return errDown
	}
	return f.DB.AddRequestLogGaps(ctx, g)
}

func (f *flaky) EnsureRequestLogPartitions(ctx context.Context, p []snapglyph.LogPartition) error {
	if f.down.Load() {
		return errDown
	}
	return f.DB.EnsureRequestLogPartitions(ctx, p)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writer is a writer on db whose clock is t0's.
func writer(db *testdb.DB) *reqlog.Writer {
	w := reqlog.New(db, quiet())
	w.Now = func() time.Time { return t0 }
	return w
}

// entry is a request of key from ip at t.
func entry(org, key, ip string, t time.Time, status int, code string) snapglyph.RequestLogEntry {
	return snapglyph.RequestLogEntry{
		At: t, RequestID: snapglyph.NewRequestID(t), OrgID: org, KeyID: key, KeyPrefix: "qr_live_ab12",
		Method: "GET", Route: "/api/v1/usage", Status: status, Code: code, IP: ip, UserAgent: "acme-sdk/1.0",
		Duration: 1500 * time.Microsecond, Calls: 1, Plan: snapglyph.PlanPro,
	}
}

// all reads every entry of the organisation, newest first.
func all(t *testing.T, db *testdb.DB, org string) []snapglyph.RequestLogEntry {
	t.Helper()
	var out []snapglyph.RequestLogEntry
	err := db.RequestLog(context.Background(), org, snapglyph.RequestLogFilter{}, time.Time{}, func(e *snapglyph.RequestLogEntry) error {
		out = append(out, *e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWriterMarksSuspicious writes requests of two keys in several flushes
// and from two writers (two nodes), and checks every entry's fields and
// suspicious signs against what the test expects of each request.
func TestWriterMarksSuspicious(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		w1, w2 := writer(db), writer(db)
		want := map[string]snapglyph.RequestLogFlags{}
		var order []string
		rec := func(w *reqlog.Writer, e snapglyph.RequestLogEntry, flags snapglyph.RequestLogFlags) {
			w.Record(&e)
			want[e.RequestID] = flags
			order = append(order, e.RequestID)
		}
		flush := func(w *reqlog.Writer) {
			t.Helper()
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		const inactive, newIP, burst = snapglyph.FlagInactiveKey, snapglyph.FlagNewIP, snapglyph.FlagBurst
		// The key's first address is not suspicious; a second one is,
		// once; a refusal because the key was revoked is.
		rec(w1, entry("org_a", "key_1", "192.0.2.1", t0, 200, ""), 0)
		rec(w1, entry("org_a", "key_1", "192.0.2.1", t0.Add(time.Second), 200, ""), 0)
		flush(w1)
		rec(w1, entry("org_a", "key_1", "198.51.100.9", t0.Add(2*time.Second), 200, ""), newIP)
		rec(w1, entry("org_a", "key_1", "198.51.100.9", t0.Add(3*time.Second), 401, "api_key_revoked"), inactive)
		flush(w1)
		// Another node has not seen these addresses: it asks the
		// database.
		rec(w2, entry("org_a", "key_1", "192.0.2.1", t0.Add(4*time.Second), 200, ""), 0)
		rec(w2, entry("org_a", "key_1", "203.0.113.77", t0.Add(5*time.Second), 404, "not_found"), newIP)
		flush(w2)
		// Twelve refusals of a paused key within a minute, over two
		// flushes of two nodes: from the tenth on they are a burst.
		for i := range 12 {
			w := w1
			if i >= 6 {
				w = w2
			}
			f := inactive
			if i == 0 {
				f |= 0 // key_2's first address
			}
			if i >= snapglyph.BurstRefusals-1 {
				f |= burst
			}
			rec(w, entry("org_a", "key_2", "203.0.113.5", t0.Add(time.Duration(10+i)*time.Second), 401, "api_key_paused"), f)
			if i == 5 {
				flush(w1)
			}
		}
		flush(w2)
		// Refusals in the next minute start counting again.
		rec(w1, entry("org_a", "key_2", "203.0.113.5", t0.Add(61*time.Second), 429, "api_call_limit_reached"), 0)
		flush(w1)

		got := all(t, db, "org_a")
		if len(got) != len(want) {
			t.Fatalf("%d entries stored, want %d", len(got), len(want))
		}
		for i, e := range got {
			// Newest first: the reverse of the order recorded.
			if id := order[len(order)-1-i]; e.RequestID != id {
				t.Fatalf("entry %d is %s, want %s", i, e.RequestID, id)
			}
			if e.Flags != want[e.RequestID] {
				t.Errorf("entry %s (%s %s %d %s): flags %v, want %v", e.RequestID, e.KeyID, e.IP, e.Status, e.At.Format(time.TimeOnly), e.Flags.Names(), want[e.RequestID].Names())
			}
			if e.OrgID != "org_a" || e.Method != "GET" || e.Route != "/api/v1/usage" || e.UserAgent != "acme-sdk/1.0" ||
				e.Duration != 1500*time.Microsecond || e.Calls != 1 || e.KeyPrefix != "qr_live_ab12" {
				t.Errorf("entry %s read back as %+v", e.RequestID, e)
			}
		}
		if n := w1.Written.Load() + w2.Written.Load(); n != uint64(len(want)) {
			t.Errorf("the writers count %d written, want %d", n, len(want))
		}
	})
}

// TestWritersMarkTogether: two nodes flush batches of one key at the same
// moment, round after round. Nine refusals in a minute on each node are
// eighteen in the minute, so nine are a burst; an address new to the key
// that both nodes saw at once is new once.
func TestWritersMarkTogether(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		w1, w2 := writer(db), writer(db)
		first := entry("org_a", "key_3", "192.0.2.1", t0, 200, "")
		w1.Record(&first)
		if err := w1.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		const rounds, each = 12, snapglyph.BurstRefusals - 1
		for r := 1; r <= rounds; r++ {
			minute := t0.Add(time.Duration(r) * time.Minute)
			ip := fmt.Sprintf("198.51.100.%d", r)
			for i, w := range []*reqlog.Writer{w1, w2} {
				for j := range each {
					e := entry("org_a", "key_3", "192.0.2.1", minute.Add(time.Duration(i*each+j)*time.Second), 401, "api_key_revoked")
					w.Record(&e)
				}
				e := entry("org_a", "key_3", ip, minute.Add(time.Duration(50+i)*time.Second), 200, "")
				w.Record(&e)
			}
			start := make(chan struct{})
			errs := make(chan error, 2)
			for _, w := range []*reqlog.Writer{w1, w2} {
				go func() {
					<-start
					errs <- w.Flush(ctx)
				}()
			}
			close(start)
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		}
		bursts, newIPs := map[int64]int{}, map[string]int{}
		for _, e := range all(t, db, "org_a") {
			if e.Flags&snapglyph.FlagBurst != 0 {
				bursts[e.At.Unix()/60]++
			}
			if e.Flags&snapglyph.FlagNewIP != 0 {
				newIPs[e.IP]++
			}
		}
		for r := 1; r <= rounds; r++ {
			m := t0.Add(time.Duration(r)*time.Minute).Unix() / 60
			if bursts[m] != 2*each-(snapglyph.BurstRefusals-1) {
				t.Errorf("round %d: %d of %d refusals in the minute flagged as a burst, want %d", r, bursts[m], 2*each, 2*each-(snapglyph.BurstRefusals-1))
			}
			if ip := fmt.Sprintf("198.51.100.%d", r); newIPs[ip] != 1 {
				t.Errorf("round %d: the key's first requests from %s (one per node) flagged new %d times, want once", r, ip, newIPs[ip])
			}
		}
	})
}

// TestWritersMarkByTime: two nodes serve a new key, and the batch of the
// node whose requests came later is written first (the other node's was
// held up), round after round with the nodes' parts swapped. The
// addresses are flagged new as if the batches had been written in time
// order: the key's first address is not new, though another was written
// first; an address's first request is the earliest, though a later one
// was written first; and a request that took long, written after a
// later one of its address by its own node, is that address's first.
func TestWritersMarkByTime(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		w1, w2 := writer(db), writer(db)
		want := map[string]snapglyph.RequestLogFlags{}
		const newIP = snapglyph.FlagNewIP
		for r := range 4 {
			early, late := w1, w2
			if r%2 == 1 {
				early, late = w2, w1
			}
			key := fmt.Sprintf("key_%d", r)
			start := t0.Add(time.Duration(r) * time.Minute)
			rec := func(w *reqlog.Writer, ip string, after time.Duration, flags snapglyph.RequestLogFlags) {
				e := entry("org_a", key, ip, start.Add(after), 200, "")
				w.Record(&e)
				want[e.RequestID] = flags
			}
			flush := func(w *reqlog.Writer) {
				t.Helper()
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			rec(early, "127.0.0.1", 0, 0)
			rec(early, "198.51.100.3", 2*time.Second, newIP)
			rec(early, "127.0.0.1", 3*time.Second, 0)
			rec(late, "203.0.113.2", 50*time.Millisecond, 0) // the long request below is earlier
			rec(late, "198.51.100.3", 4*time.Second, 0)
			rec(late, "203.0.113.2", 5*time.Second, 0)
			flush(late)
			flush(early)
			// A request from 203.0.113.2 that began before the late
			// node's first one from it, and ended after its flush.
			rec(late, "203.0.113.2", 20*time.Millisecond, newIP)
			flush(late)
		}
		got := all(t, db, "org_a")
		if len(got) != len(want) {
			t.Fatalf("%d entries stored, want %d", len(got), len(want))
		}
		for _, e := range got {
			if e.Flags != want[e.RequestID] {
				t.Errorf("%s from %s at %s: flags %v, want %v", e.KeyID, e.IP, e.At.Format(time.StampMilli), e.Flags.Names(), want[e.RequestID].Names())
			}
		}
	})
}

// TestWriterStoresHostileText: what a client sent (user agent, path id,
// method) is stored as valid text without NUL, cut to its bound, and the
// rest of the batch is saved with it.
func TestWriterStoresHostileText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		w := writer(db)
		e := entry("org_a", "key_1", "192.0.2.1", t0, 404, "not_found")
		e.UserAgent = "evil\xff\x00agent" + strings.Repeat("é", 5000)
		e.ResourceID = "qr_\xc3\x28\x00" + strings.Repeat("x", 1000)
		e.Method = "GET\x00"
		w.Record(&e)
		ok := entry("org_a", "key_1", "192.0.2.1", t0.Add(time.Second), 200, "")
		w.Record(&ok)
		if err := w.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := all(t, db, "org_a")
		if len(got) != 2 {
			t.Fatalf("%d entries stored, want 2", len(got))
		}
		h := got[1]
		for name, v := range map[string]string{"user agent": h.UserAgent, "resource id": h.ResourceID, "method": h.Method} {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Errorf("%s stored as %q", name, v)
			}
		}
		if len(h.UserAgent) > store.MaxLogUserAgent || !strings.HasPrefix(h.UserAgent, "evil\uFFFD\\u0000agent") || len(h.ResourceID) > store.MaxLogResourceID {
			t.Errorf("user agent %d bytes %q…, resource id %d bytes", len(h.UserAgent), h.UserAgent[:20], len(h.ResourceID))
		}
		// The path id and the user agent show what was sent: the NUL as
		// an escape, not dropped (StorableShown).
		if !strings.HasPrefix(h.ResourceID, "qr_\uFFFD(\\u0000xxx") {
			t.Errorf("resource id stored as %.40q…", h.ResourceID)
		}
	})
}

// TestWriterBoundedWhileDown: while the database is away, requests keep
// being recorded up to MaxBuffer, the rest is counted as dropped (by
// organisation and hour), nothing is lost from what was buffered, and
// when the database is back everything buffered is written, oldest
// first, with the gap recorded for the Logs page.
func TestWriterBoundedWhileDown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		f := &flaky{DB: db.DB}
		w := reqlog.New(f, quiet())
		w.Now = func() time.Time { return t0 }
		w.MaxBuffer, w.BatchSize = 100, 30
		f.down.Store(true)
		var ids []string
		for i := range 150 {
			e := entry("org_a", "key_1", "192.0.2.1", t0.Add(time.Duration(i)*time.Millisecond), 200, "")
			e.RequestID = fmt.Sprintf("%016x", i)
			ids = append(ids, e.RequestID)
			w.Record(&e)
			if i == 40 {
				if err := w.Flush(ctx); err == nil {
					t.Fatal("a flush with the database away succeeded")
				}
			}
		}
		if got := w.Backlog(); got != 100 {
			t.Fatalf("backlog %d, want the buffer's bound 100", got)
		}
		if got := w.DroppedFull.Load(); got != 50 {
			t.Fatalf("%d counted as dropped, want 50", got)
		}
		f.down.Store(false)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := all(t, db, "org_a")
		if len(got) != 100 || got[0].RequestID != ids[99] || got[99].RequestID != ids[0] {
			t.Fatalf("%d entries written (newest %s, oldest %s), want the first 100 recorded", len(got), got[0].RequestID, got[len(got)-1].RequestID)
		}
		gaps, err := db.RequestLogGaps(ctx, "org_a", t0.Add(-time.Hour), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(gaps) != 1 || gaps[0].Dropped != 50 || !gaps[0].Hour.Equal(t0) {
			t.Fatalf("gaps %+v, want 50 requests in the hour of %s", gaps, t0)
		}
		if w.Backlog() != 0 || w.Written.Load() != 100 {
			t.Fatalf("backlog %d, written %d after the database came back", w.Backlog(), w.Written.Load())
		}
	})
}

// TestMaintainPrunesByRetention: each entry is kept for its plan's days
// at the time it was recorded (Pro 30, Max 90 by default); older ones are
// removed (PostgreSQL: their days' partitions are dropped), newer ones
// kept.
func TestMaintainPrunesByRetention(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		// Written as they came, days ago (straight to the store: a writer
		// skips what is past its retention already).
		ages := []int{100, 89, 45, 31, 29, 1, 0}
		var entries []snapglyph.RequestLogEntry
		var made []snapglyph.LogPartition
		retention := snapglyph.DefaultLogRetention()
		for _, days := range ages {
			for _, plan := range []snapglyph.Plan{snapglyph.PlanPro, snapglyph.PlanMax} {
				e := entry("org_"+string(plan), "key_"+string(plan), "192.0.2.1", t0.AddDate(0, 0, -days), 200, "")
				e.Plan = plan
				entries = append(entries, e)
				made = append(made, snapglyph.LogPartition{RetentionDays: retention.Days(plan), Day: snapglyph.DayOf(e.At)})
			}
		}
		if err := db.EnsureRequestLogPartitions(ctx, made); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveRequestLog(ctx, entries, retention, nil); err != nil {
			t.Fatal(err)
		}
		w := writer(db)
		gap := map[string]map[time.Time]int64{"org_pro": {t0.AddDate(0, 0, -120).Truncate(time.Hour): 3, t0.Truncate(time.Hour): 2}}
		if err := db.AddRequestLogGaps(ctx, gap); err != nil {
			t.Fatal(err)
		}
		parts, rows, err := reqlog.Maintain(ctx, db, snapglyph.DefaultLogRetention(), t0)
		if err != nil {
			t.Fatal(err)
		}
		if db.Postgres() {
			// Pro: 100, 89, 45 and 31 days ago; Max: 100 days ago.
			if parts != 5 || rows != 0 {
				t.Errorf("dropped %d partitions and deleted %d rows, want 5 partitions", parts, rows)
			}
			ps, err := db.RequestLogPartitions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if p.Day.AddDate(0, 0, p.RetentionDays+1).Before(t0) {
					t.Errorf("partition %+v outlived its retention", p)
				}
			}
			// Today's and tomorrow's partitions exist for each class.
			for _, days := range []int{30, 90} {
				for _, d := range []time.Time{snapglyph.DayOf(t0), snapglyph.DayOf(t0).AddDate(0, 0, 1)} {
					found := false
					for _, p := range ps {
						found = found || (p.RetentionDays == days && p.Day.Equal(d))
					}
					if !found {
						t.Errorf("no partition for %d days on %s", days, d.Format(time.DateOnly))
					}
				}
			}
		} else if parts != 0 || rows != 5 {
			t.Errorf("dropped %d partitions and deleted %d rows, want 5 rows", parts, rows)
		}
		for plan, keep := range map[string][]int{"pro": {0, 1, 29}, "max": {0, 1, 29, 31, 45, 89}} {
			got := all(t, db, "org_"+plan)
			var ages []int
			for _, e := range got {
				ages = append(ages, int(t0.Sub(e.At)/(24*time.Hour)))
			}
			if fmt.Sprint(ages) != fmt.Sprint(keep) {
				t.Errorf("%s keeps entries %v days old, want %v", plan, ages, keep)
			}
		}
		gaps, err := db.RequestLogGaps(ctx, "org_pro", t0.AddDate(-1, 0, 0), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(gaps) != 1 || gaps[0].Dropped != 2 {
			t.Errorf("gaps %+v after pruning, want only today's", gaps)
		}
		// An entry already past its retention is not written (pruning
		// would remove it at once).
		e := entry("org_pro", "key_pro", "192.0.2.1", t0.AddDate(0, 0, -200), 200, "")
		w.Record(&e)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got := all(t, db, "org_pro"); len(got) != 3 {
			t.Errorf("%d entries after an expired one was recorded, want 3", len(got))
		}
		// A partition the writer made and someone dropped since is made
		// anew.
		if db.Postgres() {
			if _, err := db.SQL().ExecContext(ctx, `DROP TABLE request_log_r30_d`+t0.Format("20060102")); err != nil {
				t.Fatal(err)
			}
			e := entry("org_pro", "key_pro", "192.0.2.1", t0.Add(time.Second), 200, "")
			w.Record(&e)
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := all(t, db, "org_pro"); len(got) != 3 || got[0].RequestID != e.RequestID {
				t.Errorf("%d entries after today's partition was dropped and an entry written, want 3", len(got))
			}
		}
	})
}

// TestWriterDropsRefusedEntries: an entry the database refuses for its
// data (here a rule added for the test refuses status 418) is dropped,
// counted and recorded as a gap of its hour, and the rest of its batch is
// saved; the next batches are not held back.
func TestWriterDropsRefusedEntries(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		rule := `ALTER TABLE request_log ADD CONSTRAINT no_teapots CHECK (status <> 418)`
		if !db.Postgres() {
			rule = `CREATE TRIGGER no_teapots BEFORE INSERT ON request_log WHEN NEW.status = 418 BEGIN SELECT RAISE(ABORT, 'no teapots'); END`
		}
		if _, err := db.SQL().ExecContext(ctx, rule); err != nil {
			t.Fatal(err)
		}
		w := writer(db)
		for i := range 5 {
			e := entry("org_a", "key_1", "192.0.2.1", t0.Add(time.Duration(i)*time.Second), 200, "")
			if i == 2 {
				e.Status = 418
			}
			w.Record(&e)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		e := entry("org_a", "key_1", "192.0.2.1", t0.Add(time.Minute), 200, "")
		w.Record(&e)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got := all(t, db, "org_a")
		if len(got) != 5 || w.DroppedData.Load() != 1 || w.Written.Load() != 5 {
			t.Fatalf("%d entries saved (%d counted) and %d dropped, want 5 and 1", len(got), w.Written.Load(), w.DroppedData.Load())
		}
		for _, e := range got {
			if e.Status == 418 {
				t.Fatal("the refused entry is stored")
			}
		}
		gaps, err := db.RequestLogGaps(ctx, "org_a", t0.Add(-time.Hour), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(gaps) != 1 || gaps[0].Dropped != 1 {
			t.Fatalf("gaps %+v, want the dropped entry's hour", gaps)
		}
	})
}
