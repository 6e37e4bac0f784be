package service_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

var lt0 = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// lifeEnv is an organisation on a database with a settable clock.
type lifeEnv struct {
	db    *testdb.DB
	svc   *service.Service
	clock *testdb.Clock
	org   *snapglyph.Org
	owner *snapglyph.User
}

func newLifeEnv(t *testing.T, db *testdb.DB) *lifeEnv {
	t.Helper()
	e := &lifeEnv{db: db, clock: testdb.NewClock(lt0)}
	db.Now = e.clock.Now
	e.svc = service.New(db.DB)
	var err error
	e.org, e.owner, err = e.svc.CreateOrg(context.Background(), service.NewOrg{Name: "Acme", OwnerEmail: snapglyph.NewID("o") + "@acme.test", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *lifeEnv) create(t *testing.T, spec service.KeySpec) *service.NewKey {
	t.Helper()
	k, err := e.svc.CreateKeyWith(context.Background(), as(e.owner), e.org.ID, spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (e *lifeEnv) key(t *testing.T, id string) *snapglyph.APIKey {
	t.Helper()
	k, err := e.db.Key(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// counts returns the number of keys and audit events of the organisation.
func (e *lifeEnv) counts(t *testing.T) (keys, events int) {
	t.Helper()
	ks, err := e.db.Keys(context.Background(), e.org.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := e.db.AuditEvents(context.Background(), e.org.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(ks), len(ev)
}

func wantCode(t *testing.T, err error, kind, code string) {
	t.Helper()
	if snapglyph.ErrorKind(err) != kind || (code != "" && snapglyph.ErrorCode(err) != code) {
		t.Fatalf("error %v (kind %s, code %s), want kind %s code %q", err, snapglyph.ErrorKind(err), snapglyph.ErrorCode(err), kind, code)
	}
}

// TestKeySpecStored: what a key is created with is what is read back, on
// both stores, and its audit event says so.
func TestKeySpecStored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		scopes, _ := snapglyph.ParseScopes("qr_codes:read,images:read")
		ips, _ := snapglyph.ParseAllowedIPs("203.0.113.0/24,2001:db8::/32,198.51.100.7")
		k := e.create(t, service.KeySpec{Name: "Reporting", ExpiresIn: 30 * 24 * time.Hour, Scopes: scopes, AllowedIPs: ips})
		got := e.key(t, k.ID)
		if !got.ExpiresAt.Equal(lt0.Add(30*24*time.Hour)) || got.Scopes != scopes || snapglyph.FormatAllowedIPs(got.AllowedIPs) != "203.0.113.0/24,2001:db8::/32,198.51.100.7" {
			t.Fatalf("stored %v %v %v", got.ExpiresAt, got.Scopes, got.AllowedIPs)
		}
		if !k.ExpiresAt.Equal(got.ExpiresAt) {
			t.Errorf("the create's answer says %v, the store %v", k.ExpiresAt, got.ExpiresAt)
		}
		at := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
		k2 := e.create(t, service.KeySpec{Name: "Partner", ExpiresAt: at})
		if got := e.key(t, k2.ID); !got.ExpiresAt.Equal(at) || !got.Scopes.Full() || got.AllowedIPs != nil {
			t.Fatalf("stored %v %v %v", got.ExpiresAt, got.Scopes, got.AllowedIPs)
		}
		ev, _ := db.KeyEvents(context.Background(), e.org.ID, k.ID, 10)
		if len(ev) != 1 || ev[0].Action != "key.created" ||
			ev[0].Detail != "expires 2026-12-15 12:00 UTC; permissions qr_codes:read,images:read; IP allowlist 203.0.113.0/24,2001:db8::/32,198.51.100.7" {
			t.Fatalf("events %+v", ev)
		}
	})
}

// TestKeyLifetimeBounds: a lifetime of exactly one minute, and of exactly
// ten years, is accepted at any instant (the clock here is between two
// milliseconds, as a real one is), and the key lives at least as long as
// asked.
func TestKeyLifetimeBounds(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		e.clock.Set(lt0.Add(456789 * time.Nanosecond))
		for _, d := range []time.Duration{snapglyph.MinKeyLifetime, snapglyph.MaxKeyLifetime} {
			k, err := e.svc.CreateKeyWith(context.Background(), as(e.owner), e.org.ID, service.KeySpec{Name: "Lifetime-" + d.String(), ExpiresIn: d})
			if err != nil {
				t.Fatalf("a lifetime of %s: %v", d, err)
			}
			got := e.key(t, k.ID).ExpiresAt
			if want := e.clock.Now().Add(d); got.Before(want) || got.Sub(want) >= time.Millisecond {
				t.Errorf("a lifetime of %s expires at %s, want %s rounded up to the millisecond", d, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
			}
		}
	})
}

// TestKeyExpiresTenCalendarYears: an expiry and a pause's end may be up
// to ten calendar years ahead: a date a day short of ten years is not
// refused for the leap days that 3650 days miss.
func TestKeyExpiresTenCalendarYears(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		latest := e.clock.Now().AddDate(10, 0, 0)
		if latest.Sub(e.clock.Now()) <= snapglyph.MaxKeyLifetime {
			t.Fatalf("the test needs leap days between %s and %s", e.clock.Now(), latest)
		}
		k, err := e.svc.CreateKeyWith(context.Background(), as(e.owner), e.org.ID, service.KeySpec{Name: "Decade", ExpiresAt: latest})
		if err != nil {
			t.Fatalf("an expiry ten calendar years ahead: %v", err)
		}
		if _, err := e.svc.PauseKeyWith(context.Background(), as(e.owner), k.ID, "", latest.AddDate(0, 0, -1)); err != nil {
			t.Fatalf("a pause ending a day before ten years: %v", err)
		}
		if _, err := e.svc.ResumeKey(context.Background(), as(e.owner), k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.PauseKeyWith(context.Background(), as(e.owner), k.ID, "", latest.Add(time.Minute))
		if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(err.Error(), "more than 10 years away (the latest is "+snapglyph.FormatTime(latest)+")") {
			t.Errorf("a pause ending after ten years: %v", err)
		}
	})
}

// TestKeySpecRefused: every field of a create is refused with a clear
// error when it is wrong, and nothing is stored.
func TestKeySpecRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		keys, events := e.counts(t)
		for _, tc := range []struct {
			spec service.KeySpec
			want string
		}{
			{service.KeySpec{Name: "A", ExpiresIn: 59 * time.Second}, "at least one minute"},
			{service.KeySpec{Name: "A", ExpiresIn: -time.Hour}, "negative"},
			{service.KeySpec{Name: "A", ExpiresIn: 11 * 365 * 24 * time.Hour}, "at most 10 years"},
			{service.KeySpec{Name: "A", ExpiresAt: lt0.Add(30 * time.Second)}, "at least one minute"},
			{service.KeySpec{Name: "A", ExpiresAt: lt0.Add(-time.Hour)}, "at least one minute"},
			{service.KeySpec{Name: "A", ExpiresAt: lt0.Add(11 * 365 * 24 * time.Hour)}, "more than 10 years"},
			{service.KeySpec{Name: "A", ExpiresAt: lt0.AddDate(10, 0, 0).Add(time.Second)}, "(the latest is " + snapglyph.FormatTime(lt0.AddDate(10, 0, 0)) + ")"},
			{service.KeySpec{Name: "A", ExpiresAt: lt0.Add(time.Hour), ExpiresIn: time.Hour}, "not both"},
			{service.KeySpec{Name: "A", Scopes: 0x80}, "unknown permission"},
			{service.KeySpec{Name: "A", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/8")}}, "did you mean 10.0.0.0/8"},
			{service.KeySpec{Name: "A", AllowedIPs: make21()}, "at most 20"},
			{service.KeySpec{Name: ""}, "name is required"},
			{service.KeySpec{Name: "bad\x00name"}, "NUL character"},
			{service.KeySpec{Name: "bad\x07name"}, "control characters"},
			{service.KeySpec{Name: "bad\xffname"}, "UTF-8"},
		} {
			_, err := e.svc.CreateKeyWith(context.Background(), as(e.owner), e.org.ID, tc.spec)
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%+v: %v, want EINVALID containing %q", tc.spec, err, tc.want)
			}
		}
		if k, ev := e.counts(t); k != keys || ev != events {
			t.Errorf("refused creates changed something: %d keys, %d events (before %d, %d)", k, ev, keys, events)
		}
	})
}

func make21() []netip.Prefix {
	var out []netip.Prefix
	for i := 0; i < 21; i++ {
		out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 0}), 24))
	}
	return out
}

// TestKeyNamesUnique: two live keys of one organisation cannot share a
// name; revoked, replaced and expired keys hold none; other organisations
// are not concerned.
func TestKeyNamesUnique(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		ctx := context.Background()
		actor := as(e.owner)
		a := e.create(t, service.KeySpec{Name: "Production-WebApp"})
		_, err := e.svc.CreateKey(ctx, actor, e.org.ID, "Production-WebApp")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		if !strings.Contains(err.Error(), a.Prefix+"...") {
			t.Errorf("%v does not name the key that holds the name", err)
		}
		// Paused keys hold their name; names that look alike to a person
		// (another case, another dash, spaces) are the same name.
		if _, err := e.svc.PauseKey(ctx, actor, a.ID); err != nil {
			t.Fatal(err)
		}
		for _, alike := range []string{" Production-WebApp ", "production-webapp", "PRODUCTION-WEBAPP", "Production‐WebApp", "Production–WebApp", "Production−WebApp",
			"\u0420r\u043eductiоn-WebApp",      // Cyrillic Р and о
			"Production-W\u0435bA\u0440\u0440", // Cyrillic е and р
		} {
			_, err = e.svc.CreateKey(ctx, actor, e.org.ID, alike)
			wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
			if !strings.Contains(err.Error(), `"Production-WebApp"`) {
				t.Errorf("%q: %v does not name the key's own spelling", alike, err)
			}
		}
		// Invisible characters cannot make a look-alike either.
		for _, hidden := range []string{"Production-WebApp​", "Production‍-WebApp", "‮ppAbeW-noitcudorP", "Production­WebApp"} {
			_, err = e.svc.CreateKey(ctx, actor, e.org.ID, hidden)
			wantCode(t, err, snapglyph.EINVALID, "")
		}
		b := e.create(t, service.KeySpec{Name: "Staging  WebApp"})
		if b.Name != "Staging WebApp" {
			t.Errorf("a name's run of spaces is stored as %q, want one space", b.Name)
		}
		_, err = e.svc.RenameKey(ctx, actor, b.ID, "production-webapp")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		// A key may change the case of its own name.
		if _, err := e.svc.RenameKey(ctx, actor, b.ID, "staging webapp"); err != nil {
			t.Errorf("renaming a key to its own name in another case: %v", err)
		}
		// Another organisation may use the name.
		other, owner2, err := e.svc.CreateOrg(ctx, service.NewOrg{Name: "Other", OwnerEmail: snapglyph.NewID("o") + "@other.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateKey(ctx, as(owner2), other.ID, "Production-WebApp"); err != nil {
			t.Fatal(err)
		}
		// A revoked key gives its name back.
		if _, err := e.svc.RevokeKey(ctx, actor, a.ID); err != nil {
			t.Fatal(err)
		}
		c := e.create(t, service.KeySpec{Name: "Production-WebApp", ExpiresIn: time.Hour})
		// An expired key holds no name.
		e.clock.Set(lt0.Add(time.Hour))
		d := e.create(t, service.KeySpec{Name: "Production-WebApp"})
		// A rolled key passes its name to the new key, which holds it.
		r, err := e.svc.RollKey(ctx, actor, d.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if r.Name != "Production-WebApp" {
			t.Errorf("the new key is named %q", r.Name)
		}
		_, err = e.svc.CreateKey(ctx, actor, e.org.ID, "Production-WebApp")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		if !strings.Contains(err.Error(), r.Prefix+"...") {
			t.Errorf("%v does not name the new key", err)
		}
		// Renaming a key that holds no name checks nothing; renaming to
		// its own name is a conflict.
		if _, err := e.svc.RenameKey(ctx, actor, c.ID, "Old-Production"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.RenameKey(ctx, actor, r.ID, "Production-WebApp")
		wantCode(t, err, snapglyph.ECONFLICT, "")
		// The rolled key works during its overlap: it may not take the
		// name of another working key (it shares its own with the key
		// that replaced it).
		e.create(t, service.KeySpec{Name: "Billing-Worker"})
		_, err = e.svc.RenameKey(ctx, actor, d.ID, "billing-worker")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		if _, err := e.svc.RenameKey(ctx, actor, d.ID, "Production-WebApp-Rolled"); err != nil {
			t.Fatalf("renaming the rolled key to a free name: %v", err)
		}
		_, err = e.svc.RenameKey(ctx, actor, a.ID, "Anything")
		wantCode(t, err, snapglyph.ECONFLICT, "") // revoked
		_, err = e.svc.RenameKey(ctx, actor, r.ID, strings.Repeat("x", 65))
		wantCode(t, err, snapglyph.EINVALID, "")
		// A rename shows in the audit log with the old name.
		if _, err := e.svc.RenameKey(ctx, actor, r.ID, "Production-WebApp-2"); err != nil {
			t.Fatal(err)
		}
		ev, _ := db.KeyEvents(ctx, e.org.ID, r.ID, 1)
		if len(ev) != 1 || ev[0].Action != "key.renamed" || ev[0].TargetName != "Production-WebApp-2" || ev[0].Detail != `from "Production-WebApp"` {
			t.Errorf("rename event %+v", ev[0])
		}
	})
}

// TestKeyNameUniqueConcurrent: creates and renames to one name sent at
// once through two connection pools (two nodes) leave exactly one key
// with it.
func TestKeyNameUniqueConcurrent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		svcs := nodes(t, db)
		ctx := context.Background()
		// Several rounds: a race is a matter of timing.
		for round := 0; round < 5; round++ {
			name := "Shared-Name-" + snapglyph.NewID("r")
			var renames []string
			for i := 0; i < 4; i++ {
				renames = append(renames, e.create(t, service.KeySpec{Name: "Old-" + snapglyph.NewID("n")}).ID)
			}
			const n = 16
			var wg sync.WaitGroup
			errs := make([]error, n)
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					svc := svcs[i%2]
					if i < len(renames) {
						_, errs[i] = svc.RenameKey(ctx, snapglyph.Operator, renames[i], name)
					} else {
						_, errs[i] = svc.CreateKey(ctx, snapglyph.Operator, e.org.ID, name)
					}
				}(i)
			}
			close(start)
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case snapglyph.ErrorCode(err) != "key_name_taken":
					t.Errorf("unexpected error %v", err)
				}
			}
			keys, _ := db.Keys(ctx, e.org.ID, false)
			named := 0
			for _, k := range keys {
				if k.Name == name {
					named++
				}
			}
			if ok != 1 || named != 1 {
				t.Fatalf("round %d: %d calls succeeded and %d keys have the name; want 1 and 1", round, ok, named)
			}
		}
	})
}

// TestRollKey: the new key inherits name, permissions, allowlist and
// expiry policy; the old key works until the overlap's end, which never
// passes its own expiry; a key rolls once; both keys' pages show the roll.
func TestRollKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		ctx := context.Background()
		actor := as(e.owner)
		scopes, _ := snapglyph.ParseScopes("qr_codes:write")
		ips, _ := snapglyph.ParseAllowedIPs("203.0.113.0/24")
		old := e.create(t, service.KeySpec{Name: "Billing", ExpiresIn: 30 * 24 * time.Hour, Scopes: scopes, AllowedIPs: ips})
		e.clock.Set(lt0.Add(24 * time.Hour))
		now := e.clock.Now()
		r, err := e.svc.RollKey(ctx, actor, old.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if r.Secret == "" || snapglyph.CheckKey(r.Secret) != nil || r.Prefix != snapglyph.KeyDisplayPrefix(r.Secret) || r.Secret == old.Secret {
			t.Fatalf("the new key %q, prefix %q", r.Secret, r.Prefix)
		}
		nk := e.key(t, r.ID)
		if nk.Name != "Billing" || nk.Scopes != scopes || snapglyph.FormatAllowedIPs(nk.AllowedIPs) != "203.0.113.0/24" || nk.Replaces != old.ID ||
			!nk.ExpiresAt.Equal(now.Add(30*24*time.Hour)) || nk.Status != snapglyph.KeyActive {
			t.Fatalf("new key %+v", nk)
		}
		ok := e.key(t, old.ID)
		if ok.ReplacedBy != r.ID || ok.ReplacedByPrefix != r.Prefix || !ok.OverlapEndsAt.Equal(now.Add(24*time.Hour)) {
			t.Fatalf("old key %+v", ok)
		}
		if ok.StateAt(now.Add(24*time.Hour-time.Millisecond)) != snapglyph.StateActive || ok.StateAt(now.Add(24*time.Hour)) != snapglyph.StateExpired {
			t.Error("the old key does not stop at the overlap's end")
		}
		_, err = e.svc.RollKey(ctx, actor, old.ID, 0)
		wantCode(t, err, snapglyph.ECONFLICT, "")
		if !strings.Contains(err.Error(), r.Prefix) {
			t.Errorf("%v does not name the new key", err)
		}
		for _, id := range []string{old.ID, r.ID} {
			ev, _ := db.KeyEvents(ctx, e.org.ID, id, 1)
			if len(ev) != 1 || (id == old.ID) != (ev[0].Action == "key.rolled") || !strings.Contains(ev[0].Detail, r.Prefix+"...") && !strings.Contains(ev[0].Detail, old.Prefix+"...") {
				t.Errorf("%s: events %+v", id, ev)
			}
		}

		// The overlap never outlives the old key: a key that expires in
		// an hour rolled with 7 days stops in an hour.
		short := e.create(t, service.KeySpec{Name: "Short", ExpiresIn: time.Hour})
		r2, err := e.svc.RollKey(ctx, actor, short.ID, 7*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.key(t, short.ID); !got.EndsAt().Equal(now.Add(time.Hour)) || !got.OverlapEndsAt.Equal(now.Add(time.Hour)) {
			t.Errorf("the overlap ends at %v (expiry %v), want %v", got.OverlapEndsAt, got.ExpiresAt, now.Add(time.Hour))
		}
		if got := e.key(t, r2.ID); !got.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Errorf("the new key expires at %v, want an hour after the roll (the policy)", got.ExpiresAt)
		}

		// Overlap "now": the old key stops at once. A key without expiry
		// gives one without expiry.
		plain := e.create(t, service.KeySpec{Name: "Plain"})
		r3, err := e.svc.RollKey(ctx, actor, plain.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.key(t, plain.ID); got.StateAt(now) != snapglyph.StateExpired {
			t.Errorf("overlap now: the old key is %s", got.StateAt(now))
		}
		if got := e.key(t, r3.ID); !got.ExpiresAt.IsZero() {
			t.Errorf("the new key expires at %v", got.ExpiresAt)
		}

		// A paused key rolls to an active key; a revoked one does not roll.
		paused := e.create(t, service.KeySpec{Name: "Paused"})
		if _, err := e.svc.PauseKeyWith(ctx, actor, paused.ID, "leaked in a log", time.Time{}); err != nil {
			t.Fatal(err)
		}
		r4, err := e.svc.RollKey(ctx, actor, paused.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.key(t, r4.ID); got.StateAt(now) != snapglyph.StateActive {
			t.Errorf("the new key of a paused key is %s", got.StateAt(now))
		}
		if got := e.key(t, paused.ID); got.StateAt(now) != snapglyph.StatePaused {
			t.Errorf("the rolled paused key is %s", got.StateAt(now))
		}
		if _, err := e.svc.RevokeKey(ctx, actor, r4.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.RollKey(ctx, actor, r4.ID, 0)
		wantCode(t, err, snapglyph.ECONFLICT, "")

		// Bad overlaps change nothing.
		keys, events := e.counts(t)
		for _, d := range []time.Duration{-time.Second, 7*24*time.Hour + time.Second} {
			_, err := e.svc.RollKey(ctx, actor, r.ID, d)
			wantCode(t, err, snapglyph.EINVALID, "")
		}
		if k, ev := e.counts(t); k != keys || ev != events {
			t.Errorf("refused rolls changed something")
		}
	})
}

// TestEndOverlap: "End overlap now" stops the old key at once; it works
// once, and only on a rolled key.
func TestEndOverlap(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		ctx := context.Background()
		actor := as(e.owner)
		old := e.create(t, service.KeySpec{Name: "Billing"})
		r, err := e.svc.RollKey(ctx, actor, old.ID, 7*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.EndOverlap(ctx, actor, r.ID)
		wantCode(t, err, snapglyph.ECONFLICT, "") // the new key was not rolled
		e.clock.Set(lt0.Add(time.Hour))
		k, err := e.svc.EndOverlap(ctx, actor, old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !k.OverlapEndsAt.Equal(lt0.Add(time.Hour)) || e.key(t, old.ID).StateAt(e.clock.Now()) != snapglyph.StateExpired {
			t.Errorf("after End overlap: %+v", k)
		}
		_, err = e.svc.EndOverlap(ctx, actor, old.ID)
		wantCode(t, err, snapglyph.ECONFLICT, "")
		ev, _ := db.KeyEvents(ctx, e.org.ID, old.ID, 1)
		if ev[0].Action != "key.overlap_ended" || ev[0].ActorLabel != e.owner.Email {
			t.Errorf("event %+v", ev[0])
		}
	})
}

// TestPauseWithReason: a pause records its reason, who paused and until
// when; it ends by itself at that time; expired keys can be neither
// paused nor resumed, but can be revoked.
func TestPauseWithReason(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		ctx := context.Background()
		actor := as(e.owner)
		k := e.create(t, service.KeySpec{Name: "Billing", ExpiresIn: 48 * time.Hour})
		until := lt0.Add(2 * time.Hour)
		keys, events := e.counts(t)
		for _, bad := range []struct {
			reason string
			until  time.Time
		}{{"a\nb", time.Time{}}, {strings.Repeat("x", 201), time.Time{}}, {"ok", lt0.Add(30 * time.Second)}, {"ok", lt0.Add(-time.Hour)}, {"\xff", time.Time{}}} {
			_, err := e.svc.PauseKeyWith(ctx, actor, k.ID, bad.reason, bad.until)
			wantCode(t, err, snapglyph.EINVALID, "")
		}
		if n, ev := e.counts(t); n != keys || ev != events || e.key(t, k.ID).Status != snapglyph.KeyActive {
			t.Fatal("a refused pause changed something")
		}
		p, err := e.svc.PauseKeyWith(ctx, actor, k.ID, "  suspicious traffic ", until)
		if err != nil {
			t.Fatal(err)
		}
		got := e.key(t, k.ID)
		if got.PausedReason != "suspicious traffic" || got.PausedBy != e.owner.Email || !got.PausedAt.Equal(lt0) || !got.PausedUntil.Equal(until) || p.PausedReason != got.PausedReason {
			t.Fatalf("paused key %+v", got)
		}
		ev, _ := db.KeyEvents(ctx, e.org.ID, k.ID, 1)
		if ev[0].Action != "key.paused" || ev[0].Detail != `reason "suspicious traffic"; until 2026-11-15 14:00 UTC` {
			t.Errorf("pause event %+v", ev[0])
		}
		if err := got.ErrAt(lt0); snapglyph.ErrorCode(err) != "api_key_paused" || !strings.Contains(err.Error(), "until 2026-11-15 14:00 UTC") {
			t.Errorf("paused key's error: %v", err)
		}
		_, err = e.svc.PauseKey(ctx, actor, k.ID)
		wantCode(t, err, snapglyph.ECONFLICT, "")
		// At its end the pause is over by itself, with no write.
		e.clock.Set(until)
		if got := e.key(t, k.ID); got.StateAt(until) != snapglyph.StateActive || got.ErrAt(until) != nil {
			t.Errorf("at the pause's end the key is %s", got.StateAt(until))
		}
		_, err = e.svc.ResumeKey(ctx, actor, k.ID)
		wantCode(t, err, snapglyph.ECONFLICT, "") // already active
		// It may be paused again; a resume clears the pause.
		if _, err := e.svc.PauseKeyWith(ctx, actor, k.ID, "again", time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.ResumeKey(ctx, actor, k.ID); err != nil {
			t.Fatal(err)
		}
		if got := e.key(t, k.ID); got.PausedReason != "" || got.PausedBy != "" || !got.PausedUntil.IsZero() {
			t.Errorf("a resumed key keeps its pause: %+v", got)
		}
		// Expired: no pause, no resume; revoke works.
		if _, err := e.svc.PauseKey(ctx, actor, k.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(lt0.Add(48 * time.Hour))
		_, err = e.svc.ResumeKey(ctx, actor, k.ID)
		wantCode(t, err, snapglyph.ECONFLICT, "")
		if !strings.Contains(err.Error(), "expired") {
			t.Errorf("resume of an expired key: %v", err)
		}
		_, err = e.svc.PauseKey(ctx, actor, k.ID)
		wantCode(t, err, snapglyph.ECONFLICT, "")
		if _, err := e.svc.RevokeKey(ctx, actor, k.ID); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLifecycleRoles: Members and strangers cannot roll, rename, end
// overlaps or pause with a reason.
func TestLifecycleRoles(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		tm := newTeam(t, db)
		svc := service.New(db.DB)
		ctx := context.Background()
		k, err := svc.CreateKey(ctx, as(tm.admin), tm.org.ID, "Billing")
		if err != nil {
			t.Fatal(err)
		}
		for _, who := range []struct {
			u    *snapglyph.User
			kind string
		}{{tm.member, snapglyph.EFORBIDDEN}, {tm.other, snapglyph.ENOTFOUND}} {
			calls := []func() error{
				func() error { _, err := svc.RollKey(ctx, as(who.u), k.ID, 0); return err },
				func() error { _, err := svc.RenameKey(ctx, as(who.u), k.ID, "Mine"); return err },
				func() error { _, err := svc.EndOverlap(ctx, as(who.u), k.ID); return err },
				func() error { _, err := svc.PauseKeyWith(ctx, as(who.u), k.ID, "x", time.Time{}); return err },
				func() error { _, err := svc.Key(ctx, as(who.u), k.ID); return err },
				func() error { _, err := svc.KeyEvents(ctx, as(who.u), k.ID, 10); return err },
				func() error {
					_, err := svc.RestrictKey(ctx, as(who.u), k.ID, snapglyph.Scopes(snapglyph.ScopeQRRead), nil)
					return err
				},
			}
			for i, call := range calls {
				if err := call(); snapglyph.ErrorKind(err) != who.kind {
					t.Errorf("%s, call %d: %v, want %s", who.u.Email, i, err, who.kind)
				}
			}
		}
		if got, _ := db.Key(ctx, k.ID); got.Name != "Billing" || got.Status != snapglyph.KeyActive || got.ReplacedBy != "" {
			t.Errorf("refused calls changed the key: %+v", got)
		}
		_, err = svc.Key(ctx, as(tm.owner), "key_\x00")
		if snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("a hostile id: %v", err)
		}
	})
}

// TestRestrictKey: permissions and allowlist change together or alone,
// the audit event says from what to what, and a change to nothing, a
// revoked key or a bad list is refused without a write.
func TestRestrictKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		ctx := context.Background()
		actor := as(e.owner)
		k := e.create(t, service.KeySpec{Name: "Billing"})
		ips, _ := snapglyph.ParseAllowedIPs("203.0.113.0/24")
		got, err := e.svc.RestrictKey(ctx, actor, k.ID, snapglyph.Scopes(snapglyph.ScopeUsageRead), ips)
		if err != nil {
			t.Fatal(err)
		}
		if stored := e.key(t, k.ID); stored.Scopes != got.Scopes || snapglyph.FormatAllowedIPs(stored.AllowedIPs) != "203.0.113.0/24" {
			t.Fatalf("stored %+v", stored)
		}
		ev, _ := db.KeyEvents(ctx, e.org.ID, k.ID, 1)
		if ev[0].Action != "key.restricted" || ev[0].Detail != "permissions Full access → usage:read; IP allowlist every address → 203.0.113.0/24" {
			t.Errorf("event %+v", ev[0])
		}
		keys, events := e.counts(t)
		_, err = e.svc.RestrictKey(ctx, actor, k.ID, snapglyph.Scopes(snapglyph.ScopeUsageRead), ips)
		wantCode(t, err, snapglyph.ECONFLICT, "")
		_, err = e.svc.RestrictKey(ctx, actor, k.ID, 0x40, nil)
		wantCode(t, err, snapglyph.EINVALID, "")
		_, err = e.svc.RestrictKey(ctx, actor, k.ID, snapglyph.FullAccess, make21())
		wantCode(t, err, snapglyph.EINVALID, "")
		if n, ev := e.counts(t); n != keys || ev != events {
			t.Error("refused changes wrote something")
		}
		if _, err := e.svc.RestrictKey(ctx, actor, k.ID, snapglyph.FullAccess, nil); err != nil {
			t.Fatal(err)
		}
		if stored := e.key(t, k.ID); !stored.Scopes.Full() || stored.AllowedIPs != nil {
			t.Errorf("lifted: %+v", stored)
		}
		if _, err := e.svc.RevokeKey(ctx, actor, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.RestrictKey(ctx, actor, k.ID, snapglyph.Scopes(snapglyph.ScopeQRRead), nil)
		wantCode(t, err, snapglyph.ECONFLICT, "")
	})
}
