package store_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// usageTables is what the tables a usage batch writes hold, read straight
// from the database and keyed by their primary keys.
type usageTables struct {
	orgs map[[2]string]snapglyph.Counts // usage_counters (org_id, period): used
	keys map[[2]string]snapglyph.Counts // key_usage (key_id, period)
	days map[[2]string]snapglyph.Counts // key_usage_days (key_id, day)
	ips  map[[2]string]ipSeen           // key_ips (key_id, ip)
	uses map[string]lastUsed            // api_keys (id): last_used_*
}

type ipSeen struct{ first, last, calls int64 }

type lastUsed struct {
	at     int64
	ip, ua string
}

func newUsageTables() usageTables {
	return usageTables{
		orgs: map[[2]string]snapglyph.Counts{}, keys: map[[2]string]snapglyph.Counts{},
		days: map[[2]string]snapglyph.Counts{}, ips: map[[2]string]ipSeen{}, uses: map[string]lastUsed{},
	}
}

func (u usageTables) clone() usageTables {
	return usageTables{orgs: maps.Clone(u.orgs), keys: maps.Clone(u.keys), days: maps.Clone(u.days), ips: maps.Clone(u.ips), uses: maps.Clone(u.uses)}
}

// stored is text as the database keeps it: invalid bytes and NUL
// characters become U+FFFD.
func stored(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// add works out, row by row, what saving b does to u: counts add up, an
// address keeps its earliest first and latest last use and adds its calls,
// and a key's last use moves unless the stored one is later (a key that
// does not exist gets none). Text is stored as the store documents it
// (addresses and user agents made storable, then cleaned).
func (u usageTables) add(b *snapglyph.UsageBatch) {
	plus := func(m map[[2]string]snapglyph.Counts, k snapglyph.PeriodKey, c snapglyph.Counts) {
		id := [2]string{stored(k.ID), stored(k.Period)}
		old := m[id]
		m[id] = snapglyph.Counts{APICalls: old.APICalls + c.APICalls, ImageCredits: old.ImageCredits + c.ImageCredits}
	}
	for k, c := range b.Orgs {
		plus(u.orgs, k, c)
	}
	for k := range b.Refused {
		plus(u.orgs, k, snapglyph.Counts{}) // a row, adding nothing
	}
	for k, c := range b.Keys {
		plus(u.keys, k, c)
	}
	for k, c := range b.KeyDays {
		plus(u.days, k, c)
	}
	for k, s := range b.KeyIPs {
		id := [2]string{stored(k.KeyID), stored(snapglyph.Storable(k.IP, snapglyph.MaxLastUsedIP))}
		seen := ipSeen{s.First.UnixMilli(), s.Last.UnixMilli(), s.Calls}
		if old, ok := u.ips[id]; ok {
			seen = ipSeen{min(old.first, seen.first), max(old.last, seen.last), old.calls + seen.calls}
		}
		u.ips[id] = seen
	}
	for id, l := range b.LastUsed {
		old, ok := u.uses[stored(id)]
		if ok && old.at <= l.At.UnixMilli() {
			u.uses[stored(id)] = lastUsed{l.At.UnixMilli(), stored(snapglyph.Storable(l.IP, snapglyph.MaxLastUsedIP)), stored(snapglyph.Storable(l.UserAgent, snapglyph.MaxLastUsedUA))}
		}
	}
}

// readUsageTables reads every row of the tables a usage batch writes.
func readUsageTables(tb testing.TB, db *testdb.DB) usageTables {
	tb.Helper()
	ctx := context.Background()
	u := newUsageTables()
	read := func(q string, scan func(scan func(...any) error) error) {
		rows, err := db.SQL().QueryContext(ctx, q)
		if err != nil {
			tb.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows.Scan); err != nil {
				tb.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	counts := func(m map[[2]string]snapglyph.Counts) func(func(...any) error) error {
		return func(scan func(...any) error) error {
			var k [2]string
			var c snapglyph.Counts
			err := scan(&k[0], &k[1], &c.APICalls, &c.ImageCredits)
			m[k] = c
			return err
		}
	}
	read(`SELECT org_id, period, api_calls_used, image_credits_used FROM usage_counters`, counts(u.orgs))
	read(`SELECT key_id, period, api_calls, image_credits FROM key_usage`, counts(u.keys))
	read(`SELECT key_id, day, api_calls, image_credits FROM key_usage_days`, counts(u.days))
	read(`SELECT key_id, ip, first_seen, last_seen, calls FROM key_ips`, func(scan func(...any) error) error {
		var k [2]string
		var s ipSeen
		err := scan(&k[0], &k[1], &s.first, &s.last, &s.calls)
		u.ips[k] = s
		return err
	})
	read(`SELECT id, last_used_at, last_used_ip, last_used_ua FROM api_keys`, func(scan func(...any) error) error {
		var id string
		var l lastUsed
		err := scan(&id, &l.at, &l.ip, &l.ua)
		u.uses[id] = l
		return err
	})
	return u
}

// checkUsageTables reports every table whose rows differ from want's
// (the first few differences of each).
func checkUsageTables(tb testing.TB, got, want usageTables) {
	tb.Helper()
	diff(tb, "usage_counters", got.orgs, want.orgs)
	diff(tb, "key_usage", got.keys, want.keys)
	diff(tb, "key_usage_days", got.days, want.days)
	diff(tb, "key_ips", got.ips, want.ips)
	diff(tb, "api_keys", got.uses, want.uses)
}

func diff[K comparable, V comparable](tb testing.TB, table string, got, want map[K]V) {
	tb.Helper()
	n := 0
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			if n++; n <= 5 {
				tb.Errorf("%s %v: stored %+v (%t), want %+v", table, k, g, ok, w)
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			if n++; n <= 5 {
				tb.Errorf("%s %v: stored %+v, want no row", table, k, g)
			}
		}
	}
	if n > 5 {
		tb.Errorf("%s: %d rows differ in all", table, n)
	}
}

// placeholders lists n placeholders of the dialect, for SQL sent past the
// store.
func placeholders(dialect string, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "?"
		if dialect == "postgres" {
			p[i] = fmt.Sprintf("$%d", i+1)
		}
	}
	return strings.Join(p, ", ")
}

// storeUsageTables writes u's rows straight into the database, in one
// transaction (rows of api_keys are made as keys of org): what earlier
// flushes left.
func storeUsageTables(tb testing.TB, db *testdb.DB, orgID string, u usageTables) {
	tb.Helper()
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if _, err := tx.ExecContext(ctx, q+` VALUES (`+placeholders(db.Dialect, len(args))+`)`, args...); err != nil {
			tb.Fatal(err)
		}
	}
	for k, c := range u.orgs {
		exec(`INSERT INTO usage_counters (org_id, period, api_calls_used, image_credits_used)`, k[0], k[1], c.APICalls, c.ImageCredits)
	}
	for k, c := range u.keys {
		exec(`INSERT INTO key_usage (key_id, period, api_calls, image_credits)`, k[0], k[1], c.APICalls, c.ImageCredits)
	}
	for k, c := range u.days {
		exec(`INSERT INTO key_usage_days (key_id, day, api_calls, image_credits)`, k[0], k[1], c.APICalls, c.ImageCredits)
	}
	for k, s := range u.ips {
		exec(`INSERT INTO key_ips (key_id, ip, first_seen, last_seen, calls)`, k[0], k[1], s.first, s.last, s.calls)
	}
	for id, l := range u.uses {
		exec(`INSERT INTO api_keys (id, org_id, name, prefix, digest, status, created_at, created_by, last_used_at, last_used_ip, last_used_ua)`,
			id, orgID, "Key "+id, "qr_live_abcd", "digest-"+id, "active", int64(1), "user:test", l.at, l.ip, l.ua)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// bigUsage makes a batch of about n rows of every kind, and rows stored
// before it (which it meets for a third of the counts, a quarter of the
// addresses and every last use), and stores those. Some rows of the batch
// are stored as one: ids and addresses that differ only in bytes that are
// not text, addresses that differ only past their 64th byte.
func bigUsage(tb testing.TB, db *testdb.DB, orgID string, n int) (b *snapglyph.UsageBatch, before usageTables) {
	tb.Helper()
	at := time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)
	b = &snapglyph.UsageBatch{
		Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{}, Refused: map[snapglyph.PeriodKey]snapglyph.Counts{},
		Keys: map[snapglyph.PeriodKey]snapglyph.Counts{}, KeyDays: map[snapglyph.PeriodKey]snapglyph.Counts{},
		KeyIPs: map[snapglyph.KeyIP]snapglyph.IPSeen{}, LastUsed: map[string]snapglyph.LastUse{},
	}
	before = newUsageTables()
	for i := range n {
		org, key := fmt.Sprintf("org_%05d", i), fmt.Sprintf("key_%05d", i)
		c := snapglyph.Counts{APICalls: int64(i%7 + 1), ImageCredits: int64(i % 5)}
		b.Orgs[snapglyph.PeriodKey{ID: org, Period: "2026-11"}] = c
		b.Keys[snapglyph.PeriodKey{ID: key, Period: "2026-11"}] = c
		day := snapglyph.PeriodKey{ID: fmt.Sprintf("key_%05d", i%100), Period: fmt.Sprintf("2026-11-%02d", i/100%30+1)}
		b.KeyDays[day] = c
		ip := snapglyph.KeyIP{KeyID: fmt.Sprintf("key_%05d", i%40), IP: fmt.Sprintf("192.0.%d.%d", i/256, i%256)}
		first := at.Add(time.Duration(i) * time.Second)
		b.KeyIPs[ip] = snapglyph.IPSeen{First: first, Last: first.Add(time.Duration(i%60) * time.Minute), Calls: int64(i%9 + 1)}
		// Last uses older than, as old as and newer than the stored one.
		b.LastUsed[key] = snapglyph.LastUse{At: at.Add(time.Duration(i%3-1) * time.Minute), IP: fmt.Sprintf("198.51.100.%d", i%256), UserAgent: fmt.Sprintf("sdk/%d", i)}
		before.uses[key] = lastUsed{at.UnixMilli(), "203.0.113.1", "old"}
		if i%50 == 0 {
			b.Refused[snapglyph.PeriodKey{ID: fmt.Sprintf("org_r%05d", i), Period: "2026-11"}] = snapglyph.Counts{APICalls: 1}
		}
		if i%3 == 0 {
			before.orgs[[2]string{org, "2026-11"}] = snapglyph.Counts{APICalls: 1000, ImageCredits: 5}
			before.keys[[2]string{key, "2026-11"}] = snapglyph.Counts{APICalls: 1000, ImageCredits: 5}
			before.days[[2]string{day.ID, day.Period}] = snapglyph.Counts{APICalls: 10}
		}
		if i%4 == 0 {
			// Stored first and last uses before, between and after the batch's.
			shift := time.Duration(i%3-1) * time.Hour
			before.ips[[2]string{ip.KeyID, ip.IP}] = ipSeen{first.Add(shift).UnixMilli(), first.Add(shift + 30*time.Minute).UnixMilli(), 100}
		}
	}
	// Rows stored as one.
	c := snapglyph.Counts{APICalls: 3, ImageCredits: 1}
	for _, id := range []string{"_dup\xff", "_dup\xfe", "_dup\x00"} {
		b.Orgs[snapglyph.PeriodKey{ID: "org" + id, Period: "2026-11"}] = c
		b.Keys[snapglyph.PeriodKey{ID: "key" + id, Period: "2026-11"}] = c
		b.KeyDays[snapglyph.PeriodKey{ID: "key" + id, Period: "2026-11-03"}] = c
	}
	long := strings.Repeat("a", snapglyph.MaxLastUsedIP)
	for i, ip := range []string{"bad\xff\x00address", "bad\xfeaddress", long + "1", long + "2"} {
		b.KeyIPs[snapglyph.KeyIP{KeyID: "key_00001", IP: ip}] = snapglyph.IPSeen{First: at.Add(time.Duration(i) * time.Hour), Last: at.Add(time.Duration(5-i) * time.Hour), Calls: 2}
	}
	// A last use of a key that does not exist changes nothing.
	b.LastUsed["key_gone"] = snapglyph.LastUse{At: at, IP: "192.0.2.9"}
	storeUsageTables(tb, db, orgID, before)
	return b, before
}

// TestSaveUsageBigBatch: a batch of thousands of rows of every kind is
// written with a few statements per kind (not one a row), and what it
// stores is what adding its rows one by one gives, row for row and value
// for value, including rows of it stored as one. Both stores.
func TestSaveUsageBigBatch(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		b, before := bigUsage(t, db, org.ID, 2100)
		b.ID = snapglyph.NewID("usage")
		want := before.clone()
		want.add(b)
		rows := len(b.Orgs) + len(b.Refused) + len(b.Keys) + len(b.KeyDays) + len(b.KeyIPs) + len(b.LastUsed)

		start := db.Statements()
		dropped, err := db.SaveUsage(ctx, b)
		if err != nil || len(dropped) != 0 {
			t.Fatalf("SaveUsage: dropped %v, err %v", dropped, err)
		}
		// Row by row it took one statement a row; now a few per 500 rows.
		stmts := db.Statements() - start
		t.Logf("a batch of %d rows took %d statements", rows, stmts)
		if stmts > int64(rows/50) {
			t.Errorf("a batch of %d rows took %d statements, want at most %d", rows, stmts, rows/50)
		}
		checkUsageTables(t, readUsageTables(t, db), want)

		// The same batch again is not counted again; another is.
		if dropped, err := db.SaveUsage(ctx, b); err != nil || len(dropped) != 0 {
			t.Fatalf("SaveUsage again: dropped %v, err %v", dropped, err)
		}
		checkUsageTables(t, readUsageTables(t, db), want)
		b.ID = snapglyph.NewID("usage")
		if dropped, err := db.SaveUsage(ctx, b); err != nil || len(dropped) != 0 {
			t.Fatalf("SaveUsage of another batch: dropped %v, err %v", dropped, err)
		}
		want.add(b)
		checkUsageTables(t, readUsageTables(t, db), want)
	})
}

// poisonRows makes the database refuse, with a data error, the rows of
// table whose column is value, as inserted or updated.
func poisonRows(tb testing.TB, db *testdb.DB, table, column, value string) {
	tb.Helper()
	ctx := context.Background()
	var stmts []string
	if db.Dialect == "postgres" {
		stmts = []string{
			`CREATE OR REPLACE FUNCTION poison_row() RETURNS trigger AS $$ BEGIN
				IF to_jsonb(NEW) ->> TG_ARGV[0] = TG_ARGV[1] THEN RAISE EXCEPTION 'poisoned row' USING ERRCODE = '22023'; END IF;
				RETURN NEW; END $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER poison_` + table + ` BEFORE INSERT OR UPDATE ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION poison_row('` + column + `', '` + value + `')`,
		}
	} else {
		for _, op := range []string{"INSERT", "UPDATE"} {
			stmts = append(stmts, `CREATE TRIGGER poison_`+table+`_`+op+` BEFORE `+op+` ON `+table+` WHEN NEW.`+column+` = '`+value+`' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`)
		}
	}
	for _, s := range stmts {
		if _, err := db.SQL().ExecContext(ctx, s); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestSaveUsageBigBatchDropsOnlyTheBadRows: in a batch of thousands of
// rows of every kind, one row of each kind that the database refuses for
// its data, in the middle of the rows of its kind, is reported dropped,
// and exactly that row: every other row is stored as if the batch held
// no bad row. Only the rows near a bad one are written one at a time.
// Both stores.
func TestSaveUsageBigBatchDropsOnlyTheBadRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		const n = 2100
		b, before := bigUsage(t, db, org.ID, n)
		b.ID = snapglyph.NewID("usage")
		// The bad rows sort among the others, after row n/3 of each kind.
		badOrg, badKey := fmt.Sprintf("org_%05d_bad", n/3), fmt.Sprintf("key_%05d_bad", n/3)
		storeUsageTables(t, db, org.ID, usageTables{uses: map[string]lastUsed{badKey: {1, "203.0.113.1", "old"}}})
		before.uses[badKey] = lastUsed{1, "203.0.113.1", "old"}
		want := before.clone()
		want.add(b) // without the bad rows

		at := time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)
		b.Orgs[snapglyph.PeriodKey{ID: badOrg, Period: "2026-11"}] = snapglyph.Counts{APICalls: 7}
		b.Keys[snapglyph.PeriodKey{ID: badKey, Period: "2026-11"}] = snapglyph.Counts{APICalls: 8}
		b.KeyDays[snapglyph.PeriodKey{ID: badKey, Period: "2026-11-05"}] = snapglyph.Counts{APICalls: 9}
		b.KeyIPs[snapglyph.KeyIP{KeyID: badKey, IP: "192.0.2.200"}] = snapglyph.IPSeen{First: at, Last: at, Calls: 10}
		b.LastUsed[badKey] = snapglyph.LastUse{At: at, IP: "192.0.2.200", UserAgent: "sdk"}
		poisonRows(t, db, "usage_counters", "org_id", badOrg)
		for _, table := range []string{"key_usage", "key_usage_days", "key_ips"} {
			poisonRows(t, db, table, "key_id", badKey)
		}
		poisonRows(t, db, "api_keys", "id", badKey)
		rows := len(b.Orgs) + len(b.Refused) + len(b.Keys) + len(b.KeyDays) + len(b.KeyIPs) + len(b.LastUsed)

		start := db.Statements()
		dropped, err := db.SaveUsage(ctx, b)
		if err != nil {
			t.Fatalf("SaveUsage: %v", err)
		}
		// Row by row it took three statements a row (a savepoint each).
		stmts := db.Statements() - start
		t.Logf("a batch of %d rows, 5 of them bad, took %d statements", rows, stmts)
		if stmts > int64(rows) {
			t.Errorf("a batch of %d rows, 5 of them bad, took %d statements, want fewer than one a row", rows, stmts)
		}
		type drop struct {
			kind, id, period string
			counts           snapglyph.Counts
		}
		var got []drop
		for _, d := range dropped {
			if d.Err == nil {
				t.Errorf("dropped %+v without the database's error", d)
			}
			got = append(got, drop{d.Kind, d.ID, d.Period, d.Counts})
		}
		wantDropped := []drop{
			{"org", badOrg, "2026-11", snapglyph.Counts{APICalls: 7}},
			{"key", badKey, "2026-11", snapglyph.Counts{APICalls: 8}},
			{"key_day", badKey, "2026-11-05", snapglyph.Counts{APICalls: 9}},
			{"key_ip", badKey, "", snapglyph.Counts{}},
			{"last_use", badKey, "", snapglyph.Counts{}},
		}
		if !slices.Equal(got, wantDropped) {
			t.Errorf("dropped %+v, want %+v", got, wantDropped)
		}
		checkUsageTables(t, readUsageTables(t, db), want)

		// Written again (its answer was lost), the batch is not counted again.
		if dropped, err := db.SaveUsage(ctx, b); err != nil || len(dropped) != 0 {
			t.Fatalf("SaveUsage again: dropped %v, err %v", dropped, err)
		}
		checkUsageTables(t, readUsageTables(t, db), want)
	})
}

// TestSaveUsageConcurrentFlushes: nodes flushing at once the last uses of
// keys they share, in batches of all sizes, do not deadlock: every flush
// saves, and each key holds its latest use. PostgreSQL (SQLite runs one
// write transaction at a time), where a statement updating many keys
// meets them in the order of its plan, which differs between sizes of
// batch, unless they are locked in order first.
func TestSaveUsageConcurrentFlushes(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx := context.Background()
	org := newOrg(t, db)
	const keys = 3000
	before := newUsageTables()
	for i := range keys {
		before.uses[fmt.Sprintf("key_%05d", i)] = lastUsed{}
	}
	storeUsageTables(t, db, org.ID, before)
	if _, err := db.SQL().ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)
	const workers, flushes = 6, 15
	batches := make([][]*snapglyph.UsageBatch, workers)
	for w := range batches {
		r := rand.New(rand.NewPCG(uint64(w), 1))
		for i := range flushes {
			b := &snapglyph.UsageBatch{LastUsed: map[string]snapglyph.LastUse{}}
			for range []int{3, 40, 300, 512, 1500}[r.IntN(5)] {
				// The same time has the same address and agent in every
				// batch: the last use stored does not depend on the order.
				b.LastUsed[fmt.Sprintf("key_%05d", r.IntN(keys))] = snapglyph.LastUse{At: at.Add(time.Duration(i) * time.Second), IP: "192.0.2.1", UserAgent: fmt.Sprintf("sdk/%d", i)}
			}
			batches[w] = append(batches[w], b)
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, b := range batches[w] {
				if dropped, err := db.SaveUsage(ctx, b); err != nil || len(dropped) != 0 {
					t.Errorf("SaveUsage: dropped %v, err %v", dropped, err)
				}
			}
		})
	}
	wg.Wait()
	want := before.clone()
	for _, bs := range batches {
		for _, b := range bs {
			want.add(b)
		}
	}
	checkUsageTables(t, readUsageTables(t, db), want)
}

// BenchmarkSaveUsage measures saving a batch of 50,000 addresses of 100
// keys (with their counts, days and last uses) on both stores, on the
// first write and on each one after (every row then meets a stored one),
// and the same batch with one address the database refuses. Run with
//
//	go test -run '^$' -bench SaveUsage -benchtime 5x ./internal/store/
func BenchmarkSaveUsage(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		for _, bad := range []bool{false, true} {
			name := dialect
			if bad {
				name += "/one-bad-row"
			}
			b.Run(name, func(b *testing.B) {
				db := testdb.Open(b, dialect)
				ctx := context.Background()
				org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
				if _, err := db.CreateOrg(ctx, org, snapglyph.NewID("u")+"@acme.test", ""); err != nil {
					b.Fatal(err)
				}
				at := time.Date(2026, 11, 3, 4, 5, 6, 0, time.UTC)
				keys := usageTables{uses: map[string]lastUsed{}}
				batch := &snapglyph.UsageBatch{
					Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{{ID: org.ID, Period: "2026-11"}: {APICalls: 50_000, ImageCredits: 10}},
					Keys: map[snapglyph.PeriodKey]snapglyph.Counts{}, KeyDays: map[snapglyph.PeriodKey]snapglyph.Counts{},
					KeyIPs: map[snapglyph.KeyIP]snapglyph.IPSeen{}, LastUsed: map[string]snapglyph.LastUse{},
				}
				for k := range 100 {
					id := fmt.Sprintf("key_%05d", k)
					keys.uses[id] = lastUsed{}
					batch.Keys[snapglyph.PeriodKey{ID: id, Period: "2026-11"}] = snapglyph.Counts{APICalls: 500}
					batch.KeyDays[snapglyph.PeriodKey{ID: id, Period: "2026-11-03"}] = snapglyph.Counts{APICalls: 500}
					batch.LastUsed[id] = snapglyph.LastUse{At: at, IP: "192.0.2.1", UserAgent: "sdk/1.0"}
				}
				storeUsageTables(b, db, org.ID, keys)
				for i := range 50_000 {
					ip := snapglyph.KeyIP{KeyID: fmt.Sprintf("key_%05d", i%100), IP: fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)}
					batch.KeyIPs[ip] = snapglyph.IPSeen{First: at, Last: at.Add(time.Minute), Calls: 1}
				}
				if bad {
					batch.KeyIPs[snapglyph.KeyIP{KeyID: "key_00050_bad", IP: "192.0.2.200"}] = snapglyph.IPSeen{First: at, Last: at, Calls: 1}
					poisonRows(b, db, "key_ips", "key_id", "key_00050_bad")
				}
				for b.Loop() {
					dropped, err := db.SaveUsage(ctx, batch)
					if err != nil || bad && len(dropped) != 1 || !bad && len(dropped) != 0 {
						b.Fatalf("SaveUsage: dropped %v, err %v", dropped, err)
					}
				}
			})
		}
	}
}
