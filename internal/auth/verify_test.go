package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

func setup(tb testing.TB, dialect string) (*testdb.DB, *service.Service, *service.NewKey) {
	tb.Helper()
	db := testdb.Open(tb, dialect)
	svc := service.New(db.DB)
	ctx := context.Background()
	org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: "pro"})
	if err != nil {
		tb.Fatal(err)
	}
	k, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
	if err != nil {
		tb.Fatal(err)
	}
	return db, svc, k
}

// slowStore lets a test act between the database read and the cache
// insert of a verification.
type slowStore struct {
	auth.Store
	afterRead func()
}

func (s *slowStore) KeyByDigest(ctx context.Context, d snapglyph.KeyDigest) (*snapglyph.APIKey, error) {
	k, err := s.Store.KeyByDigest(ctx, d)
	if s.afterRead != nil {
		s.afterRead()
	}
	return k, err
}

// TestInFlightVerificationDoesNotResurrect: a verification that read the
// key before a revocation committed must not put the stale (active) entry
// into the cache after the revocation's invalidation.
func TestInFlightVerificationDoesNotResurrect(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		_ = db
		ctx := context.Background()
		db2, svc, k := setup(t, db.Dialect)
		st := &slowStore{Store: db2.DB}
		v := auth.NewVerifier(st, 0)
		st.afterRead = func() {
			st.afterRead = nil
			// The revocation commits and its invalidation arrives while
			// the verification is between its read and its insert.
			if _, err := svc.RevokeKey(ctx, snapglyph.Operator, k.ID); err != nil {
				t.Error(err)
			}
			v.InvalidateKey(k.ID)
		}
		if _, _, err := v.Verify(ctx, k.Secret); err != nil {
			t.Fatalf("the in-flight verification read the key as active, so it passes: %v", err)
		}
		if _, _, err := v.Verify(ctx, k.Secret); snapglyph.ErrorCode(err) != "api_key_revoked" {
			t.Fatalf("next verification: %v, want api_key_revoked (the stale entry was cached)", err)
		}
	})
}

// TestUntrustedCacheIsBypassed: while changes may be missed, every
// verification reads the database.
func TestUntrustedCacheIsBypassed(t *testing.T) {
	db, svc, k := setup(t, "sqlite")
	ctx := context.Background()
	v := auth.NewVerifier(db.DB, 0)
	if _, _, err := v.Verify(ctx, k.Secret); err != nil {
		t.Fatal(err)
	}
	v.SetTrusted(false)
	// No invalidation is delivered for this change.
	if _, err := svc.PauseKey(ctx, snapglyph.Operator, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Verify(ctx, k.Secret); snapglyph.ErrorCode(err) != "api_key_paused" {
		t.Fatalf("untrusted verification: %v, want api_key_paused", err)
	}
}

// TestSQLiteWatcherSeesOtherProcess: a change committed through another
// connection pool is applied by Fresh, before the next cached read.
func TestSQLiteWatcherSeesOtherProcess(t *testing.T) {
	db, _, k := setup(t, "sqlite")
	ctx := context.Background()
	v := auth.NewVerifier(db.DB, 0)
	var applied []snapglyph.Change
	var mu sync.Mutex
	w, err := auth.NewWatcher(ctx, db.DB, "node_test", v, func(c snapglyph.Change, resync bool) {
		mu.Lock()
		applied = append(applied, c)
		mu.Unlock()
		v.InvalidateKey(c.RefID)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Verify(ctx, k.Secret); err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := service.New(other).RevokeKey(ctx, snapglyph.Operator, k.ID); err != nil {
		t.Fatal(err)
	}
	if err := w.Fresh(ctx); err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || applied[0].RefID != k.ID {
		t.Fatalf("applied %v", applied)
	}
	if _, _, err := v.Verify(ctx, k.Secret); snapglyph.ErrorCode(err) != "api_key_revoked" {
		t.Fatalf("after Fresh: %v, want api_key_revoked", err)
	}
}

// BenchmarkVerify compares a cached valid key with a malformed one and a
// well-formed unknown one (a database read on SQLite).
func BenchmarkVerify(b *testing.B) {
	db, _, k := setup(b, "sqlite")
	ctx := context.Background()
	v := auth.NewVerifier(db.DB, 0)
	if _, _, err := v.Verify(ctx, k.Secret); err != nil {
		b.Fatal(err)
	}
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := v.Verify(ctx, k.Secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What the server does: the request's time is read once, by the
	// caller (a clock read costs 20–200 ns here).
	now := time.Now()
	b.Run("cached-at", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok, err := v.VerifyCachedAt(k.Secret, now); !ok || err != nil {
				b.Fatal(err)
			}
		}
	})
	bad := k.Secret[:39] + "!"
	b.Run("malformed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.Verify(ctx, bad)
		}
	})
	unknown := snapglyph.GenerateKey()
	b.Run("unknown", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v.Verify(ctx, unknown)
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				v.Verify(ctx, k.Secret)
			}
		})
	})
}

// BenchmarkFresh is the per-request freshness check on SQLite (PRAGMA
// data_version on a pinned connection) that makes CLI changes apply to the
// next request.
func BenchmarkFresh(b *testing.B) {
	db, _, _ := setup(b, "sqlite")
	ctx := context.Background()
	v := auth.NewVerifier(db.DB, 0)
	w, err := auth.NewWatcher(ctx, db.DB, "node_test", v, func(snapglyph.Change, bool) {}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		w.Fresh(ctx)
	}
}

// TestLastSeenOutlivesTheCache: once the cache is dropped (the change
// listener lost) and the database is away, a key cannot be checked, but
// the node still knows whose it is, so the request log can name it.
func TestLastSeenOutlivesTheCache(t *testing.T) {
	db, _, k := setup(t, "sqlite")
	st := &switchStore{Store: db.DB}
	v := auth.NewVerifier(st, 0)
	ctx := context.Background()
	if key, org := v.LastSeen(k.Secret); key != nil || org != nil {
		t.Fatalf("LastSeen before any read: %v %v", key, org)
	}
	if _, _, err := v.Verify(ctx, k.Secret); err != nil {
		t.Fatal(err)
	}
	v.SetTrusted(false) // the listener is lost: the cache is emptied
	st.down = true
	if _, _, err := v.Verify(ctx, k.Secret); snapglyph.ErrorKind(err) != snapglyph.EUNAVAILABLE {
		t.Fatalf("Verify with the database away: %v", err)
	}
	key, org := v.LastSeen(k.Secret)
	if key == nil || key.ID != k.ID || org == nil || org.ID != k.OrgID {
		t.Errorf("LastSeen after the cache was dropped: %+v %+v, want key %s of %s", key, org, k.ID, k.OrgID)
	}
	v.InvalidateAll()
	if key, _ := v.LastSeen(k.Secret); key == nil || key.ID != k.ID {
		t.Errorf("LastSeen after InvalidateAll: %+v", key)
	}
	// Hostile or unknown keys name nobody.
	for _, s := range []string{"", "qr_live_\x00", k.Secret[:len(k.Secret)-1] + "x", snapglyph.GenerateKey()} {
		if key, org := v.LastSeen(s); key != nil || org != nil {
			t.Errorf("LastSeen(%q) = %v %v", s, key, org)
		}
	}
}

// switchStore is a database that can be made to go away.
type switchStore struct {
	auth.Store
	down bool
}

var errAway = snapglyph.Errorf(snapglyph.EUNAVAILABLE, "the database is away")

func (s *switchStore) KeyByDigest(ctx context.Context, d snapglyph.KeyDigest) (*snapglyph.APIKey, error) {
	if s.down {
		return nil, errAway
	}
	return s.Store.KeyByDigest(ctx, d)
}

func (s *switchStore) Org(ctx context.Context, id string) (*snapglyph.Org, error) {
	if s.down {
		return nil, errAway
	}
	return s.Store.Org(ctx, id)
}
