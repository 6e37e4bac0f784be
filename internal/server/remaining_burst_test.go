package server_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestRemainingDuringABurst: the remaining figures of concurrent requests
// count the requests still running beside them, so none says more remain
// than do. A limit of 10,000 calls with 9,960 spent, then 80 requests at
// once for the last 40 (the meter leases them one at a time): the 40
// that pass report remaining values no larger than what was left after
// their own charge. Counting only what was recorded, 20 concurrent
// successes once read 19…11 and then 10 eleven times, promising calls that
// were gone. The same for image credits: 20 left, 40 SVGs at once.
func TestRemainingDuringABurst(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		limit := int64(10_000)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &limit, nil); err != nil {
			t.Fatal(err)
		}
		send := func(path string) (int, http.Header, error) {
			req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+h.key)
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				return 0, nil, err
			}
			resp.Body.Close()
			return resp.StatusCode, resp.Header, nil
		}
		// burst sends n requests from n goroutines at once and returns
		// the header of the 200s.
		burst := func(n int, path, header string) (values []int64) {
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range n {
				wg.Go(func() {
					<-start
					status, hdr, err := send(path)
					if err != nil {
						t.Error(err)
						return
					}
					if status == http.StatusOK {
						v, err := strconv.ParseInt(hdr.Get(header), 10, 64)
						if err != nil {
							t.Errorf("%s: %q", header, hdr.Get(header))
						}
						mu.Lock()
						values = append(values, v)
						mu.Unlock()
					} else if status != http.StatusTooManyRequests {
						t.Errorf("%s: status %d", path, status)
					}
				})
			}
			close(start)
			wg.Wait()
			return values
		}
		// Spend 9,960 calls, 16 at a time.
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < 9_960; i += 16 {
					if status, _, err := send("/api/v1/usage"); err != nil || status != 200 {
						t.Errorf("request %d: %d %v", i, status, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		// A list reads the database: the requests overlap.
		expectHonest(t, "X-RateLimit-Remaining", burst(80, "/api/v1/qr-codes?limit=1", "X-RateLimit-Remaining"), 40, 1)

		// Image credits: 200 left of 2,000, PNGs at 10 credits each.
		calls, credits := int64(100_000), int64(2_000)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &calls, &credits); err != nil {
			t.Fatal(err)
		}
		q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"url","content":{"url":"https://example.com"}}`), 201)
		path := "/api/v1/qr-codes/" + q["id"].(string) + "?format=png&size=1024"
		for range 180 {
			if status, _, err := send(path); err != nil || status != 200 {
				t.Fatalf("PNG: %d %v", status, err)
			}
		}
		expectHonest(t, "X-Image-Credits-Remaining", burst(40, path, "X-Image-Credits-Remaining"), 20, 10)
	})
}

// expectHonest checks the remaining values the n requests a burst
// admitted (each charged cost units) were told: n of them, one of which
// 0, and no more of them at v·cost or above than could have been admitted
// while that much remained (n − v): each one at most what was left after
// its own charge.
func expectHonest(t *testing.T, header string, values []int64, n, cost int64) {
	t.Helper()
	if int64(len(values)) != n {
		t.Fatalf("%s: %d requests admitted, want %d", header, len(values), n)
	}
	slices.Sort(values)
	if values[0] != 0 {
		t.Errorf("%s: the last request admitted was told %d remain, want 0 (%v)", header, values[0], values)
	}
	for v := int64(0); v <= n; v++ {
		atLeast := int64(len(values) - sortedIndex(values, v*cost))
		if atLeast > n-v {
			t.Fatalf("%s: %d requests were told at least %d remain; at most %d can have been charged while that many did (%v)", header, atLeast, v*cost, n-v, values)
		}
	}
}

// sortedIndex is the index of the first value ≥ v in sorted values.
func sortedIndex(values []int64, v int64) int {
	i, _ := slices.BinarySearch(values, v)
	return i
}
