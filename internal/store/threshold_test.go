package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestThresholdOfNewLimit: a usage threshold is told once per limit in
// force. An organisation told it used all of its 10,000 calls, then given
// 12,000, is told at 80 % and 100 % of 12,000, once each, although two
// nodes flush its use at the same moment, over and over; and a limit
// lowered below the use already recorded is told at the next flush.
func TestThresholdOfNewLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
		db.Now = clock.Now
		nodes := handles(t, db, 2, clock)
		setLimit := func(org *snapglyph.Org, calls int64) {
			t.Helper()
			if err := db.SetLimits(ctx, org.ID, &calls, nil, snapglyph.Operator); err != nil {
				t.Fatal(err)
			}
		}
		// flush has both nodes write calls each at once, rounds times.
		flush := func(org *snapglyph.Org, calls int64, rounds int) {
			t.Helper()
			for range rounds {
				var wg sync.WaitGroup
				for _, h := range nodes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						b := &snapglyph.UsageBatch{Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{{ID: org.ID, Period: "2026-11"}: {APICalls: calls}}}
						if _, err := h.SaveUsage(ctx, b); err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
			}
		}
		// told lists the organisation's usage.threshold events as
		// "percent of limit", each with its count of outbox events and of
		// deliveries to the notifier (read from the tables themselves).
		told := func(org *snapglyph.Org) map[string][2]int {
			t.Helper()
			evs, err := db.Events(ctx, org.ID, snapglyph.EventUsageThreshold, 100)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string][2]int{}
			for _, ev := range evs {
				var deliveries int
				q := `SELECT COUNT(*) FROM outbox_deliveries WHERE event_id = ? AND sink = ?`
				if db.Dialect == "postgres" {
					q = `SELECT COUNT(*) FROM outbox_deliveries WHERE event_id = $1 AND sink = $2`
				}
				if err := db.SQL().QueryRow(q, ev.ID, store.SinkNotify).Scan(&deliveries); err != nil {
					t.Fatal(err)
				}
				k := fmt.Sprintf("%d of %d", ev.Int("percent"), ev.Int("limit"))
				c := out[k]
				c[0]++
				c[1] += deliveries
				out[k] = c
			}
			return out
		}
		check := func(org *snapglyph.Org, when string, want ...string) {
			t.Helper()
			got := told(org)
			if len(got) != len(want) {
				t.Errorf("%s: told %v, want once each %v", when, got, want)
			}
			for _, w := range want {
				if got[w] != [2]int{1, 1} {
					t.Errorf("%s: %s told %d times with %d notifier deliveries, want once (all: %v)", when, w, got[w][0], got[w][1], got)
				}
			}
		}

		org := newOrg(t, db)
		setLimit(org, 10_000)
		flush(org, 2_500, 2) // 10,000: 100 % (80 % was passed in the same flush)
		check(org, "at 10,000 of 10,000", "100 of 10000")
		setLimit(org, 12_000)
		flush(org, 1, 20) // 10,040 of 12,000 (84 %): both nodes see it, over and over
		check(org, "at 10,040 of 12,000", "100 of 10000", "80 of 12000")
		flush(org, 490, 2) // 12,000
		check(org, "at 12,000 of 12,000", "100 of 10000", "80 of 12000", "100 of 12000")
		flush(org, 1, 5)
		check(org, "past 12,000", "100 of 10000", "80 of 12000", "100 of 12000")

		// Lowered past 80 %: told at the next flush, once.
		low := newOrg(t, db) // Pro: 1,000 calls
		flush(low, 105, 1)   // 210
		check(low, "at 210 of 1,000")
		setLimit(low, 250)
		flush(low, 1, 10) // 230 of 250
		check(low, "at 230 of 250", "80 of 250")
		evs, _ := db.Events(ctx, low.ID, snapglyph.EventUsageThreshold, 10)
		if len(evs) == 1 && (evs[0].Int("used") < 211 || evs[0].Str("counter") != "apiCalls") {
			t.Errorf("80 %% of 250: %v", evs[0].Data)
		}
		// Lowered past 100 %: 100 % is told, not 80 %.
		setLimit(low, 200)
		flush(low, 1, 3)
		check(low, "at 236 of 200", "80 of 250", "100 of 200")
	})
}
