package server_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// keyWith creates a key in the harness's organisation through the CLI's
// handle.
func (h *harness) keyWith(spec service.KeySpec) *service.NewKey {
	h.t.Helper()
	if spec.Name == "" {
		spec.Name = "Key-" + snapglyph.NewID("n")
	}
	k, err := h.cli.CreateKeyWith(context.Background(), snapglyph.Operator, h.org.ID, spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return k
}

// request sends method path with key, from the client address ip (through
// the trusted load balancer; "" for none) and a JSON body.
func (h *harness) request(method, path, key, ip, body string) *http.Response {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, r)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func drain(resp *http.Response) int {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestExpiredKeyAnswer: at its expiry a key answers 401 api_key_expired
// saying when, at once (the node had it cached), and the refusal costs
// nothing; a rolled key, after its overlap, names the key that replaced it.
func TestExpiredKeyAnswer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		k := h.keyWith(service.KeySpec{ExpiresIn: time.Hour})
		old := h.keyWith(service.KeySpec{Name: "Billing"})
		expectOK(t, h.get("/api/v1/usage", k.Secret))
		expectOK(t, h.get("/api/v1/usage", old.Secret))
		r, err := h.cli.RollKey(context.Background(), snapglyph.Operator, old.ID, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, func() error { // PostgreSQL: the roll's notification
			return statusIs(h.get("/api/v1/usage", r.Secret), 200)
		})
		expectOK(t, h.get("/api/v1/usage", old.Secret))
		calls, _ := h.credits()

		h.clock.Set(start.Add(30 * time.Minute))
		p := expectProblem(t, h.get("/api/v1/usage", old.Secret), 401, "api_key_expired")
		if d := p["detail"].(string); !strings.Contains(d, r.Prefix+"...") || !strings.Contains(d, "2026-11-15 12:30 UTC") || strings.Contains(d, r.Secret) {
			t.Errorf("detail %q: want the new key's prefix and the time", d)
		}
		expectOK(t, h.get("/api/v1/usage", k.Secret))
		expectOK(t, h.get("/api/v1/usage", r.Secret))

		h.clock.Set(start.Add(time.Hour))
		resp := h.get("/api/v1/usage", k.Secret)
		if wa := resp.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="invalid_token"`) || !strings.Contains(wa, "api_key_expired") {
			t.Errorf("WWW-Authenticate %q", wa)
		}
		p = expectProblem(t, resp, 401, "api_key_expired")
		if d := p["detail"].(string); !strings.Contains(d, "expired at 2026-11-15 13:00 UTC") {
			t.Errorf("detail %q", d)
		}
		if got, _ := h.credits(); got != calls+2 {
			t.Errorf("%d calls counted, want %d: refusals must cost nothing", got, calls+2)
		}
		if n := h.metric(`snapglyph_key_verifications_total{outcome="expired"}`); n != 2 {
			t.Errorf("expired verifications: %v, want 2", n)
		}
	})
}

func statusIs(resp *http.Response, want int) error {
	if got := drain(resp); got != want {
		return &statusError{got, want}
	}
	return nil
}

type statusError struct{ got, want int }

func (e *statusError) Error() string {
	return "status " + http.StatusText(e.got) + ", want " + http.StatusText(e.want)
}

// TestScopes: each operation needs its permission; outside it a
// restricted key gets 403 insufficient_scope with the RFC 6750 challenge
// naming the permission, and no call is counted. A full-access key may do
// everything.
func TestScopes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		created := readJSON(t, h.send("POST", "/api/v1/qr-codes", h.key, `{"name":"Product Page","type":"url","content":{"url":"https://example.com/p/1"}}`), 201)
		id := created["id"].(string)
		ops := []struct {
			method, path, body string
			scope              string
			status             int // with the permission
		}{
			{"GET", "/api/v1/usage", "", "usage:read", 200},
			{"GET", "/api/v1/qr-codes", "", "qr_codes:read", 200},
			{"GET", "/api/v1/qr-codes/" + id, "", "qr_codes:read", 200},
			{"GET", "/api/v1/qr-codes/" + id + "?format=json", "", "qr_codes:read", 200},
			{"GET", "/api/v1/qr-codes/" + id + "?format=svg", "", "images:read", 200},
			{"GET", "/api/v1/qr-codes/" + id + "?format=png&size=128", "", "images:read", 200},
			{"POST", "/api/v1/qr-codes", `{"name":"Scoped","type":"text","content":{"text":"hi"}}`, "qr_codes:write", 201},
			{"PATCH", "/api/v1/qr-codes/" + id, `{"name":"Renamed"}`, "qr_codes:write", 200},
			{"GET", "/api/v1/qr-codes/qr_nope", "", "qr_codes:read", 404},
			{"DELETE", "/api/v1/qr-codes/qr_nope", "", "qr_codes:write", 404},
		}
		refused := 0
		for _, scope := range snapglyph.AllScopes() {
			ss, _ := snapglyph.ParseScopes(scope)
			k := h.keyWith(service.KeySpec{Name: "Only-" + scope, Scopes: ss})
			calls, _ := h.credits()
			want := calls
			for _, op := range ops {
				resp := h.request(op.method, op.path, k.Secret, "", op.body)
				if op.scope == scope {
					if got := drain(resp); got != op.status {
						t.Errorf("%s with %s %s: status %d, want %d", scope, op.method, op.path, got, op.status)
					}
					want++
					continue
				}
				refused++
				wa := resp.Header.Get("WWW-Authenticate")
				// The key is authenticated: the refusal tells the
				// allowance, as every authenticated response does.
				if got, want := resp.Header.Get("X-RateLimit-Remaining"), strconv.FormatInt(1000-want, 10); got != want ||
					resp.Header.Get("X-RateLimit-Limit") != "1000" || resp.Header.Get("X-Image-Credits-Limit") != "200" || resp.Header.Get("X-Image-Credits-Remaining") == "" {
					t.Errorf("%s with %s %s: X-RateLimit-Remaining %q (want %s), headers %v", scope, op.method, op.path, got, want, resp.Header)
				}
				p := expectProblem(t, resp, 403, "insufficient_scope")
				if wa != `Bearer realm="snapglyph", error="insufficient_scope", scope="`+op.scope+`"` {
					t.Errorf("%s with %s %s: WWW-Authenticate %q", scope, op.method, op.path, wa)
				}
				if d := p["detail"].(string); !strings.Contains(d, "needs the permission "+op.scope) || !strings.Contains(d, "restricted to "+scope) {
					t.Errorf("detail %q", d)
				}
			}
			if got, _ := h.credits(); got != want {
				t.Errorf("%s: %d calls counted, want %d (refusals cost nothing)", scope, got, want)
			}
		}
		// Two permissions together; the full-access key does everything.
		both, _ := snapglyph.ParseScopes("qr_codes:read,images:read")
		k := h.keyWith(service.KeySpec{Scopes: both})
		if got := drain(h.get("/api/v1/qr-codes/"+id+"?format=svg", k.Secret)); got != 200 {
			t.Errorf("svg with qr_codes:read,images:read: %d", got)
		}
		expectProblem(t, h.get("/api/v1/usage", k.Secret), 403, "insufficient_scope")
		refused++
		for _, op := range ops {
			if got := drain(h.request(op.method, op.path, h.key, "", op.body)); got != op.status {
				t.Errorf("full access %s %s: %d, want %d", op.method, op.path, got, op.status)
			}
		}
		if n := h.metric(`snapglyph_key_verifications_total{outcome="insufficient_scope"}`); n != float64(refused) {
			t.Errorf("insufficient_scope verifications: %v, want %d", n, refused)
		}
	})
}

// TestIPAllowlist: a key with an allowlist works from the addresses on it
// (through the trusted proxy's X-Forwarded-For) and answers 403
// ip_not_allowed from elsewhere, showing the address seen but never the
// list, at no cost. Without trusted proxies the peer address counts.
func TestIPAllowlist(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		ips, _ := snapglyph.ParseAllowedIPs("203.0.113.0/24,2001:db8::/32,198.51.100.7")
		k := h.keyWith(service.KeySpec{AllowedIPs: ips})
		calls, _ := h.credits()
		for _, ip := range []string{"203.0.113.1", "203.0.113.254", "2001:db8::42", "198.51.100.7", "::ffff:203.0.113.5"} {
			if got := drain(h.request("GET", "/api/v1/usage", k.Secret, ip, "")); got != 200 {
				t.Errorf("from %s: %d, want 200", ip, got)
			}
		}
		for _, ip := range []string{"203.0.114.1", "198.51.100.8", "2001:db9::1", "10.0.0.1"} {
			resp := h.request("GET", "/api/v1/usage", k.Secret, ip, "")
			if got, want := resp.Header.Get("X-RateLimit-Remaining"), strconv.FormatInt(1000-calls-5, 10); got != want || resp.Header.Get("X-Image-Credits-Remaining") != "200" {
				t.Errorf("from %s: X-RateLimit-Remaining %q (want %s), X-Image-Credits-Remaining %q (want 200)", ip, got, want, resp.Header.Get("X-Image-Credits-Remaining"))
			}
			p := expectProblem(t, resp, 403, "ip_not_allowed")
			d := p["detail"].(string)
			if !strings.Contains(d, "came from "+ip) || strings.Contains(d, "203.0.113.0") || strings.Contains(d, "2001:db8::/32") || strings.Contains(d, "198.51.100.7") {
				t.Errorf("from %s: detail %q (must show the address seen, never the list)", ip, d)
			}
		}
		if got, _ := h.credits(); got != calls+5 {
			t.Errorf("%d calls counted, want %d", got, calls+5)
		}
		// The failed-authentication throttle does not count these: the key
		// is valid. 150 refusals, then the key still works from its network.
		for i := 0; i < 150; i++ {
			drain(h.request("GET", "/api/v1/usage", k.Secret, "192.0.2.1", ""))
		}
		expectProblem(t, h.request("GET", "/api/v1/usage", k.Secret, "192.0.2.1", ""), 403, "ip_not_allowed")
		expectOK(t, h.request("GET", "/api/v1/usage", k.Secret, "203.0.113.9", ""))
	})
	t.Run("untrusted forwarded-for", func(t *testing.T) {
		h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
		ips, _ := snapglyph.ParseAllowedIPs("203.0.113.0/24")
		k := h.keyWith(service.KeySpec{AllowedIPs: ips})
		p := expectProblem(t, h.request("GET", "/api/v1/usage", k.Secret, "203.0.113.1", ""), 403, "ip_not_allowed")
		if !strings.Contains(p["detail"].(string), "came from 127.0.0.1") {
			t.Errorf("detail %q: X-Forwarded-For from an untrusted peer must be ignored", p["detail"])
		}
		loop, _ := snapglyph.ParseAllowedIPs("127.0.0.1")
		expectOK(t, h.get("/api/v1/usage", h.keyWith(service.KeySpec{AllowedIPs: loop}).Secret))
	})
}

// TestCheckOrder: revoked before expired before paused; then the plan,
// the address and the permission, in that order.
func TestCheckOrder(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), lbConfig())
	ctx := context.Background()
	ips, _ := snapglyph.ParseAllowedIPs("203.0.113.0/24")
	read, _ := snapglyph.ParseScopes("qr_codes:read")
	both := h.keyWith(service.KeySpec{AllowedIPs: ips, Scopes: read, ExpiresIn: time.Hour})
	// From the wrong address without the permission: the address first.
	expectProblem(t, h.request("GET", "/api/v1/usage", both.Secret, "198.51.100.1", ""), 403, "ip_not_allowed")
	expectProblem(t, h.request("GET", "/api/v1/usage", both.Secret, "203.0.113.1", ""), 403, "insufficient_scope")
	// Paused: the pause before the address and the permission.
	if _, err := h.cli.PauseKeyWith(ctx, snapglyph.Operator, both.ID, "rotating", start.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p := expectProblem(t, h.request("GET", "/api/v1/usage", both.Secret, "198.51.100.1", ""), 401, "api_key_paused")
	if !strings.Contains(p["detail"].(string), "paused until 2026-11-15 14:00 UTC") {
		t.Errorf("detail %q", p["detail"])
	}
	// Paused and expired: expired (final) first.
	h.clock.Set(start.Add(time.Hour))
	expectProblem(t, h.request("GET", "/api/v1/usage", both.Secret, "198.51.100.1", ""), 401, "api_key_expired")
	// Revoked and expired: revoked.
	if _, err := h.cli.RevokeKey(ctx, snapglyph.Operator, both.ID); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, h.request("GET", "/api/v1/usage", both.Secret, "198.51.100.1", ""), 401, "api_key_revoked")
	// The plan before the address.
	k := h.keyWith(service.KeySpec{AllowedIPs: ips})
	if err := h.cli.SetPlan(ctx, snapglyph.Operator, h.org.ID, "starter"); err != nil {
		t.Fatal(err)
	}
	expectProblem(t, h.request("GET", "/api/v1/usage", k.Secret, "198.51.100.1", ""), 403, "api_not_in_plan")
}

// TestTimedPause: a pause with an end answers api_key_paused with the end
// until then, and the key works again at that moment by itself.
func TestTimedPause(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		expectOK(t, h.get("/api/v1/usage", h.key))
		if _, err := h.cli.PauseKeyWith(context.Background(), snapglyph.Operator, h.kid, "suspicious traffic", start.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		p := expectProblem(t, h.get("/api/v1/usage", h.key), 401, "api_key_paused")
		if !strings.Contains(p["detail"].(string), "until 2026-11-15 13:00 UTC") {
			t.Errorf("detail %q", p["detail"])
		}
		h.clock.Set(start.Add(time.Hour - time.Millisecond))
		expectProblem(t, h.get("/api/v1/usage", h.key), 401, "api_key_paused")
		h.clock.Set(start.Add(time.Hour))
		expectOK(t, h.get("/api/v1/usage", h.key))
	})
}

// TestRenamedKeyAnswers: after a rename, refusals name the key by its new
// name on the next request (the cached entry was dropped).
func TestRenamedKeyAnswers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		read, _ := snapglyph.ParseScopes("qr_codes:read")
		k := h.keyWith(service.KeySpec{Name: "Old-Name", Scopes: read})
		p := expectProblem(t, h.get("/api/v1/usage", k.Secret), 403, "insufficient_scope")
		if !strings.Contains(p["detail"].(string), "(Old-Name)") {
			t.Fatalf("detail %q", p["detail"])
		}
		if _, err := h.cli.RenameKey(context.Background(), snapglyph.Operator, k.ID, "New-Name"); err != nil {
			t.Fatal(err)
		}
		p = expectProblem(t, h.get("/api/v1/usage", k.Secret), 403, "insufficient_scope")
		if !strings.Contains(p["detail"].(string), "(New-Name)") {
			t.Errorf("after the rename: %q", p["detail"])
		}
	})
}

// TestLifecycleAcrossNodes: two nodes with warm caches refuse an expired
// key and a rolled key past its overlap at the same moment, with no
// change event; a roll under traffic on both nodes loses no request; "End
// overlap now" is in force on both nodes when it returns.
func TestLifecycleAcrossNodes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		_, h2 := h.secondNode(node.Config{})
		ctx := context.Background()
		both := []*harness{h, h2}
		exp := h.keyWith(service.KeySpec{Name: "Expiring", ExpiresIn: time.Hour})
		old := h.keyWith(service.KeySpec{Name: "Rolling"})
		for _, x := range both {
			expectOK(t, x.get("/api/v1/usage", exp.Secret))
			expectOK(t, x.get("/api/v1/usage", old.Secret))
		}

		// Traffic on both nodes with whatever key the client holds; the
		// client switches to the new key when the roll returns.
		var current atomic.Pointer[string]
		current.Store(&old.Secret)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var sent, bad atomic.Int64
		for c := 0; c < 4; c++ {
			wg.Add(1)
			go func(x *harness) {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second}
				for i := 0; i < 2000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest("GET", x.srv.URL+"/api/v1/usage", nil)
					req.Header.Set("Authorization", "Bearer "+*current.Load())
					resp, err := client.Do(req)
					sent.Add(1)
					if err != nil || drain(resp) != 200 {
						bad.Add(1)
					}
				}
			}(both[c%2])
		}
		time.Sleep(50 * time.Millisecond)
		r, err := h.cli.RollKey(ctx, snapglyph.Operator, old.ID, 30*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		current.Store(&r.Secret)
		time.Sleep(50 * time.Millisecond)
		close(stop)
		wg.Wait()
		if bad.Load() != 0 || sent.Load() < 8 {
			t.Fatalf("%d of %d requests failed during the roll", bad.Load(), sent.Load())
		}
		for _, x := range both {
			expectOK(t, x.get("/api/v1/usage", old.Secret))
			expectOK(t, x.get("/api/v1/usage", r.Secret))
		}

		// The overlap's end and the expiry: no change event, both nodes.
		before, err := db.LastChange(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Set(start.Add(30 * time.Minute))
		for _, x := range both {
			expectProblem(t, x.get("/api/v1/usage", old.Secret), 401, "api_key_expired")
			expectOK(t, x.get("/api/v1/usage", exp.Secret))
		}
		h.clock.Set(start.Add(time.Hour))
		for _, x := range both {
			expectProblem(t, x.get("/api/v1/usage", exp.Secret), 401, "api_key_expired")
			expectOK(t, x.get("/api/v1/usage", r.Secret))
		}
		if after, _ := db.LastChange(ctx); after != before {
			t.Errorf("the expiries wrote %d change(s): they must need none", after-before)
		}

		// End overlap now: in force on both nodes when the call returns.
		old2 := h.keyWith(service.KeySpec{Name: "Rolling-2"})
		r2, err := h.cli.RollKey(ctx, snapglyph.Operator, old2.ID, 7*24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range both {
			expectOK(t, x.get("/api/v1/usage", old2.Secret))
		}
		if _, err := h.cli.EndOverlap(ctx, snapglyph.Operator, old2.ID); err != nil {
			t.Fatal(err)
		}
		for _, x := range both {
			p := expectProblem(t, x.get("/api/v1/usage", old2.Secret), 401, "api_key_expired")
			if !strings.Contains(p["detail"].(string), r2.Prefix+"...") {
				t.Errorf("detail %q", p["detail"])
			}
		}
	})
}
