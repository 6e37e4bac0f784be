package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestRollKeyChecksName: a roll's new key takes the old key's name, so
// the store checks it as every write of a name does: an expired key held
// no name, and another live key may have it since; rolling the expired
// key is then refused (key_name_taken) and changes nothing.
func TestRollKeyChecksName(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		org := newOrg(t, db)
		secret := snapglyph.GenerateKey()
		old := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Nightly-Export", Prefix: snapglyph.KeyDisplayPrefix(secret),
			ExpiresAt: clock.Now().Add(time.Hour)}
		if err := db.CreateKey(ctx, old, snapglyph.DigestKey(secret), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		clock.Set(clock.Now().Add(2 * time.Hour))
		taker, _ := newKey(t, db.DB, org.ID, "Nightly-Export") // the expired key holds no name
		plan := func(o *snapglyph.APIKey, now time.Time) (*snapglyph.APIKey, snapglyph.KeyDigest, time.Time, error) {
			s := snapglyph.GenerateKey()
			return &snapglyph.APIKey{ID: snapglyph.NewID("key"), Name: o.Name, Prefix: snapglyph.KeyDisplayPrefix(s)}, snapglyph.DigestKey(s), now, nil
		}
		changes, _ := db.LastChange(ctx)
		events, _ := db.AuditEvents(ctx, org.ID, 0, 100)
		_, err := db.RollKey(ctx, old.ID, plan, snapglyph.Operator)
		if snapglyph.ErrorCode(err) != "key_name_taken" {
			t.Fatalf("rolling an expired key whose name another key took: %v, want key_name_taken", err)
		}
		keys, _ := db.Keys(ctx, org.ID, true)
		if k, _ := db.Key(ctx, old.ID); len(keys) != 2 || k.ReplacedBy != "" {
			t.Errorf("a refused roll changed the keys: %d keys, old replaced by %q", len(keys), k.ReplacedBy)
		}
		if after, _ := db.LastChange(ctx); after != changes {
			t.Errorf("a refused roll logged changes: %d → %d", changes, after)
		}
		if after, _ := db.AuditEvents(ctx, org.ID, 0, 100); len(after) != len(events) {
			t.Errorf("a refused roll wrote %d audit events", len(after)-len(events))
		}
		// Once the name is free again the roll goes through.
		if _, err := db.RenameKey(ctx, taker.ID, "Nightly-Export-2", snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		r, err := db.RollKey(ctx, old.ID, plan, snapglyph.Operator)
		if err != nil || r.New.Name != "Nightly-Export" {
			t.Fatalf("roll with the name free: %+v %v", r, err)
		}
	})
}

// TestLeakStopsTimedPause: a key in a timed pause that is reported as
// leaked must not start working again when the pause ends: it ends up
// paused until resumed, with the leak as its reason, the change logged
// for every node and the action reported as "paused".
func TestLeakStopsTimedPause(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		k, secret := newKey(t, db.DB, org.ID, "Deploy-Bot")
		until := db.Now().Add(time.Hour).Truncate(time.Millisecond)
		if _, err := db.ChangeKeyStatus(ctx, k.ID, snapglyph.KeyPaused, store.KeyPause{Reason: "deploy window", Until: until}, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		before, _ := db.LastChange(ctx)
		sum := sha256.Sum256([]byte("report"))
		url := "https://github.com/octocat/hello/blob/main/.env"
		vs, err := db.ApplyLeakReport(ctx, hex.EncodeToString(sum[:]), []store.Leak{{Digest: snapglyph.DigestKey(secret), URL: url}})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 || !vs[0].Found || vs[0].Action != snapglyph.LeakPause {
			t.Fatalf("verdicts %+v, want the key paused", vs)
		}
		got, _ := db.Key(ctx, k.ID)
		if got.Status != snapglyph.KeyPaused || !got.PausedUntil.IsZero() || got.PausedReason != "found in public at "+url || got.PausedBy != store.LeakActor.Label {
			t.Fatalf("after the report: %s until %v, reason %q by %q", got.Status, got.PausedUntil, got.PausedReason, got.PausedBy)
		}
		if st := got.StateAt(until.Add(time.Minute)); st != snapglyph.StatePaused {
			t.Errorf("after the timed pause's end the key is %s, want paused", st)
		}
		if after, _ := db.LastChange(ctx); after != before+1 {
			t.Errorf("change log moved from %d to %d, want one change", before, after)
		}
		audit, _ := db.AuditEvents(ctx, org.ID, 0, 1)
		if audit[0].Action != "key.leaked" || audit[0].Detail != "found in public at "+url+"; it was paused" {
			t.Errorf("audit %+v", audit[0])
		}
	})
}

// TestKeyExpiryEventsSkipRolled: a rolled key's expiry is not told (it
// stops at its overlap's end, which the roll told); a plain key's is, once
// before and once after.
func TestKeyExpiryEventsSkipRolled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		org := newOrg(t, db)
		create := func(name string) *snapglyph.APIKey {
			s := snapglyph.GenerateKey()
			k := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: name, Prefix: snapglyph.KeyDisplayPrefix(s),
				ExpiresAt: clock.Now().Add(3 * 24 * time.Hour)}
			if err := db.CreateKey(ctx, k, snapglyph.DigestKey(s), snapglyph.Operator, ""); err != nil {
				t.Fatal(err)
			}
			return k
		}
		plain, rolled := create("Plain-Key"), create("Rolled-Key")
		plan := func(o *snapglyph.APIKey, now time.Time) (*snapglyph.APIKey, snapglyph.KeyDigest, time.Time, error) {
			s := snapglyph.GenerateKey()
			return &snapglyph.APIKey{ID: snapglyph.NewID("key"), Name: o.Name, Prefix: snapglyph.KeyDisplayPrefix(s)}, snapglyph.DigestKey(s), now.Add(time.Hour), nil
		}
		if _, err := db.RollKey(ctx, rolled.ID, plan, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		told := func(kind string) []string {
			t.Helper()
			if _, err := db.EmitKeyExpiryEvents(ctx); err != nil {
				t.Fatal(err)
			}
			evs, err := db.Events(ctx, org.ID, kind, 100)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, e := range evs {
				ids = append(ids, e.Str("keyId"))
			}
			return ids
		}
		if ids := told(snapglyph.EventKeyExpiring); len(ids) != 1 || ids[0] != plain.ID {
			t.Errorf("expiring told for %v, want only %s (not the rolled %s)", ids, plain.ID, rolled.ID)
		}
		clock.Set(clock.Now().Add(4 * 24 * time.Hour))
		if ids := told(snapglyph.EventKeyExpired); len(ids) != 1 || ids[0] != plain.ID {
			t.Errorf("expired told for %v, want only %s (not the rolled %s)", ids, plain.ID, rolled.ID)
		}
	})
}

// TestKeyLapsesAudited: a key's expiry and the end of a timed pause are
// written to the audit log by the background scan, once each however
// often it runs, by "SnapGlyph (automatic)"; a second timed pause's end
// is written again.
func TestKeyLapsesAudited(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		org := newOrg(t, db)
		s := snapglyph.GenerateKey()
		exp := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: org.ID, Name: "Short-Lived", Prefix: snapglyph.KeyDisplayPrefix(s),
			ExpiresAt: clock.Now().Add(time.Hour)}
		if err := db.CreateKey(ctx, exp, snapglyph.DigestKey(s), snapglyph.Operator, ""); err != nil {
			t.Fatal(err)
		}
		timed, _ := newKey(t, db.DB, org.ID, "Deploy-Bot")
		pause := func() {
			t.Helper()
			if _, err := db.ChangeKeyStatus(ctx, timed.ID, snapglyph.KeyPaused, store.KeyPause{Reason: "deploy", Until: clock.Now().Add(30 * time.Minute)}, snapglyph.Operator); err != nil {
				t.Fatal(err)
			}
		}
		pause()
		count := func(action string) (n int, last *snapglyph.AuditEvent) {
			t.Helper()
			evs, err := db.AuditEvents(ctx, org.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Action == action {
					if n == 0 {
						last = e
					}
					n++
				}
			}
			return n, last
		}
		scan := func() {
			t.Helper()
			for range 3 {
				if _, err := db.EmitKeyExpiryEvents(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		scan()
		if n, _ := count("key.expired"); n != 0 {
			t.Fatalf("%d key.expired before the expiry", n)
		}
		if n, _ := count("key.pause_ended"); n != 0 {
			t.Fatalf("%d key.pause_ended before the pause's end", n)
		}
		clock.Set(clock.Now().Add(2 * time.Hour))
		scan()
		if n, e := count("key.expired"); n != 1 || e.TargetID != exp.ID || e.ActorLabel != store.AutoActor.Label || e.Actor != "snapglyph" || e.Detail != "expired at 2026-11-15 13:00 UTC" {
			t.Errorf("key.expired: %d, last %+v", n, e)
		}
		if n, e := count("key.pause_ended"); n != 1 || e.TargetID != timed.ID || e.ActorLabel != store.AutoActor.Label || e.Actor != "snapglyph" ||
			e.Detail != `the pause until 2026-11-15 12:30 UTC (reason "deploy") ended; the key works again` {
			t.Errorf("key.pause_ended: %d, last %+v", n, e)
		}
		// Paused again for a while: its end is told again, once.
		pause()
		scan()
		if n, _ := count("key.pause_ended"); n != 1 {
			t.Errorf("%d key.pause_ended while the second pause runs, want 1", n)
		}
		clock.Set(clock.Now().Add(time.Hour))
		scan()
		if n, _ := count("key.pause_ended"); n != 2 {
			t.Errorf("%d key.pause_ended after the second pause, want 2", n)
		}
	})
}
