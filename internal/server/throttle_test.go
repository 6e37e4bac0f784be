package server_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// from sends GET /api/v1/usage as the client address ip (through the
// trusted load balancer on loopback) with an Authorization header, if any.
func (h *harness) from(ip, auth string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/usage", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("X-Forwarded-For", ip)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func lbConfig() node.Config {
	return node.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
}

// metric reads one sample of the node's /metrics.
func (h *harness) metric(sample string) float64 {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestAuthenticationThrottled: an address gets DefaultAuthFailures failed
// authentications a minute, of every kind, then 429 with Retry-After; a
// valid key in use from the same address keeps working, other addresses
// are not affected, and the bucket refills with time.
func TestAuthenticationThrottled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		const attacker, neighbour = "203.0.113.9", "198.51.100.4"
		expectOK(t, h.from(attacker, "Bearer "+h.key)) // cached from now on
		unknown := snapglyph.GenerateKey()
		typo := h.key[:39] + "x"
		if typo == h.key {
			typo = h.key[:39] + "y"
		}
		bad := []string{"", "Basic Zm9vOmJhcg==", "Bearer  " + h.key, "Bearer " + typo, "Bearer " + unknown, "Bearer " + snapglyph.GenerateKey()}
		got401 := 0
		for i := 0; i < server.DefaultAuthFailures; i++ {
			resp := h.from(attacker, bad[i%len(bad)])
			if resp.StatusCode != 401 {
				t.Fatalf("failure %d: status %d, want 401", i+1, resp.StatusCode)
			}
			resp.Body.Close()
			got401++
		}
		misses := h.node.Verifier.Misses.Load()
		for i, auth := range bad {
			resp := h.from(attacker, auth)
			ra := resp.Header.Get("Retry-After")
			p := expectProblem(t, resp, 429, "authentication_throttled")
			if n, err := strconv.Atoi(ra); err != nil || n < 1 || n > 60 {
				t.Fatalf("case %d: Retry-After %q", i, ra)
			}
			if d := p["detail"].(string); strings.Contains(d, "qr_live_") {
				t.Fatalf("the detail echoes a key: %s", d)
			}
		}
		if m := h.node.Verifier.Misses.Load(); m != misses {
			t.Fatalf("throttled requests read the database %d times", m-misses)
		}
		// The valid key the node has cached keeps working from there.
		expectOK(t, h.from(attacker, "Bearer "+h.key))
		// A new key, not yet cached, from the throttled address waits
		// too: the address gets no database reads.
		k, err := h.cli.CreateKey(context.Background(), snapglyph.Operator, h.org.ID, "Billing-Service")
		if err != nil {
			t.Fatal(err)
		}
		expectProblem(t, h.from(attacker, "Bearer "+k.Secret), 429, "authentication_throttled")
		// Another address is not affected, and gets the new key in.
		expectProblem(t, h.from(neighbour, "Bearer "+unknown), 401, "invalid_api_key")
		expectOK(t, h.from(neighbour, "Bearer "+k.Secret))
		if n := h.metric(`snapglyph_key_verifications_total{outcome="throttled"}`); n != float64(len(bad)+1) {
			t.Fatalf("throttled metric %v, want %d", n, len(bad)+1)
		}
		// One failure comes back every 60/limit seconds, then a full minute
		// restores the burst.
		h.clock.Set(start.Add(time.Minute / server.DefaultAuthFailures))
		expectProblem(t, h.from(attacker, "Bearer "+unknown), 401, "invalid_api_key")
		expectProblem(t, h.from(attacker, "Bearer "+unknown), 429, "authentication_throttled")
		h.clock.Set(start.Add(2 * time.Minute))
		for i := 0; i < server.DefaultAuthFailures; i++ {
			expectProblem(t, h.from(attacker, "Bearer "+unknown), 401, "invalid_api_key")
		}
		expectProblem(t, h.from(attacker, "Bearer "+unknown), 429, "authentication_throttled")
	})
}

// TestAuthenticationThrottleExactUnderConcurrency: 16 clients of one
// address send 800 unknown keys at once; exactly the limit is answered
// 401, the rest 429, and the metrics agree with the count.
func TestAuthenticationThrottleExactUnderConcurrency(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), lbConfig())
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/usage", nil)
				req.Header.Set("Authorization", "Bearer "+snapglyph.GenerateKey())
				req.Header.Set("X-Forwarded-For", "2001:db8:1:2::"+strconv.Itoa(c*50+i)) // one /64
				resp, err := h.srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if statuses[401] != server.DefaultAuthFailures || statuses[429] != 800-server.DefaultAuthFailures {
		t.Fatalf("statuses %v, want %d × 401 and the rest 429", statuses, server.DefaultAuthFailures)
	}
	if n := h.metric(`snapglyph_key_verifications_total{outcome="unknown"}`); n != float64(statuses[401]) {
		t.Fatalf("unknown metric %v, want %d", n, statuses[401])
	}
	if n := h.metric(`snapglyph_key_verifications_total{outcome="throttled"}`); n != float64(statuses[429]) {
		t.Fatalf("throttled metric %v, want %d", n, statuses[429])
	}
}

// TestRealKeysNeverThrottled: paused and revoked keys are answered as
// such however often they are sent (they are real keys, and cost no
// database read), and do not use up the address's failures.
func TestRealKeysNeverThrottled(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), lbConfig())
	ctx := context.Background()
	if _, err := h.cli.PauseKey(ctx, snapglyph.Operator, h.kid); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3*server.DefaultAuthFailures; i++ {
		expectProblem(t, h.from("203.0.113.1", "Bearer "+h.key), 401, "api_key_paused")
	}
	expectProblem(t, h.from("203.0.113.1", "Bearer "+snapglyph.GenerateKey()), 401, "invalid_api_key")
}

// TestAuthenticationThrottleOff: a negative limit turns the throttle off.
func TestAuthenticationThrottleOff(t *testing.T) {
	cfg := lbConfig()
	cfg.AuthFailures = -1
	h := newHarness(t, testdb.Open(t, "sqlite"), cfg)
	unknown := "Bearer " + snapglyph.GenerateKey()
	for i := 0; i < 3*server.DefaultAuthFailures; i++ {
		expectProblem(t, h.from("203.0.113.1", unknown), 401, "invalid_api_key")
	}
}

// TestAuthenticationThrottleRetryAfter: with 10 failures a minute, one
// failure comes back every 6 s, and Retry-After says exactly that.
func TestAuthenticationThrottleRetryAfter(t *testing.T) {
	cfg := lbConfig()
	cfg.AuthFailures = 10
	h := newHarness(t, testdb.Open(t, "sqlite"), cfg)
	unknown := "Bearer " + snapglyph.GenerateKey()
	for i := 0; i < 10; i++ {
		expectProblem(t, h.from("203.0.113.1", unknown), 401, "invalid_api_key")
	}
	for _, elapsed := range []time.Duration{0, 5 * time.Second} {
		h.clock.Set(start.Add(elapsed))
		resp := h.from("203.0.113.1", unknown)
		want := strconv.Itoa(int((6*time.Second - elapsed).Seconds()))
		if got := resp.Header.Get("Retry-After"); got != want {
			t.Fatalf("after %v: Retry-After %q, want %s", elapsed, got, want)
		}
		p := expectProblem(t, resp, 429, "authentication_throttled")
		if !strings.Contains(p["detail"].(string), "more than 10 a minute") {
			t.Fatalf("detail: %v", p["detail"])
		}
	}
	h.clock.Set(start.Add(6 * time.Second))
	expectProblem(t, h.from("203.0.113.1", unknown), 401, "invalid_api_key")
	expectProblem(t, h.from("203.0.113.1", unknown), 429, "authentication_throttled")
}
