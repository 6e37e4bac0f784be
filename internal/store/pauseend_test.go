package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPauseEndTellsResume: when a timed pause ends, the minute scans of
// two nodes, running at once and again, send one api_key.resumed event,
// as a resume does (a notice, and webhooks that want it), by "SnapGlyph
// (automatic)" with the pause's end; a manual resume sends its own, and
// a second timed pause's end is told again.
func TestPauseEndTellsResume(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		nodes := handles(t, db, 2, clock)
		org := newOrg(t, db)
		k, _ := newKey(t, db.DB, org.ID, "Deploy-Bot")
		pause := func(d time.Duration) time.Time {
			t.Helper()
			until := clock.Now().Add(d)
			if _, err := db.ChangeKeyStatus(ctx, k.ID, snapglyph.KeyPaused, store.KeyPause{Reason: "deploy", Until: until}, snapglyph.Operator); err != nil {
				t.Fatal(err)
			}
			return until.Truncate(time.Second)
		}
		scan := func() {
			t.Helper()
			for range 3 {
				var wg sync.WaitGroup
				for _, h := range nodes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := h.EmitKeyExpiryEvents(ctx); err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
			}
		}
		resumed := func() []*snapglyph.Event {
			t.Helper()
			evs, err := db.Events(ctx, org.ID, snapglyph.EventKeyResumed, 100)
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}

		first := pause(30 * time.Minute)
		scan()
		if evs := resumed(); len(evs) != 0 {
			t.Fatalf("%d api_key.resumed while the pause runs", len(evs))
		}
		clock.Set(clock.Now().Add(31 * time.Minute))
		scan()
		evs := resumed()
		if len(evs) != 1 {
			t.Fatalf("%d api_key.resumed after the pause's end, want 1", len(evs))
		}
		ev := evs[0]
		// Its actorId is its own, not the operator's a CLI resume has.
		if ev.Str("keyId") != k.ID || ev.Str("actor") != store.AutoActor.Label || ev.Str("actorId") != "snapglyph" || !ev.Time("pausedUntil").Equal(first) {
			t.Errorf("api_key.resumed data %v", ev.Data)
		}
		if s, err := db.DeliveryState(ctx, ev.ID, store.SinkNotify); err != nil || !s.DoneAt.IsZero() {
			t.Errorf("notifier delivery %+v %v", s, err)
		}
		c := notify.Compose(ev, org, snapglyph.RoleOwner)
		if c.Title != "API key Deploy-Bot resumed" ||
			c.Body != "The pause of the API key Deploy-Bot ("+k.Prefix+"...) of Acme ended at its scheduled time, 15 Nov 2026 at 12:30 UTC. It works again." {
			t.Errorf("notice %+v", c)
		}

		// Paused again and resumed by hand before the end: that resume is
		// told, the end that never came is not.
		pause(time.Hour)
		if _, err := db.ChangeKeyStatus(ctx, k.ID, snapglyph.KeyActive, store.KeyPause{}, snapglyph.Operator); err != nil {
			t.Fatal(err)
		}
		clock.Set(clock.Now().Add(2 * time.Hour))
		scan()
		if evs := resumed(); len(evs) != 2 || evs[1].Str("pausedUntil") != "" || evs[1].Str("actorId") != "operator" {
			t.Fatalf("after a manual resume: %d events, last %v", len(evs), evs[len(evs)-1].Data)
		}
		// A second timed pause's end is told again, once.
		second := pause(10 * time.Minute)
		clock.Set(clock.Now().Add(11 * time.Minute))
		scan()
		if evs := resumed(); len(evs) != 3 || !evs[2].Time("pausedUntil").Equal(second) {
			t.Fatalf("after the second timed pause: %d events, last %v", len(evs), evs[len(evs)-1].Data)
		}
	})
}
