package store_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// usageFixture is two organisations with one key each and a batch that
// spends from both.
type usageFixture struct {
	orgs [2]*snapglyph.Org
	keys [2]*snapglyph.APIKey
	at   time.Time
}

func newUsageFixture(t *testing.T, db *testdb.DB) *usageFixture {
	t.Helper()
	f := &usageFixture{at: time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)}
	for i := range f.orgs {
		f.orgs[i] = newOrg(t, db)
		f.keys[i] = &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: f.orgs[i].ID, Name: "Production-WebApp", Prefix: "qr_live_abcd"}
		if err := db.CreateKey(context.Background(), f.keys[i], snapglyph.DigestKey(snapglyph.GenerateKey()), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// batch spends calls (and ten credits per call) in each organisation, with
// the user agents given for the two keys.
func (f *usageFixture) batch(calls int64, ua0, ua1 string) *snapglyph.UsageBatch {
	b := &snapglyph.UsageBatch{Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{}, Keys: map[snapglyph.PeriodKey]snapglyph.Counts{}, LastUsed: map[string]snapglyph.LastUse{}}
	for i, ua := range []string{ua0, ua1} {
		c := snapglyph.Counts{APICalls: calls * int64(i+1), ImageCredits: 10 * calls * int64(i+1)}
		b.Orgs[snapglyph.PeriodKey{ID: f.orgs[i].ID, Period: "2026-11"}] = c
		b.Keys[snapglyph.PeriodKey{ID: f.keys[i].ID, Period: "2026-11"}] = c
		b.LastUsed[f.keys[i].ID] = snapglyph.LastUse{At: f.at, IP: "192.0.2.1", UserAgent: ua}
	}
	return b
}

// check compares what is stored with calls spent per organisation
// (organisation i spends (i+1)×calls).
func (f *usageFixture) check(t *testing.T, db *testdb.DB, calls int64) {
	t.Helper()
	ctx := context.Background()
	for i := range f.orgs {
		want := calls * int64(i+1)
		u, err := db.Usage(ctx, f.orgs[i].ID, "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		k, err := db.KeyUsage(ctx, f.keys[i].ID, "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		if u.Used.APICalls != want || u.Used.ImageCredits != 10*want || k.APICalls != want || k.ImageCredits != 10*want {
			t.Errorf("organisation %d: stored %+v, key %+v; want %d calls and %d credits", i, u.Used, k, want, 10*want)
		}
		got, err := db.Key(ctx, f.keys[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.LastUsedAt.Equal(f.at) || got.LastUsedIP != "192.0.2.1" {
			t.Errorf("organisation %d: last used %v from %q", i, got.LastUsedAt, got.LastUsedIP)
		}
		if !utf8.ValidString(got.LastUsedUA) || strings.IndexByte(got.LastUsedUA, 0) >= 0 {
			t.Errorf("organisation %d: stored user agent %q", i, got.LastUsedUA)
		}
	}
}

// TestSaveUsageHostileText: a user agent with invalid UTF-8 and NUL bytes
// (what a client can send) does not stop the flush, on either store:
// both organisations' usage and last use are stored exactly.
func TestSaveUsageHostileText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newUsageFixture(t, db)
		ctx := context.Background()
		hostile := "evil\xff\xfe\x00sdk/" + strings.Repeat("漢", 100)[:256]
		for range 3 {
			dropped, err := db.SaveUsage(ctx, f.batch(2, hostile, "acme-sdk/1.0"))
			if err != nil || len(dropped) != 0 {
				t.Fatalf("SaveUsage: dropped %v, err %v", dropped, err)
			}
		}
		f.check(t, db, 6)
		got, _ := db.Key(ctx, f.keys[0].ID)
		if !strings.HasPrefix(got.LastUsedUA, "evil") {
			t.Errorf("stored user agent %q", got.LastUsedUA)
		}
	})
}

// poison makes the database refuse, with a data error, every usage row of
// key id: what a row that can never be written looks like.
func poison(t *testing.T, db *testdb.DB, id, sqlstate string) {
	t.Helper()
	ctx := context.Background()
	var stmts []string
	if db.Dialect == "postgres" {
		stmts = []string{
			`CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN
				IF NEW.key_id = '` + id + `' THEN RAISE EXCEPTION 'poisoned row' USING ERRCODE = '` + sqlstate + `'; END IF;
				RETURN NEW; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER poison BEFORE INSERT OR UPDATE ON key_usage FOR EACH ROW EXECUTE FUNCTION poison()`,
		}
	} else {
		stmts = []string{`CREATE TRIGGER poison BEFORE INSERT ON key_usage WHEN NEW.key_id = '` + id + `' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`}
	}
	for _, s := range stmts {
		if _, err := db.SQL().ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSaveUsageDropsOnlyTheBadRow: a row the database refuses as data
// (SQLSTATE class 22 or 23; a constraint on SQLite) is reported and
// dropped, and every other row of the batch is stored, on both stores.
// The next batch flows normally.
func TestSaveUsageDropsOnlyTheBadRow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newUsageFixture(t, db)
		ctx := context.Background()
		poison(t, db, "key_poisoned", "22023")
		b := f.batch(5, "acme-sdk/1.0", "other/2.0")
		b.Keys[snapglyph.PeriodKey{ID: "key_poisoned", Period: "2026-11"}] = snapglyph.Counts{APICalls: 7}
		dropped, err := db.SaveUsage(ctx, b)
		if err != nil {
			t.Fatalf("SaveUsage: %v", err)
		}
		if len(dropped) != 1 || dropped[0].Kind != "key" || dropped[0].ID != "key_poisoned" || dropped[0].Period != "2026-11" || dropped[0].Counts.APICalls != 7 || dropped[0].Err == nil {
			t.Fatalf("dropped %+v, want the poisoned key's row", dropped)
		}
		f.check(t, db, 5)
		if dropped, err := db.SaveUsage(ctx, f.batch(1, "acme-sdk/1.0", "other/2.0")); err != nil || len(dropped) != 0 {
			t.Fatalf("next flush: dropped %v, err %v", dropped, err)
		}
		f.check(t, db, 6)
	})
}

// TestSaveUsageKeepsBatchOnTransientError: an error that is not about the
// data (here a serialization failure) writes nothing and drops nothing, so
// the caller keeps the whole batch for the next flush.
func TestSaveUsageKeepsBatchOnTransientError(t *testing.T) {
	db := testdb.Open(t, "postgres")
	f := newUsageFixture(t, db)
	ctx := context.Background()
	poison(t, db, f.keys[1].ID, "40001")
	dropped, err := db.SaveUsage(ctx, f.batch(5, "acme-sdk/1.0", "other/2.0"))
	if err == nil || len(dropped) != 0 {
		t.Fatalf("SaveUsage: dropped %v, err %v; want an error and nothing dropped", dropped, err)
	}
	for i := range f.orgs {
		if u, _ := db.Usage(ctx, f.orgs[i].ID, "2026-11"); u.Used.APICalls != 0 {
			t.Fatalf("organisation %d: %+v stored by a failed flush", i, u.Used)
		}
	}
	if _, err := db.SQL().ExecContext(ctx, `DROP TRIGGER poison ON key_usage`); err != nil {
		t.Fatal(err)
	}
	if dropped, err := db.SaveUsage(ctx, f.batch(5, "acme-sdk/1.0", "other/2.0")); err != nil || len(dropped) != 0 {
		t.Fatalf("retry: dropped %v, err %v", dropped, err)
	}
	f.check(t, db, 5)
}

// TestLeaseUnknownCounter: a counter is never spliced into SQL unchecked;
// one the store does not know is refused and changes nothing.
func TestLeaseUnknownCounter(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		bad := snapglyph.Counter("api_calls_reserved = 0; --")
		if g, r, err := db.Lease(ctx, "", org.ID, "2026-11", bad, 10, 1, 100); err == nil || g != 0 || r != 0 {
			t.Fatalf("Lease(unknown counter) = %d, %d, %v; want an error", g, r, err)
		}
		if err := db.ReturnLease(ctx, org.ID, "2026-11", bad, 1); err == nil {
			t.Fatal("ReturnLease(unknown counter) succeeded")
		}
		if u, err := db.Usage(ctx, org.ID, "2026-11"); err != nil || u != (snapglyph.StoredUsage{}) {
			t.Fatalf("usage after refused leases = %+v, %v; want nothing stored", u, err)
		}
	})
}

// TestFlushOfManyOrgsIsBatched: a flush of 500 organisations' counts
// makes a bounded number of statements (a multi-row upsert and one read of
// the organisations per 500, not two per organisation), adds every count,
// and still finds the one organisation that crossed a threshold. Both
// stores.
func TestFlushOfManyOrgsIsBatched(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		const n = 500
		orgs := make([]*snapglyph.Org, n)
		b := &snapglyph.UsageBatch{Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{}}
		for i := range orgs {
			orgs[i] = newOrg(t, db) // Pro: 1,000 calls, 200 credits
			b.Orgs[snapglyph.PeriodKey{ID: orgs[i].ID, Period: "2026-11"}] = snapglyph.Counts{APICalls: int64(i%7 + 1), ImageCredits: int64(i % 3)}
		}
		crossing := orgs[123].ID
		b.Orgs[snapglyph.PeriodKey{ID: crossing, Period: "2026-11"}] = snapglyph.Counts{APICalls: 850}
		// One organisation's counts of the previous month too, and one
		// that no longer exists (its row is kept, nobody is told).
		b.Orgs[snapglyph.PeriodKey{ID: orgs[0].ID, Period: "2026-10"}] = snapglyph.Counts{APICalls: 900}
		b.Orgs[snapglyph.PeriodKey{ID: "org_gone", Period: "2026-11"}] = snapglyph.Counts{APICalls: 900}

		before := db.Statements()
		if _, err := db.SaveUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
		// 2 upserts (502 rows) + 2 reads (501 organisations) + 2 events
		// emitted (each a few statements).
		if got := db.Statements() - before; got > 12 {
			t.Errorf("a flush of %d organisations made %d statements, want at most 12", len(b.Orgs), got)
		}
		for k, c := range b.Orgs {
			u, err := db.Usage(ctx, k.ID, k.Period)
			if err != nil {
				t.Fatal(err)
			}
			if u.Used != c {
				t.Fatalf("organisation %s, %s: stored %+v, flushed %+v", k.ID, k.Period, u.Used, c)
			}
		}
		for _, o := range []*snapglyph.Org{orgs[123], orgs[0], orgs[1]} {
			evs, err := db.Events(ctx, o.ID, snapglyph.EventUsageThreshold, 10)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if o.ID == crossing || o == orgs[0] {
				want = 1 // 850 of 1,000 this month; 900 last month
			}
			if len(evs) != want || want == 1 && evs[0].Int("percent") != 80 {
				t.Errorf("organisation %s: %d threshold events %+v, want %d at 80 %%", o.ID, len(evs), evs, want)
			}
		}
		// A second flush adds to the stored counts.
		if _, err := db.SaveUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
		if u, _ := db.Usage(ctx, crossing, "2026-11"); u.Used.APICalls != 1700 {
			t.Errorf("after two flushes: %d calls, want 1,700", u.Used.APICalls)
		}
	})
}

// TestSaveUsageBatchOnce: a batch written again with its id (its first
// write's answer was lost) is not counted again, also when a row of it
// was dropped for its data; another id, and a batch without one, are.
// Both stores; the ids are pruned by time.
func TestSaveUsageBatchOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		f := newUsageFixture(t, db)
		ctx := context.Background()
		b := f.batch(5, "acme-sdk/1.0", "other/2.0")
		b.ID = snapglyph.NewID("usage")
		for range 3 {
			if dropped, err := db.SaveUsage(ctx, b); err != nil || len(dropped) != 0 {
				t.Fatalf("SaveUsage: dropped %v, err %v", dropped, err)
			}
		}
		f.check(t, db, 5)
		b.ID = snapglyph.NewID("usage")
		if _, err := db.SaveUsage(ctx, b); err != nil {
			t.Fatal(err)
		}
		f.check(t, db, 10)
		b.ID = ""
		for range 2 {
			if _, err := db.SaveUsage(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		f.check(t, db, 20)

		// The row-by-row path (a row refused for its data) claims the id too.
		poison(t, db, "key_poisoned", "22023")
		b = f.batch(1, "acme-sdk/1.0", "other/2.0")
		b.ID = snapglyph.NewID("usage")
		b.Keys[snapglyph.PeriodKey{ID: "key_poisoned", Period: "2026-11"}] = snapglyph.Counts{APICalls: 7}
		for i := range 2 {
			dropped, err := db.SaveUsage(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 && len(dropped) != 1 || i == 1 && len(dropped) != 0 {
				t.Fatalf("write %d dropped %v; want the poisoned row the first time and nothing after", i, dropped)
			}
		}
		f.check(t, db, 21)

		if n, err := db.PruneUsageBatches(ctx, time.Now().Add(time.Hour)); err != nil || n != 3 {
			t.Fatalf("PruneUsageBatches = %d, %v; want the 3 ids", n, err)
		}
	})
}

// TestSettleLease: a lease recorded under an id (its answer may have been
// lost) is given back by SettleLease exactly once; a lease that never
// committed, or one settled already, gives back nothing. Both stores;
// the ids are pruned by time with the usage batch ids.
func TestSettleLease(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		reserved := func() snapglyph.Counts {
			t.Helper()
			u, err := db.Usage(ctx, org.ID, "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			return u.Reserved
		}
		lost := snapglyph.NewID("lease")
		g, r, err := db.Lease(ctx, lost, org.ID, "2026-11", snapglyph.ImageCredits, 64, 1, 10000)
		if err != nil || g != 64 || r != 64 {
			t.Fatalf("Lease = %d, %d, %v; want 64 of 10,000", g, r, err)
		}
		kept := snapglyph.NewID("lease")
		if g, r, err := db.Lease(ctx, kept, org.ID, "2026-11", snapglyph.ImageCredits, 100, 1, 10000); err != nil || g != 100 || r != 164 {
			t.Fatalf("Lease = %d, %d, %v; want 100 more", g, r, err)
		}
		if g, _, err := db.Lease(ctx, snapglyph.NewID("lease"), org.ID, "2026-11", snapglyph.APICalls, 10, 1, 10000); err != nil || g != 10 {
			t.Fatalf("Lease of calls = %d, %v", g, err)
		}
		for i, want := range []int64{64, 0} {
			n, err := db.SettleLease(ctx, lost)
			if err != nil || n != want {
				t.Fatalf("settle %d = %d, %v; want %d", i, n, err, want)
			}
			if got := reserved(); got.ImageCredits != 100 || got.APICalls != 10 {
				t.Fatalf("after settle %d: %+v reserved; want 100 credits (the kept lease) and 10 calls", i, got)
			}
		}
		if n, err := db.SettleLease(ctx, snapglyph.NewID("lease")); err != nil || n != 0 {
			t.Fatalf("settling a lease that never committed = %d, %v", n, err)
		}
		// A lease without an id is not recorded.
		if _, _, err := db.Lease(ctx, "", org.ID, "2026-11", snapglyph.ImageCredits, 1, 1, 10000); err != nil {
			t.Fatal(err)
		}
		if n, err := db.PruneUsageBatches(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("PruneUsageBatches an hour ago = %d, %v; want none", n, err)
		}
		if n, err := db.PruneUsageBatches(ctx, time.Now().Add(time.Hour)); err != nil || n != 2 {
			t.Fatalf("PruneUsageBatches = %d, %v; want the 2 unsettled lease ids", n, err)
		}
		if n, err := db.SettleLease(ctx, kept); err != nil || n != 0 {
			t.Fatalf("settling a pruned lease = %d, %v; want 0", n, err)
		}
	})
}
