package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestCachedKeyExpiresByClock: a cached key is refused at the moment of
// its expiry, and a rolled key at the end of its overlap, with no
// invalidation: the verifier compares with its clock on every call.
func TestCachedKeyExpiresByClock(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		start := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
		clock := testdb.NewClock(start)
		db.Now = clock.Now
		svc := service.New(db.DB)
		ctx := context.Background()
		org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}
		k, err := svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Expiring", ExpiresIn: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		old, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Rolled")
		if err != nil {
			t.Fatal(err)
		}
		v := auth.NewVerifier(db.DB, 0)
		v.Now = clock.Now
		for _, secret := range []string{k.Secret, old.Secret} {
			if _, _, err := v.Verify(ctx, secret); err != nil {
				t.Fatal(err)
			}
		}
		// The roll is a change, delivered as the watcher would.
		r, err := svc.RollKey(ctx, snapglyph.Operator, old.ID, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		v.InvalidateKey(old.ID)
		if _, _, err := v.Verify(ctx, old.Secret); err != nil {
			t.Fatalf("in the overlap: %v", err)
		}
		misses := v.Misses.Load()
		clock.Set(start.Add(30*time.Minute - time.Millisecond))
		for _, secret := range []string{k.Secret, old.Secret, r.Secret} {
			if _, _, err := v.Verify(ctx, secret); err != nil {
				t.Fatalf("just before: %v", err)
			}
		}
		clock.Set(start.Add(30 * time.Minute))
		_, _, err = v.Verify(ctx, old.Secret)
		if snapglyph.ErrorCode(err) != "api_key_expired" {
			t.Fatalf("at the overlap's end: %v, want api_key_expired", err)
		}
		clock.Set(start.Add(time.Hour))
		if _, _, err := v.Verify(ctx, k.Secret); snapglyph.ErrorCode(err) != "api_key_expired" {
			t.Fatalf("at the expiry: %v, want api_key_expired", err)
		}
		if _, _, err := v.Verify(ctx, r.Secret); err != nil {
			t.Fatalf("the new key: %v", err)
		}
		if v.Misses.Load() != misses+1 { // the new key's first use only
			t.Errorf("%d database reads, want 1: the expiries must come from the cache", v.Misses.Load()-misses)
		}
	})
}

// BenchmarkVerifyRestricted is BenchmarkVerify's cached-at case (the
// server's path: the request's time read once by the caller) for a key
// with an expiry, permissions and an allowlist, checked as a request is,
// and for a rolled key in its overlap (goal < 1 µs).
func BenchmarkVerifyRestricted(b *testing.B) {
	db := testdb.Open(b, "sqlite")
	svc := service.New(db.DB)
	ctx := context.Background()
	org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: "pro"})
	if err != nil {
		b.Fatal(err)
	}
	scopes, _ := snapglyph.ParseScopes("qr_codes:read,images:read")
	ips, _ := snapglyph.ParseAllowedIPs("203.0.113.0/24,2001:db8::/32")
	k, err := svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Restricted", ExpiresIn: 24 * time.Hour, Scopes: scopes, AllowedIPs: ips})
	if err != nil {
		b.Fatal(err)
	}
	old, err := svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Rolled", ExpiresIn: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.RollKey(ctx, snapglyph.Operator, old.ID, time.Hour); err != nil {
		b.Fatal(err)
	}
	v := auth.NewVerifier(db.DB, 0)
	for name, secret := range map[string]string{"expiring-restricted": k.Secret, "rolled-in-overlap": old.Secret} {
		if _, _, err := v.Verify(ctx, secret); err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				key, _, _, err := v.VerifyCachedAt(secret, now)
				if err != nil || !snapglyph.IPAllowed(key.AllowedIPs, "203.0.113.9") || !key.Scopes.Allows(snapglyph.ScopeQRRead) {
					b.Fatal(err)
				}
			}
		})
	}
}
