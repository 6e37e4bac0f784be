package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// TestMeteringExactUnderConcurrency: with 40 calls left, 70 concurrent
// requests get exactly 40 answers and 30 × 429.
func TestMeteringExactUnderConcurrency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		// Spend 10 calls, then lower the limit to 50: 40 are left.
		for i := 0; i < 10; i++ {
			expectOK(t, h.get("/api/v1/usage", h.key))
		}
		limit := int64(50)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &limit, nil); err != nil {
			t.Fatal(err)
		}
		const n = 70
		statuses := make([]int, n)
		retry := make([]string, n)
		var wg sync.WaitGroup
		gate := make(chan struct{})
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-gate
				req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/usage", nil)
				req.Header.Set("Authorization", "Bearer "+h.key)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i], retry[i] = resp.StatusCode, resp.Header.Get("Retry-After")
			}(i)
		}
		close(gate)
		wg.Wait()
		count := map[int]int{}
		for i, s := range statuses {
			count[s]++
			if s == 429 {
				secs, err := strconv.Atoi(retry[i])
				// From 2026-11-15 12:00 UTC to 2026-12-01 00:00 UTC.
				if err != nil || secs != int((15*24+12)*3600) {
					t.Errorf("Retry-After %q, want %d", retry[i], (15*24+12)*3600)
				}
			}
		}
		if count[200] != 40 || count[429] != 30 {
			t.Fatalf("got %v, want exactly 40 × 200 and 30 × 429", count)
		}
		expectProblem(t, h.get("/api/v1/usage", h.key), 429, "api_call_limit_reached")
		h.node.Recorder.Flush(ctx)
		u, _ := db.Usage(ctx, h.org.ID, "2026-11")
		if u.Used.APICalls != 50 || u.Reserved.APICalls != 50 {
			t.Errorf("stored used %d reserved %d, want 50 and 50", u.Used.APICalls, u.Reserved.APICalls)
		}
		if c, _ := db.KeyUsage(ctx, h.kid, "2026-11"); c.APICalls != 50 {
			t.Errorf("key usage %d, want 50", c.APICalls)
		}
	})
}

// TestCallLimitLoweredBelowUse: the operator lowers the limit below what
// was used this month. The 429 says both numbers truthfully and, like
// every authenticated answer, carries the image credits' headers.
func TestCallLimitLoweredBelowUse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		var creditsLimit string
		for range 12 {
			resp := h.get("/api/v1/usage", h.key)
			creditsLimit = resp.Header.Get("X-Image-Credits-Limit")
			expectOK(t, resp)
		}
		h.node.Recorder.Flush(ctx)
		limit := int64(5)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &limit, nil); err != nil {
			t.Fatal(err)
		}
		resp := h.get("/api/v1/usage", h.key)
		for _, name := range []string{"X-Image-Credits-Limit", "X-Image-Credits-Remaining", "X-RateLimit-Limit", "X-RateLimit-Remaining", "Retry-After"} {
			if resp.Header.Get(name) == "" {
				t.Errorf("the call limit's 429 has no %s", name)
			}
		}
		if got := resp.Header.Get("X-Image-Credits-Limit"); got != creditsLimit {
			t.Errorf("X-Image-Credits-Limit %s, want %s as on the 200s", got, creditsLimit)
		}
		p := expectProblem(t, resp, 429, "api_call_limit_reached")
		if d, _ := p["detail"].(string); !strings.Contains(d, "limit of 5 API calls this month (12 used)") {
			t.Errorf("detail %q, want the limit (5) and what was used (12)", d)
		}
	})
}

// TestPeriodRollover: the allowance comes back at 00:00 UTC on the 1st.
func TestPeriodRollover(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		limit := int64(3)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &limit, nil); err != nil {
			t.Fatal(err)
		}
		h.clock.Set(time.Date(2026, 11, 30, 23, 59, 58, 0, time.UTC))
		for i := 0; i < 3; i++ {
			expectOK(t, h.get("/api/v1/usage", h.key))
		}
		resp := h.get("/api/v1/usage", h.key)
		if resp.Header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q one... two seconds before midnight, want 2", resp.Header.Get("Retry-After"))
		}
		expectProblem(t, resp, 429, "api_call_limit_reached")

		h.clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
		resp = h.get("/api/v1/usage", h.key)
		if got := resp.Header.Get("X-RateLimit-Reset"); got != "1798761600" { // 2027-01-01
			t.Errorf("X-RateLimit-Reset %s after rollover, want 1798761600", got)
		}
		body := expectOK(t, resp)
		if body["period"] != "2026-12" || body["apiCalls"].(map[string]any)["used"] != 1.0 {
			t.Errorf("after rollover: %v", body)
		}
		h.node.Recorder.Flush(ctx)
		nov, _ := db.Usage(ctx, h.org.ID, "2026-11")
		dec, _ := db.Usage(ctx, h.org.ID, "2026-12")
		if nov.Used.APICalls != 3 || dec.Used.APICalls != 1 {
			t.Errorf("November %d, December %d; want 3 and 1", nov.Used.APICalls, dec.Used.APICalls)
		}
	})
}

// TestUsagePerKey: usage is kept per organisation and per key.
func TestUsagePerKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		other, err := h.cli.CreateKey(ctx, snapglyph.Operator, h.org.ID, "Zapier-Integration")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			expectOK(t, h.get("/api/v1/usage", h.key))
		}
		body := expectOK(t, h.get("/api/v1/usage", other.Secret))
		if body["apiCalls"].(map[string]any)["used"] != 4.0 {
			t.Errorf("org and key usage: %v", body)
		}
		h.node.Recorder.Flush(ctx)
		a, _ := db.KeyUsage(ctx, h.kid, "2026-11")
		b, _ := db.KeyUsage(ctx, other.ID, "2026-11")
		if a.APICalls != 3 || b.APICalls != 1 {
			t.Errorf("per key: %d and %d, want 3 and 1", a.APICalls, b.APICalls)
		}
	})
}

// TestSpentAllowanceTold: a node that stopped without handing back the
// allowance it had leased leaves the organisation refused (429) with
// less use recorded than its limit, so its use never crosses 100 %. Once
// a node has refused it for usage.RefusalGrace, the organisation is told
// its calls are spent (usage.threshold at 100 %, with the use recorded),
// once a month however long the refusals go on; refusals within the
// grace, when the other nodes' last calls are still being recorded, tell
// nothing.
func TestSpentAllowanceTold(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		limit := int64(10000)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &limit, nil); err != nil {
			t.Fatal(err)
		}
		// What the stopped node left: 9,466 calls recorded, the whole
		// allowance leased.
		period, _ := snapglyph.Period(h.clock.Now())
		if _, err := db.SQL().Exec(`INSERT INTO usage_counters (org_id, period, api_calls_used, api_calls_reserved) VALUES ($1, $2, 9466, 10000)`, h.org.ID, period); err != nil {
			t.Fatal(err)
		}
		events := func() []*snapglyph.Event {
			t.Helper()
			if err := h.node.Recorder.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			evs, err := db.Events(ctx, h.org.ID, snapglyph.EventUsageThreshold, 10)
			if err != nil {
				t.Fatal(err)
			}
			return evs
		}
		refused := func() {
			t.Helper()
			p := expectProblem(t, h.get("/api/v1/usage", h.key), http.StatusTooManyRequests, "api_call_limit_reached")
			// The use the dashboard and /usage report, not the limit.
			if d, _ := p["detail"].(string); !strings.Contains(d, "limit of 10000 API calls this month (9466 used, the rest reserved)") {
				t.Errorf("detail %q, want the limit and the 9466 used", d)
			}
		}
		refused()
		h.clock.Set(h.clock.Now().Add(usage.RefusalGrace - time.Second))
		refused()
		if evs := events(); len(evs) != 0 {
			t.Fatalf("told within the grace: %+v", evs)
		}
		h.clock.Set(h.clock.Now().Add(2 * time.Second))
		refused()
		evs := events()
		if len(evs) != 1 || evs[0].Int("percent") != 100 || evs[0].Str("counter") != "apiCalls" || evs[0].Int("used") != 9466 || evs[0].Int("limit") != 10000 {
			t.Fatalf("after the grace: %+v", evs)
		}
		for range 3 {
			h.clock.Set(h.clock.Now().Add(time.Minute))
			refused()
		}
		if evs := events(); len(evs) != 1 {
			t.Fatalf("told %d times, want once a month: %+v", len(evs), evs)
		}
	})
}

// TestCallChargedAcrossMidnight: a request that arrives just before the
// month ends and is charged just after (it waited for a lease) is charged
// to the new month's allowance, so it is recorded in the new month too,
// with the new month's headers: a month's recorded use never passes what
// its allowance admitted (three nodes once recorded 1,007 calls of a
// 1,000-call February and showed 7 March calls left that were refused).
func TestCallChargedAcrossMidnight(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		h.clock.Set(time.Date(2027, 2, 28, 23, 59, 59, 500e6, time.UTC))
		// The meter charges a second after the request arrived.
		h.node.Meter.Now = func() time.Time { return h.clock.Now().Add(time.Second) }
		resp := h.get("/api/v1/usage", h.key)
		if got := resp.Header.Get("X-RateLimit-Reset"); got != strconv.FormatInt(time.Date(2027, 4, 1, 0, 0, 0, 0, time.UTC).Unix(), 10) {
			t.Errorf("X-RateLimit-Reset %s, want April 1st: the call was charged to March", got)
		}
		expectOK(t, resp)
		if err := h.node.Recorder.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for period, want := range map[string]int64{"2027-02": 0, "2027-03": 1} {
			u, err := db.Usage(ctx, h.org.ID, period)
			if err != nil {
				t.Fatal(err)
			}
			if u.Used.APICalls != want {
				t.Errorf("%s: %d calls recorded, want %d", period, u.Used.APICalls, want)
			}
		}
	})
}

// TestImagesShortOfCreditsHoldNoCalls: image requests the organisation
// has too few credits for are refused for their credits, and take no
// API call meanwhile. They used to take the call first and give it back
// after the credit check: with a few calls left, requests arriving in
// between were refused api_call_limit_reached, with a Retry-After of the
// rest of the month, while the allowance still held their calls.
func TestImagesShortOfCreditsHoldNoCalls(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	h := newHarness(t, db, node.Config{})
	ctx := context.Background()
	q := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Menu","type":"text","content":{"text":"x"}}`), 201)
	png := "/api/v1/qr-codes/" + q["id"].(string) + "?format=png"
	first := h.get(png, h.key)
	io.Copy(io.Discard, first.Body)
	first.Body.Close()
	etag := first.Header.Get("ETag")
	if first.StatusCode != 200 || etag == "" {
		t.Fatalf("the first PNG: %d, ETag %q", first.StatusCode, etag)
	}
	for round := range 3 {
		// 5 calls left each round; a PNG costs 10 credits of 5.
		calls, credits := int64(7+5*round), int64(5)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &calls, &credits); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		got := map[string]int{}
		var wg sync.WaitGroup
		for i := range 45 {
			path := png
			if i%9 == 4 {
				path = "/api/v1/usage" // 5 of them
			}
			wg.Go(func() {
				resp := h.get(path, h.key)
				var p struct{ Code string }
				json.NewDecoder(resp.Body).Decode(&p)
				resp.Body.Close()
				mu.Lock()
				got[strconv.Itoa(resp.StatusCode)+" "+p.Code]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if got["200 "] != 5 || got["429 image_credit_limit_reached"] != 40 {
			t.Fatalf("round %d: answers %v, want 5 × 200 (the usage reads) and 40 × 429 image_credit_limit_reached", round, got)
		}
	}
	// A client that has the image is still told it has not changed: a
	// 304 costs a call and no credit.
	calls := int64(100)
	if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &calls, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", h.srv.URL+png, nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("If-None-Match", etag)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 304 {
		t.Errorf("a conditional GET of the image with no credits left: %d, want 304", resp.StatusCode)
	}
}
