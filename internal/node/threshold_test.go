package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestThresholdOfNewLimitAcrossNodes: an organisation told it used all of
// its 1,000 calls is given 1,200 (set-limits); when calls served by two
// nodes use those up, the Owner gets one notice and its endpoint one
// usage.threshold webhook for 80 % and for 100 % of 1,200. Another one's
// limit lowered past 80 % of its use is told at 80 % of the new limit.
func TestThresholdOfNewLimitAcrossNodes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		var mu sync.Mutex
		hooks := map[string]map[string]bool{} // delivery ids by "percent of limit"
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Event string
				Data  map[string]any
			}
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Event != snapglyph.EventUsageThreshold {
				return
			}
			k := fmt.Sprintf("%v of %v", body.Data["percent"], body.Data["limit"])
			mu.Lock()
			defer mu.Unlock()
			if hooks[k] == nil {
				hooks[k] = map[string]bool{}
			}
			hooks[k][r.Header.Get("X-Snapglyph-Delivery")] = true
		}))
		defer rcv.Close()
		cfg := node.Config{FlushInterval: 20 * time.Millisecond, NotifyPoll: 50 * time.Millisecond, WebhookAllowInsecureLocal: true}
		nodes := []*testNode{startNode(t, db, cfg)}
		if db.Dialect == "postgres" {
			nodes = append(nodes, startNode(t, db, cfg))
		}
		svc := cli(t, db)
		svc.Webhooks.AllowInsecureLocal = true

		spend := func(key string, n int) (ok int) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for i := range n {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					if status, _, _ := get(t, nodes[i%len(nodes)].srv.URL, "/api/v1/usage", key); status == http.StatusOK {
						mu.Lock()
						ok++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			return ok
		}
		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s", what)
				}
			}
		}
		settle := func(orgID string, used int64) {
			t.Helper()
			waitFor(fmt.Sprintf("%d calls flushed", used), func() bool { return stored(t, db, orgID).Used.APICalls == used })
			waitFor("every delivery", func() bool {
				var n int
				if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM outbox_deliveries WHERE done_at = 0`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n == 0
			})
		}
		setLimit := func(orgID string, calls int64) {
			t.Helper()
			if err := svc.SetLimits(ctx, snapglyph.Operator, orgID, &calls, nil); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // SQLite: the node reads the change
		}
		// told counts, independently, the organisation's usage.threshold
		// outbox events, its Owner's usage notices (by the limit the body
		// names) and the webhook deliveries, by "percent of limit".
		told := func(orgID string) (events, notices, webhooks map[string]int) {
			t.Helper()
			events, notices, webhooks = map[string]int{}, map[string]int{}, map[string]int{}
			evs, err := db.Events(ctx, orgID, snapglyph.EventUsageThreshold, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				events[fmt.Sprintf("%d of %d", ev.Int("percent"), ev.Int("limit"))]++
			}
			owner, err := db.NoticeRecipients(ctx, orgID)
			if err != nil || len(owner) != 1 {
				t.Fatalf("recipients %v %v", owner, err)
			}
			ns, err := db.Notices(ctx, owner[0].UserID, orgID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				if n.Kind != snapglyph.EventUsageThreshold {
					continue
				}
				pct := "80"
				if strings.HasPrefix(n.Title, "All API calls") {
					pct = "100"
				}
				var used, limit string
				if i := strings.Index(n.Body, "has used "); i >= 0 {
					fmt.Sscanf(n.Body[i:], "has used %s of its %s", &used, &limit)
				}
				notices[pct+" of "+strings.ReplaceAll(limit, ",", "")]++
			}
			mu.Lock()
			defer mu.Unlock()
			for k, ids := range hooks {
				webhooks[k] = len(ids)
			}
			return events, notices, webhooks
		}
		check := func(orgID, when string, want ...string) {
			t.Helper()
			wantMap := map[string]int{}
			for _, w := range want {
				wantMap[w] = 1
			}
			events, notices, webhooks := told(orgID)
			for name, got := range map[string]map[string]int{"events": events, "notices": notices, "webhooks": webhooks} {
				if fmt.Sprint(got) != fmt.Sprint(wantMap) {
					t.Errorf("%s: %s %v, want once each %v", when, name, got, want)
				}
			}
		}

		org, key := newOrgKey(t, svc, 1000, 1000)
		if _, err := svc.CreateWebhook(ctx, snapglyph.Operator, org.ID, rcv.URL, []string{snapglyph.EventUsageThreshold}); err != nil {
			t.Fatal(err)
		}
		if ok := spend(key, 1000); ok != 1000 {
			t.Fatalf("%d of 1,000 calls answered", ok)
		}
		settle(org.ID, 1000)
		check(org.ID, "at 1,000 of 1,000", "80 of 1000", "100 of 1000")
		setLimit(org.ID, 1200)
		if ok := spend(key, 260); ok != 200 {
			t.Fatalf("%d of 260 calls answered after the raise, want 200", ok)
		}
		settle(org.ID, 1200)
		check(org.ID, "at 1,200 of 1,200", "80 of 1000", "100 of 1000", "80 of 1200", "100 of 1200")

		// Lowered past 80 %: 210 of 1,000, then 250.
		mu.Lock()
		clear(hooks)
		mu.Unlock()
		low, lowKey := newOrgKey(t, svc, 1000, 1000)
		if _, err := svc.CreateWebhook(ctx, snapglyph.Operator, low.ID, rcv.URL, []string{snapglyph.EventUsageThreshold}); err != nil {
			t.Fatal(err)
		}
		spend(lowKey, 210)
		settle(low.ID, 210)
		check(low.ID, "at 210 of 1,000")
		setLimit(low.ID, 250)
		spend(lowKey, 5)
		settle(low.ID, 215)
		check(low.ID, "at 215 of 250", "80 of 250")
	})
}
