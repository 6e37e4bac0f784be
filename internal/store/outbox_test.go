package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// handles opens n more handles on db's database, standing in for nodes,
// all on clock.
func handles(t *testing.T, db *testdb.DB, n int, clock *testdb.Clock) []*store.DB {
	t.Helper()
	out := make([]*store.DB, n)
	for i := range out {
		h, err := store.Open(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		h.Now = clock.Now
		out[i] = h
	}
	return out
}

func newKey(t *testing.T, db *store.DB, orgID, name string) (*snapglyph.APIKey, string) {
	t.Helper()
	secret := snapglyph.GenerateKey()
	k := &snapglyph.APIKey{ID: snapglyph.NewID("key"), OrgID: orgID, Name: name, Prefix: snapglyph.KeyDisplayPrefix(secret)}
	if err := db.CreateKey(context.Background(), k, snapglyph.DigestKey(secret), snapglyph.Operator, ""); err != nil {
		t.Fatal(err)
	}
	return k, secret
}

// TestOutboxEventsWithTheirChange: each audited change that people are
// told about writes its event in its own transaction, with a delivery for
// the notifier; a refused change writes none.
func TestOutboxEventsWithTheirChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		alice := snapglyph.Actor{UserID: "usr_x", Label: "alice@acme.test", IP: "192.0.2.7"}
		k, _ := newKey(t, db.DB, org.ID, "Production-WebApp")
		for _, st := range []snapglyph.KeyStatus{snapglyph.KeyPaused, snapglyph.KeyActive, snapglyph.KeyRevoked} {
			if _, err := db.SetKeyStatus(ctx, k.ID, st, alice); err != nil {
				t.Fatal(err)
			}
		}
		// Refused: a revoked key cannot be paused. No event.
		if _, err := db.SetKeyStatus(ctx, k.ID, snapglyph.KeyPaused, alice); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Fatalf("pausing a revoked key: %v", err)
		}
		inv := newInvitation(org.ID, "bob@acme.test", snapglyph.RoleAdmin, db.Now().Add(time.Hour))
		if err := db.CreateInvitation(ctx, inv, "digest-of-token", -1, alice); err != nil {
			t.Fatal(err)
		}
		// The change log and plan changes are not told: no event.
		if err := db.SetPlan(ctx, org.ID, snapglyph.PlanMax, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		events, err := db.Events(ctx, org.ID, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{snapglyph.EventKeyCreated, snapglyph.EventKeyPaused, snapglyph.EventKeyResumed, snapglyph.EventKeyRevoked, snapglyph.EventInvitationSent}
		if len(events) != len(want) {
			t.Fatalf("%d events, want %d: %+v", len(events), len(want), events)
		}
		for i, ev := range events {
			if ev.Kind != want[i] {
				t.Errorf("event %d is %s, want %s", i, ev.Kind, want[i])
			}
			if i < 4 && (ev.Str("keyId") != k.ID || ev.Str("keyName") != k.Name || ev.Str("keyPrefix") != k.Prefix) {
				t.Errorf("event %s data %v", ev.Kind, ev.Data)
			}
			if i > 0 && i < 4 && ev.Str("actor") != "alice@acme.test" {
				t.Errorf("event %s actor %q", ev.Kind, ev.Str("actor"))
			}
			st, err := db.DeliveryState(ctx, ev.ID, store.SinkNotify)
			if err != nil || st.Attempts != 0 || !st.DoneAt.IsZero() {
				t.Errorf("event %s: delivery %+v, %v", ev.Kind, st, err)
			}
		}
		if ev := events[4]; ev.Str("email") != "bob@acme.test" || ev.Str("role") != "admin" || ev.Str("invitationId") != inv.ID {
			t.Errorf("invitation event %v", ev.Data)
		}
	})
}

// TestClaimDeliveriesRace: three nodes claim the same events at once, over
// and over; every event is delivered exactly once.
func TestClaimDeliveriesRace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		const events = 150
		for i := 0; i < events; i++ {
			if _, err := db.Emit(ctx, &snapglyph.Event{Kind: snapglyph.EventTrialEnded, OrgID: org.ID, Data: map[string]any{"n": i}}, ""); err != nil {
				t.Fatal(err)
			}
		}
		nodes := handles(t, db, 3, clock)
		var mu sync.Mutex
		got := map[int64]string{}
		var wg sync.WaitGroup
		for i, h := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("node%d", i)
				for round := 0; round < 1000; round++ {
					ds, err := h.ClaimDeliveries(ctx, store.SinkNotify, name, 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(ds) == 0 {
						return
					}
					for _, d := range ds {
						mu.Lock()
						if prev, ok := got[d.Event.ID]; ok {
							t.Errorf("event %d delivered by %s and %s", d.Event.ID, prev, name)
						}
						got[d.Event.ID] = name
						mu.Unlock()
						if ok, err := h.FinishDelivery(ctx, d.Event.ID, d.Sink, name, ""); err != nil || !ok {
							t.Errorf("finish %d: %v %v", d.Event.ID, ok, err)
						}
					}
				}
			}()
		}
		wg.Wait()
		if len(got) != events {
			t.Fatalf("%d events delivered, want %d", len(got), events)
		}
		per := map[string]int{}
		for _, n := range got {
			per[n]++
		}
		t.Logf("deliveries per node: %v", per)
	})
}

// TestDeliveryRetryAndLease: a failed delivery is due again at its retry
// time, not before; a claim whose node died is taken by another node when
// its lease ends, and the late node can no longer finish it.
func TestDeliveryRetryAndLease(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		ev := &snapglyph.Event{Kind: snapglyph.EventTrialEnded, OrgID: org.ID}
		if _, err := db.Emit(ctx, ev, ""); err != nil {
			t.Fatal(err)
		}
		claim := func(node string) []*store.Delivery {
			t.Helper()
			ds, err := db.ClaimDeliveries(ctx, store.SinkNotify, node, 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			return ds
		}
		ds := claim("a")
		if len(ds) != 1 || ds[0].Attempts != 1 || ds[0].Event.ID != ev.ID {
			t.Fatalf("first claim %+v", ds)
		}
		if ds := claim("b"); len(ds) != 0 {
			t.Fatalf("a claimed delivery was claimed again: %+v", ds)
		}
		if err := db.RetryDelivery(ctx, ev.ID, store.SinkNotify, "a", clock.Now().Add(30*time.Second), "smtp: 451 try later"); err != nil {
			t.Fatal(err)
		}
		if ds := claim("b"); len(ds) != 0 {
			t.Fatal("claimed before its retry time")
		}
		clock.Set(clock.Now().Add(31 * time.Second))
		ds = claim("b")
		if len(ds) != 1 || ds[0].Attempts != 2 {
			t.Fatalf("retry claim %+v", ds)
		}
		// b dies; after the lease c takes it; b's late finish is refused.
		clock.Set(clock.Now().Add(61 * time.Second))
		if ds := claim("c"); len(ds) != 1 || ds[0].Attempts != 3 {
			t.Fatalf("claim after the lease %+v", ds)
		}
		if ok, err := db.FinishDelivery(ctx, ev.ID, store.SinkNotify, "b", ""); err != nil || ok {
			t.Fatalf("a node without the claim finished it: %v %v", ok, err)
		}
		if ok, err := db.FinishDelivery(ctx, ev.ID, store.SinkNotify, "c", ""); err != nil || !ok {
			t.Fatalf("finish: %v %v", ok, err)
		}
		clock.Set(clock.Now().Add(time.Hour))
		if ds := claim("a"); len(ds) != 0 {
			t.Fatal("a finished delivery was claimed again")
		}
		st, _ := db.DeliveryState(ctx, ev.ID, store.SinkNotify)
		if st.Attempts != 3 || st.DoneAt.IsZero() || st.LastError != "" {
			t.Errorf("state %+v", st)
		}
		// Pruned once old and done.
		clock.Set(clock.Now().Add(store.OutboxRetention))
		if n, err := db.PruneOutbox(ctx, store.OutboxRetention); err != nil || n != 1 {
			t.Fatalf("pruned %d, %v", n, err)
		}
	})
}

// TestEmitDedupe: an event with a dedupe key happens once, however many
// nodes emit it at the same moment.
func TestEmitDedupe(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		clock := testdb.NewClock(time.Now())
		var wg sync.WaitGroup
		var mu sync.Mutex
		wrote := 0
		for _, h := range handles(t, db, 6, clock) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := h.Emit(ctx, &snapglyph.Event{Kind: snapglyph.EventTrialEnding, OrgID: org.ID}, "trial.ending:"+org.ID)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					wrote++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		evs, _ := db.Events(ctx, org.ID, snapglyph.EventTrialEnding, 10)
		if wrote != 1 || len(evs) != 1 {
			t.Fatalf("%d emits reported, %d events stored; want 1", wrote, len(evs))
		}
	})
}

// TestUsageThresholdsOnce: flushes of three nodes that together cross 80 %
// of the calls make one usage.threshold event; crossing 100 % makes one
// more; further flushes and lower thresholds make none. Credits are
// counted on their own.
func TestUsageThresholdsOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db) // Pro: 1,000 calls, 200 credits
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		nodes := handles(t, db, 3, clock)
		flush := func(calls, credits int64) {
			var wg sync.WaitGroup
			for _, h := range nodes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := &snapglyph.UsageBatch{Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{
						{ID: org.ID, Period: "2026-11"}: {APICalls: calls, ImageCredits: credits},
					}}
					if _, err := h.SaveUsage(ctx, b); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		events := func() []*snapglyph.Event {
			evs, err := db.Events(ctx, org.ID, snapglyph.EventUsageThreshold, 100)
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}
		flush(260, 0) // 780 calls: below 80 %
		if n := len(events()); n != 0 {
			t.Fatalf("%d events below the threshold", n)
		}
		flush(10, 10) // 810 calls (crosses 800), 30 credits
		flush(10, 10) // 840
		evs := events()
		if len(evs) != 1 || evs[0].Str("counter") != "apiCalls" || evs[0].Int("percent") != 80 || evs[0].Int("used") < 800 || evs[0].Int("limit") != 1000 {
			t.Fatalf("after 80 %%: %+v", evs)
		}
		if evs[0].Str("period") != "2026-11" || evs[0].Str("resetsAt") != "2026-12-01T00:00:00Z" {
			t.Errorf("event data %v", evs[0].Data)
		}
		flush(50, 30) // 990 calls, 150 credits (75 %)
		flush(4, 0)   // 1002: crosses 100 %
		evs = events()
		if len(evs) != 2 || evs[1].Int("percent") != 100 || evs[1].Str("counter") != "apiCalls" {
			t.Fatalf("after 100 %%: %+v", evs)
		}
		// Credits jump past 80 % and 100 % in one flush: only 100 % is told.
		b := &snapglyph.UsageBatch{Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{{ID: org.ID, Period: "2026-11"}: {ImageCredits: 60}}}
		if _, err := db.SaveUsage(ctx, b); err != nil { // 210 credits in one flush
			t.Fatal(err)
		}
		evs = events()
		if len(evs) != 3 || evs[2].Str("counter") != "imageCredits" || evs[2].Int("percent") != 100 {
			t.Fatalf("credits: %+v", evs)
		}
		flush(1, 1)
		if n := len(events()); n != 3 {
			t.Fatalf("%d events after more use, want 3", n)
		}
	})
}

// TestTrialEvents: trial.ending within three days of the end and
// trial.ended after it, each once, whichever nodes look.
func TestTrialEvents(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
		clock := testdb.NewClock(now)
		db.Now = clock.Now
		trial := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Trial", Plan: snapglyph.PlanTrial, TrialEndsAt: now.Add(5 * 24 * time.Hour)}
		if _, err := db.CreateOrg(ctx, trial, "t@acme.test", ""); err != nil {
			t.Fatal(err)
		}
		newOrg(t, db) // Pro: never told
		nodes := handles(t, db, 3, clock)
		scan := func() int {
			total := 0
			for _, h := range nodes {
				n, err := h.EmitTrialEvents(ctx)
				if err != nil {
					t.Fatal(err)
				}
				total += n
			}
			return total
		}
		if n := scan(); n != 0 {
			t.Fatalf("%d events 5 days before the end", n)
		}
		clock.Set(now.Add(2*24*time.Hour + time.Minute)) // ends in less than 3 days
		if n := scan(); n != 1 {
			t.Fatalf("%d events 3 days before the end, want 1", n)
		}
		if n := scan(); n != 0 {
			t.Fatalf("told again: %d", n)
		}
		clock.Set(now.Add(5*24*time.Hour + time.Second))
		if n := scan(); n != 1 {
			t.Fatalf("%d events at the end, want 1", n)
		}
		evs, _ := db.Events(ctx, trial.ID, "", 10)
		if len(evs) != 2 || evs[0].Kind != snapglyph.EventTrialEnding || evs[1].Kind != snapglyph.EventTrialEnded ||
			!evs[1].Time("trialEndsAt").Equal(trial.TrialEndsAt) {
			t.Fatalf("events %+v", evs)
		}
	})
}

// TestApplyLeakReport: an active key is paused (or revoked, as its
// organisation chose) with the change logged for every node's cache, the
// audit event and api_key.leaked; unknown tokens are not ours; the same
// report again is refused and changes nothing.
func TestApplyLeakReport(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		org := newOrg(t, db)
		k1, s1 := newKey(t, db.DB, org.ID, "Production-WebApp")
		k2, s2 := newKey(t, db.DB, org.ID, "Zapier")
		before, _ := db.LastChange(ctx)
		url := "https://github.com/octocat/hello/blob/main/.env"
		leaks := []store.Leak{
			{Digest: snapglyph.DigestKey(s1), URL: url, Source: "content"},
			{Digest: snapglyph.DigestKey(snapglyph.GenerateKey()), URL: url},
			{Digest: snapglyph.DigestKey(s1), URL: url + "#again"},
		}
		digest := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
		vs, err := db.ApplyLeakReport(ctx, digest("report 1"), leaks)
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 3 || !vs[0].Found || vs[0].Action != "paused" || vs[0].KeyID != k1.ID || vs[1].Found || !vs[2].Found || vs[2].Action != "" {
			t.Fatalf("verdicts %+v", vs)
		}
		if k, _ := db.Key(ctx, k1.ID); k.Status != snapglyph.KeyPaused || k.PausedReason != "found in public at "+url || k.PausedBy != "GitHub secret scanning" || !k.PausedUntil.IsZero() {
			t.Fatalf("leaked key: %s, reason %q by %q until %v", k.Status, k.PausedReason, k.PausedBy, k.PausedUntil)
		}
		if after, _ := db.LastChange(ctx); after != before+1 {
			t.Errorf("change log moved from %d to %d, want one change", before, after)
		}
		evs, _ := db.Events(ctx, org.ID, snapglyph.EventKeyLeaked, 10)
		if len(evs) != 1 || evs[0].Str("url") != url || evs[0].Str("action") != "paused" || evs[0].Str("keyPrefix") != k1.Prefix || evs[0].Str("actorId") != "github" {
			t.Fatalf("leak events %+v", evs)
		}
		// The audit log names GitHub as the event does, not the operator.
		audit, _ := db.AuditEvents(ctx, org.ID, 0, 1)
		if audit[0].Action != "key.leaked" || audit[0].ActorLabel != "GitHub secret scanning" || audit[0].Actor != "github" {
			t.Errorf("audit %+v", audit[0])
		}
		// Replayed: refused, nothing changes even after a resume.
		if _, err := db.SetKeyStatus(ctx, k1.ID, snapglyph.KeyActive, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ApplyLeakReport(ctx, digest("report 1"), leaks); snapglyph.ErrorCode(err) != "leak_report_replayed" {
			t.Fatalf("replay: %v", err)
		}
		if k, _ := db.Key(ctx, k1.ID); k.Status != snapglyph.KeyActive {
			t.Fatalf("a replay changed the key to %s", k.Status)
		}
		// A timed pause that has ended counts as active: paused again,
		// for good this time.
		k3, s3 := newKey(t, db.DB, org.ID, "Timed")
		if _, err := db.ChangeKeyStatus(ctx, k3.ID, snapglyph.KeyPaused, store.KeyPause{Reason: "deploy", Until: db.Now().Add(-time.Minute)}, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		if vs, err := db.ApplyLeakReport(ctx, digest("report 3"), []store.Leak{{Digest: snapglyph.DigestKey(s3), URL: url}}); err != nil || vs[0].Action != "paused" {
			t.Fatalf("a pause that ended: %+v %v", vs, err)
		}
		if k, _ := db.Key(ctx, k3.ID); k.StateAt(db.Now()) != snapglyph.StatePaused || !k.PausedUntil.IsZero() {
			t.Fatalf("the timed key after the report: %s until %v", k.StateAt(db.Now()), k.PausedUntil)
		}
		// The organisation chose revoke.
		if err := db.SetLeakAction(ctx, org.ID, snapglyph.LeakRevoke, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		if err := db.SetLeakAction(ctx, org.ID, "delete", snapglyph.Operator); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Fatalf("bad action: %v", err)
		}
		vs, err = db.ApplyLeakReport(ctx, digest("report 2"), []store.Leak{{Digest: snapglyph.DigestKey(s2), URL: url}})
		if err != nil || vs[0].Action != "revoked" {
			t.Fatalf("%+v %v", vs, err)
		}
		if k, _ := db.Key(ctx, k2.ID); k.Status != snapglyph.KeyRevoked || k.RevokedAt.IsZero() {
			t.Fatalf("key %s", k.Status)
		}
	})
}
