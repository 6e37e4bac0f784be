package node_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/notify/smtptest"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestUsageAlertsAcrossNodes: three PostgreSQL nodes (one on SQLite,
// which serves one node) serve one organisation's calls at once; when its
// flushed use passes 80 % and then 100 % of the month's calls, the Owner
// gets one notice and one mail for each, whichever nodes counted the calls
// and delivered the events.
func TestUsageAlertsAcrossNodes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		mail, err := smtptest.NewServer(smtptest.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer mail.Close()
		mailer, err := notify.NewSMTP("smtp://"+mail.Addr, "SnapGlyph <noreply@snapglyph.test>")
		if err != nil {
			t.Fatal(err)
		}
		cfg := node.Config{FlushInterval: 20 * time.Millisecond, NotifyPoll: 50 * time.Millisecond, Mailer: mailer, MailBaseURL: "https://qr.example.test"}
		nodes := []*testNode{startNode(t, db, cfg)}
		if db.Dialect == "postgres" {
			nodes = append(nodes, startNode(t, db, cfg), startNode(t, db, cfg))
		}
		svc := cli(t, db)
		const limit = 100
		org, key := newOrgKey(t, svc, limit, 1000)
		owner, err := db.NoticeRecipients(ctx, org.ID)
		if err != nil || len(owner) != 1 {
			t.Fatalf("recipients %v %v", owner, err)
		}

		// spend makes n calls, spread over the nodes, eight at a time.
		spend := func(n int) (ok int) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			sem := make(chan struct{}, 8)
			for i := 0; i < n; i++ {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					status, _, _ := get(t, nodes[i%len(nodes)].srv.URL, "/api/v1/usage", key)
					if status == http.StatusOK {
						mu.Lock()
						ok++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			return ok
		}
		waitFor := func(what string, cond func() (bool, error)) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for {
				ok, err := cond()
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s", what)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		usageEvents := func() []*snapglyph.Event {
			evs, err := db.Events(ctx, org.ID, snapglyph.EventUsageThreshold, 10)
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}
		settle := func(used int64) {
			waitFor(fmt.Sprintf("%d calls flushed", used), func() (bool, error) {
				return stored(t, db, org.ID).Used.APICalls == used, nil
			})
			waitFor("every delivery", func() (bool, error) {
				n, err := db.PendingDeliveries(ctx, store.SinkNotify)
				return n == 0, err
			})
		}

		if ok := spend(85); ok != 85 {
			t.Fatalf("%d of 85 calls answered", ok)
		}
		settle(85)
		if evs := usageEvents(); len(evs) != 1 || evs[0].Int("percent") != 80 || evs[0].Str("counter") != "apiCalls" {
			t.Fatalf("after 85 calls: %+v", evs)
		}
		if ok := spend(40); ok != limit-85 {
			t.Fatalf("%d of 40 calls answered, want %d", ok, limit-85)
		}
		settle(limit)
		evs := usageEvents()
		if len(evs) != 2 || evs[1].Int("percent") != 100 || evs[1].Int("used") != limit {
			t.Fatalf("after the limit: %+v", evs)
		}
		ns, err := db.Notices(ctx, owner[0].UserID, org.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var usage []*snapglyph.Notice
		for _, n := range ns {
			if n.Kind == snapglyph.EventUsageThreshold {
				usage = append(usage, n)
			}
		}
		if len(usage) != 2 || usage[0].Title != "All API calls of this month used" || usage[1].Title != "80 % of this month's API calls used" {
			t.Fatalf("usage notices %+v", usage)
		}
		if at := evs[0].Int("used"); at < 80 || at > 85 || !strings.Contains(usage[1].Body, fmt.Sprintf("has used %d of its 100 API calls", at)) {
			t.Errorf("80 %% notice at %d calls: %s", at, usage[1].Body)
		}
		got := 0
		for _, m := range mail.Wait(3, 10*time.Second) { // key created + 80 % + 100 %
			if strings.Contains(string(m.Data), "API calls") && m.To[0] == owner[0].Email {
				got++
			}
		}
		if got != 2 {
			t.Fatalf("%d usage mails to the Owner, want 2", got)
		}
	})
}
