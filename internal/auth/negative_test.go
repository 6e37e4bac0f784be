package auth_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// countingStore counts the database reads of a verifier.
type countingStore struct {
	auth.Store
	reads     atomic.Int64
	afterRead func()
}

func (s *countingStore) KeyByDigest(ctx context.Context, d snapglyph.KeyDigest) (*snapglyph.APIKey, error) {
	s.reads.Add(1)
	k, err := s.Store.KeyByDigest(ctx, d)
	if f := s.afterRead; f != nil {
		s.afterRead = nil
		f()
	}
	return k, err
}

// TestUnknownKeyReadOnce: a well-formed unknown key is read from the
// database once; repeating it is answered from the negative cache, with
// the same answer.
func TestUnknownKeyReadOnce(t *testing.T) {
	db, _, _ := setup(t, "sqlite")
	ctx := context.Background()
	st := &countingStore{Store: db.DB}
	v := auth.NewVerifier(st, 0)
	unknown := snapglyph.GenerateKey()
	for i := 0; i < 1000; i++ {
		_, _, err := v.Verify(ctx, unknown)
		if snapglyph.ErrorCode(err) != "invalid_api_key" || snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
			t.Fatalf("verification %d: %v, want invalid_api_key", i, err)
		}
	}
	if n := st.reads.Load(); n != 1 {
		t.Fatalf("%d database reads for 1000 verifications of one unknown key, want 1", n)
	}
	if n := v.UnknownHits.Load(); n != 999 {
		t.Fatalf("UnknownHits = %d, want 999", n)
	}
}

// nobodyStore knows no key: the database of a flood, without its cost.
type nobodyStore struct{ auth.Store }

func (nobodyStore) KeyByDigest(context.Context, snapglyph.KeyDigest) (*snapglyph.APIKey, error) {
	return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "unknown API key")
}

// TestNegativeCacheBounded: a flood of distinct random keys cannot grow
// the negative cache past its size, and the cache keeps most of what it
// holds when it evicts.
func TestNegativeCacheBounded(t *testing.T) {
	ctx := context.Background()
	const size = 10_000
	v := auth.NewVerifier(nobodyStore{}, size)
	keys := make([]string, 5*size)
	for i := range keys {
		keys[i] = snapglyph.GenerateKey()
		if _, _, err := v.Verify(ctx, keys[i]); snapglyph.ErrorCode(err) != "invalid_api_key" {
			t.Fatalf("random key %d: %v", i, err)
		}
		if i%997 == 0 || i == len(keys)-1 {
			if n := v.UnknownCached(); n > size {
				t.Fatalf("after %d random keys the negative cache holds %d digests, more than %d", i+1, n, size)
			}
		}
	}
	if n := v.UnknownCached(); n < size*8/10 {
		t.Fatalf("the negative cache holds %d digests after a flood; eviction drops too much", n)
	}
	// The most recent key is still cached: it costs no read.
	misses := v.Misses.Load()
	v.Verify(ctx, keys[len(keys)-1])
	if v.Misses.Load() != misses {
		t.Fatal("the last unknown key was not cached")
	}
}

// TestNegativeCacheForgotten: once a key is created (ForgetUnknown, as the
// change log delivers it), a digest cached as unknown authenticates.
func TestNegativeCacheForgotten(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db, org := orgOf(t, db.Dialect)
		v := auth.NewVerifier(db.DB, 0)
		secret := snapglyph.GenerateKey()
		for i := 0; i < 2; i++ {
			if _, _, err := v.Verify(ctx, secret); snapglyph.ErrorCode(err) != "invalid_api_key" {
				t.Fatalf("before creation: %v", err)
			}
		}
		createWithSecret(t, db, org, secret)
		if _, _, err := v.Verify(ctx, secret); snapglyph.ErrorCode(err) != "invalid_api_key" {
			t.Fatalf("without ForgetUnknown the negative cache should still answer (test is blind otherwise): %v", err)
		}
		v.ForgetUnknown()
		if _, _, err := v.Verify(ctx, secret); err != nil {
			t.Fatalf("after ForgetUnknown: %v", err)
		}
	})
}

// TestInFlightUnknownNotCached: a verification that read "unknown" before
// the key's creation committed must not cache that answer after the
// creation's invalidation arrived.
func TestInFlightUnknownNotCached(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db, org := orgOf(t, db.Dialect)
		st := &countingStore{Store: db.DB}
		v := auth.NewVerifier(st, 0)
		secret := snapglyph.GenerateKey()
		st.afterRead = func() {
			createWithSecret(t, db, org, secret)
			v.ForgetUnknown()
		}
		if _, _, err := v.Verify(ctx, secret); snapglyph.ErrorCode(err) != "invalid_api_key" {
			t.Fatalf("the in-flight verification read no key: %v, want invalid_api_key", err)
		}
		if _, _, err := v.Verify(ctx, secret); err != nil {
			t.Fatalf("next verification: %v (the stale unknown answer was cached)", err)
		}
	})
}

// TestUntrustedNoNegativeCache: while changes may be missed, unknown keys
// are read every time and nothing is cached.
func TestUntrustedNoNegativeCache(t *testing.T) {
	db, _, _ := setup(t, "sqlite")
	ctx := context.Background()
	st := &countingStore{Store: db.DB}
	v := auth.NewVerifier(st, 0)
	unknown := snapglyph.GenerateKey()
	v.Verify(ctx, unknown)
	v.SetTrusted(false)
	for i := 0; i < 3; i++ {
		v.Verify(ctx, unknown)
	}
	if n := st.reads.Load(); n != 4 {
		t.Fatalf("%d reads, want 4 (untrusting must drop the negative cache and bypass it)", n)
	}
	if n := v.UnknownCached(); n != 0 {
		t.Fatalf("untrusted verifier cached %d unknown digests", n)
	}
}

// orgOf returns a database of the dialect with an organisation that has
// the API.
func orgOf(t *testing.T, dialect string) (*testdb.DB, *snapglyph.Org) {
	t.Helper()
	db, _, k := setup(t, dialect)
	org, err := db.Org(context.Background(), k.OrgID)
	if err != nil {
		t.Fatal(err)
	}
	return db, org
}

// createWithSecret stores a key whose secret the test chose (the service
// draws its own), as CreateKey does.
func createWithSecret(t *testing.T, db *testdb.DB, org *snapglyph.Org, secret string) {
	t.Helper()
	key := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Chosen", Prefix: snapglyph.KeyDisplayPrefix(secret)}
	if err := db.CreateKey(context.Background(), key, snapglyph.DigestKey(secret), snapglyph.Operator, ""); err != nil {
		t.Error(err)
	}
}
