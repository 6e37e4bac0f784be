package node_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestRequestLogOnEveryNode: requests served by several nodes all reach
// the one log, each entry readable by another process (the CLI) shortly
// after its answer; the test reports how long that took. A node stopped
// right after its last request writes what it buffered before it exits.
func TestRequestLogOnEveryNode(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		op := cli(t, db)
		org, key := newOrgKey(t, op, 100000, 1000)
		var nodes []*testNode
		for range 3 {
			nodes = append(nodes, startNode(t, db, node.Config{}))
		}
		var lags []time.Duration
		for round := range 10 {
			for i, n := range nodes {
				req, _ := http.NewRequest("GET", n.srv.URL+"/api/v1/usage", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("User-Agent", fmt.Sprintf("node-%d/round-%d", i, round))
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				answered := time.Now()
				id := resp.Header.Get("X-Request-Id")
				for {
					e, err := op.RequestLogEntry(ctx, snapglyph.Operator, org.ID, id)
					if err == nil {
						if e.UserAgent != req.Header.Get("User-Agent") || e.Status != 200 {
							t.Fatalf("entry %+v", e)
						}
						break
					}
					if snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
						t.Fatal(err)
					}
					if time.Since(answered) > 10*time.Second {
						t.Fatalf("request %s of node %d not in the log after 10 s", id, i)
					}
					time.Sleep(10 * time.Millisecond)
				}
				lags = append(lags, time.Since(answered))
			}
		}
		slices.Sort(lags)
		t.Logf("%s: an answered request was in the log, read by another process, after p50 %s, p90 %s, max %s (write interval %s)",
			db.Dialect, lags[len(lags)/2].Round(time.Millisecond), lags[len(lags)*9/10].Round(time.Millisecond), lags[len(lags)-1].Round(time.Millisecond), nodes[0].RequestLog.Interval)

		// Stopped right after its last requests, a node writes them
		// before it exits.
		last := nodes[2]
		for range 25 {
			get(t, last.srv.URL, "/api/v1/usage", key)
		}
		last.close()
		n := 0
		err := op.ExportRequestLog(ctx, snapglyph.Operator, org.ID, service.LogQuery{}, func(*snapglyph.RequestLogEntry) error { n++; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if n != 30+25 {
			t.Fatalf("%d entries after the node stopped, want %d", n, 30+25)
		}
	})
}

// TestNodeMaintainsRequestLog: the node's own background task removes
// entries past their retention and makes the coming days' partitions.
func TestNodeMaintainsRequestLog(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		op := cli(t, db)
		org, _ := newOrgKey(t, op, 1000, 100)
		// Entries of 0 to 100 hours ago, written before the node starts
		// with a retention of 2 days on Max.
		retention := snapglyph.LogRetention{snapglyph.PlanMax: 2}
		now := time.Now()
		var entries []snapglyph.RequestLogEntry
		var parts []snapglyph.LogPartition
		for _, age := range []time.Duration{100 * time.Hour, 72 * time.Hour, 24 * time.Hour, 0} {
			e := snapglyph.RequestLogEntry{At: now.Add(-age), RequestID: snapglyph.NewRequestID(now.Add(-age)), OrgID: org.ID, KeyID: "key_x", KeyPrefix: "qr_live_ab12",
				Method: "GET", Route: "/api/v1/usage", Status: 200, IP: "192.0.2.1", Plan: snapglyph.PlanMax}
			entries = append(entries, e)
			parts = append(parts, snapglyph.LogPartition{RetentionDays: 2, Day: snapglyph.DayOf(e.At)})
		}
		if err := db.EnsureRequestLogPartitions(ctx, parts); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SaveRequestLog(ctx, entries, retention, nil); err != nil {
			t.Fatal(err)
		}
		startNode(t, db, node.Config{RequestLogRetention: retention})
		count := func() int {
			c := 0
			db.RequestLog(ctx, org.ID, snapglyph.RequestLogFilter{}, time.Time{}, func(*snapglyph.RequestLogEntry) error { c++; return nil })
			return c
		}
		deadline := time.Now().Add(10 * time.Second)
		for count() != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("%d entries left, want the 2 younger than 2 days", count())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if db.Dialect == "postgres" {
			parts, err := db.RequestLogPartitions(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tomorrow := snapglyph.LogPartition{RetentionDays: 2, Day: snapglyph.DayOf(now).AddDate(0, 0, 1)}
			if !slices.Contains(parts, tomorrow) {
				t.Errorf("no partition for tomorrow among %v", parts)
			}
		}
	})
}
