package server_test

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestNoRouteChecksTheKey: a request under /api/ that names a key but no
// endpoint (an unknown path, a method the path is not served with) has
// its key checked as on any endpoint: a paused, revoked, expired or
// unknown key is refused with its own problem, a valid one gets the 404
// or 405; every request with a key of the organisation is in its request
// log with its flags, and none costs an API call. Unknown keys are
// counted in /metrics, not logged.
func TestNoRouteChecksTheKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		ctx := context.Background()
		paused := h.keyWith(service.KeySpec{})
		revoked := h.keyWith(service.KeySpec{})
		expired := h.keyWith(service.KeySpec{ExpiresIn: time.Hour})
		if _, err := h.cli.PauseKey(ctx, snapglyph.Operator, paused.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := h.cli.RevokeKey(ctx, snapglyph.Operator, revoked.ID); err != nil {
			t.Fatal(err)
		}
		h.clock.Set(h.clock.Now().Add(2 * time.Hour))
		callsBefore, creditsBefore := h.credits()
		unknownBefore := h.metric(`snapglyph_key_verifications_total{outcome="unknown"}`)

		const ip = "192.0.2.10"
		keys := []struct {
			name, secret, id string
			status           int    // 0: the route's own answer
			code             string // the refusal's
			flags            snapglyph.RequestLogFlags
		}{
			{"valid", h.key, h.kid, 0, "", 0},
			{"paused", paused.Secret, paused.ID, 401, "api_key_paused", snapglyph.FlagInactiveKey},
			{"revoked", revoked.Secret, revoked.ID, 401, "api_key_revoked", snapglyph.FlagInactiveKey},
			{"expired", expired.Secret, expired.ID, 401, "api_key_expired", snapglyph.FlagInactiveKey},
			{"unknown", snapglyph.GenerateKey(), "", 401, "invalid_api_key", 0},
		}
		routes := []struct {
			method, path, route string
			status              int
			code, allow         string
		}{
			{"GET", "/api/v1/nope", server.NoRoute, 404, "not_found", ""},
			{"GET", "/api/v2/usage", server.NoRoute, 404, "not_found", ""},
			{"PUT", "/api/v1/usage", "/api/v1/usage", 405, "method_not_allowed", "GET, HEAD, OPTIONS"},
			{"DELETE", "/api/v1/qr-codes", "/api/v1/qr-codes", 405, "method_not_allowed", "GET, HEAD, POST, OPTIONS"},
		}
		// What the log should hold, by request id.
		type entry struct {
			keyID, method, route, code string
			status                     int
			ip                         string
			flags                      snapglyph.RequestLogFlags
		}
		want := map[string]entry{}
		unknownSent := 0
		for _, k := range keys {
			for _, rt := range routes {
				resp, s := h.call(rt.method, rt.path, k.secret, ip, "probe/1", "")
				status, code := k.status, k.code
				if status == 0 {
					status, code = rt.status, rt.code
				}
				p := expectProblem(t, resp, status, code)
				if allow := resp.Header.Get("Allow"); k.status == 0 && allow != rt.allow || k.status != 0 && allow != "" {
					t.Errorf("%s key, %s %s: Allow %q", k.name, rt.method, rt.path, allow)
				}
				if resp.Header.Get("X-RateLimit-Remaining") != "" {
					t.Errorf("%s key, %s %s: usage headers on an answer that charged nothing", k.name, rt.method, rt.path)
				}
				if p["requestId"] != s.id {
					t.Errorf("%s key, %s %s: request id %v, header %s", k.name, rt.method, rt.path, p["requestId"], s.id)
				}
				if k.id == "" {
					unknownSent++
					continue
				}
				want[s.id] = entry{k.id, rt.method, rt.route, code, status, ip, k.flags}
			}
		}

		// Suspicious signs hold as for any request: a new address, and a
		// burst of refusals (the 10th within a minute is flagged).
		resp, s := h.call("GET", "/api/v1/nope", h.key, "203.0.113.7", "probe/1", "")
		expectProblem(t, resp, 404, "not_found")
		want[s.id] = entry{h.kid, "GET", server.NoRoute, "not_found", 404, "203.0.113.7", snapglyph.FlagNewIP}
		for i := len(routes); i < snapglyph.BurstRefusals; i++ {
			resp, s := h.call("GET", "/api/v1/nope", revoked.Secret, ip, "probe/1", "")
			expectProblem(t, resp, 401, "api_key_revoked")
			flags := snapglyph.FlagInactiveKey
			if i == snapglyph.BurstRefusals-1 {
				flags |= snapglyph.FlagBurst
			}
			want[s.id] = entry{revoked.ID, "GET", server.NoRoute, "api_key_revoked", 401, ip, flags}
		}

		if err := h.node.RequestLog.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, e := range logOf(t, h.cli, h.org.ID, len(want)) {
			w, ok := want[e.RequestID]
			if !ok {
				t.Errorf("logged a request not made: %+v", e)
				continue
			}
			if e.KeyID != w.keyID || e.Method != w.method || e.Route != w.route || e.ResourceID != "" || e.Status != w.status ||
				e.Code != w.code || e.Flags != w.flags || e.IP != w.ip || e.Calls != 0 || e.Credits != 0 || e.OrgID != h.org.ID {
				t.Errorf("logged %s %s %s %d %q flags %v resource %q calls %d\nwant   %s %s %s %d %q flags %v",
					e.KeyID, e.Method, e.Route, e.Status, e.Code, e.Flags.Names(), e.ResourceID, e.Calls,
					w.keyID, w.method, w.route, w.status, w.code, w.flags.Names())
			}
		}
		if calls, credits := h.credits(); calls != callsBefore || credits != creditsBefore {
			t.Errorf("requests to no endpoint cost %d API calls and %d credits", calls-callsBefore, credits-creditsBefore)
		}
		if got := h.metric(`snapglyph_key_verifications_total{outcome="unknown"}`); got != unknownBefore+float64(unknownSent) {
			t.Errorf("unknown keys counted %v times in /metrics, want %d", got-unknownBefore, unknownSent)
		}
	})
}

// TestNoRouteRefusals: on a path that is no endpoint, the other refusals
// of a key are those of any endpoint: a malformed header or key, an
// address the key's allowlist does not hold, an organisation without
// the API, and the throttle of failed authentications. Without an
// Authorization header the answer is the 404 or 405 as before, a CORS
// preflight is refused as before whatever it carries, and the public
// document is served as before.
func TestNoRouteRefusals(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), lbConfig())
	ctx := context.Background()
	allowlisted := h.keyWith(service.KeySpec{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	starter, starterKey, starterKID := h.newOrgKey("pro")
	if err := h.cli.SetPlan(ctx, snapglyph.Operator, starter.ID, "starter"); err != nil {
		t.Fatal(err)
	}
	sendAuth := func(method, path, auth, ip string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, h.srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, c := range []struct {
		method, path, auth, ip string
		status                 int
		code                   string
	}{
		{"GET", "/api/v1/nope", "Basic dXNlcjpwYXNz", "192.0.2.1", 401, "malformed_authorization"},
		{"PUT", "/api/v1/usage", "Bearer  " + h.key, "192.0.2.1", 401, "malformed_authorization"},
		{"GET", "/api/v1/nope", "Bearer qr_live_short", "192.0.2.1", 401, "malformed_api_key"},
		{"GET", "/api/v1/nope", "Bearer " + allowlisted.Secret, "198.51.100.9", 403, "ip_not_allowed"},
		{"PUT", "/api/v1/usage", "Bearer " + allowlisted.Secret, "192.0.2.9", 405, "method_not_allowed"},
		{"GET", "/api/v1/nope", "Bearer " + starterKey, "192.0.2.1", 403, "api_not_in_plan"},
		{"GET", "/api/v1/nope", "", "192.0.2.1", 404, "not_found"},
		{"PUT", "/api/v1/usage", "", "192.0.2.1", 405, "method_not_allowed"},
	} {
		expectProblem(t, sendAuth(c.method, c.path, c.auth, c.ip), c.status, c.code)
	}
	// A plain OPTIONS (not a browser's preflight) with a key is a request
	// like any other: the key is checked, then the methods listed.
	expectProblem(t, sendAuth("OPTIONS", "/api/v1/usage", "Bearer "+allowlisted.Secret, "198.51.100.9"), 403, "ip_not_allowed")
	if resp := sendAuth("OPTIONS", "/api/v1/usage", "Bearer "+allowlisted.Secret, "192.0.2.9"); drain(resp) != 204 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("OPTIONS with a valid key: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if err := h.node.RequestLog.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, e := range logOf(t, h.cli, h.org.ID, 4) {
		codes[e.KeyID+" "+e.Method+" "+strconv.Itoa(e.Status)] = e.Code
	}
	if codes[allowlisted.ID+" GET 403"] != "ip_not_allowed" || codes[allowlisted.ID+" PUT 405"] != "method_not_allowed" ||
		codes[allowlisted.ID+" OPTIONS 403"] != "ip_not_allowed" || len(codes) != 4 {
		t.Errorf("the allowlisted key's log: %v", codes)
	}
	if e := logOf(t, h.cli, starter.ID, 1)[0]; e.KeyID != starterKID || e.Code != "api_not_in_plan" || e.Route != server.NoRoute {
		t.Errorf("the starter organisation's log: %+v", e)
	}

	// An address that keeps failing is throttled on any path.
	const attacker = "203.0.113.66"
	throttled := false
	for i := 0; i <= server.DefaultAuthFailures && !throttled; i++ {
		resp := sendAuth("GET", "/api/v2/x", "Bearer "+snapglyph.GenerateKey(), attacker)
		if resp.StatusCode == 429 {
			expectProblem(t, resp, 429, "authentication_throttled")
			throttled = true
		} else {
			expectProblem(t, resp, 401, "invalid_api_key")
		}
	}
	if !throttled {
		t.Errorf("%d unknown keys on unknown paths from one address were not throttled", server.DefaultAuthFailures+1)
	}

	// A CORS preflight is refused as before, whatever it carries; the
	// document is public.
	req, _ := http.NewRequest("OPTIONS", h.srv.URL+"/api/v1/nope", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "GET")
	req.Header.Set("Authorization", "Bearer "+snapglyph.GenerateKey())
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	expectProblem(t, resp, 403, "cors_not_allowed")
	if resp := sendAuth("GET", "/api/v1/openapi.json", "Bearer qr_live_short", "192.0.2.1"); drain(resp) != 200 {
		t.Errorf("the document with a malformed key: %d", resp.StatusCode)
	}
	// The public document's other methods are 405 whatever the key, as
	// its operation declares (no 401).
	if resp := sendAuth("PUT", "/api/v1/openapi.json", "Bearer qr_live_short", "192.0.2.1"); drain(resp) != 405 {
		t.Errorf("PUT on the document with a malformed key: %d, want 405", resp.StatusCode)
	}
}

// TestAPIPathsAreNotCleaned: a path under /api/ with an empty segment,
// "." or ".." is answered 404 as a problem, not redirected (a client
// following the redirect would send its key on); its key is checked and
// the request logged as any other. The dashboard keeps the mux's
// redirect.
func TestAPIPathsAreNotCleaned(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), lbConfig())
	revoked := h.keyWith(service.KeySpec{})
	if _, err := h.cli.RevokeKey(context.Background(), snapglyph.Operator, revoked.ID); err != nil {
		t.Fatal(err)
	}
	callsBefore, _ := h.credits()
	want := map[string]string{} // request id → code
	for _, target := range []string{"/api/v1//qr-codes", "/api/v1/qr-codes/x/../qr_abc", "/api/v1/./usage", "//api/v1/usage", "/api/../api/v1/usage",
		// Escaped: dot segments and slashes once decoded.
		"/api/v1/qr-codes/%2e%2e/usage", "/api/v1/usage/%2e", "/api/v1%2F%2Fqr-codes"} {
		for _, c := range []struct {
			auth, code string
			status     int
		}{{"", "not_found", 404}, {"Authorization: Bearer " + h.key, "not_found", 404}, {"Authorization: Bearer " + revoked.Secret, "api_key_revoked", 401}} {
			var headers []string
			if c.auth != "" {
				headers = append(headers, c.auth)
			}
			resp := h.raw("GET", target, headers...)
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("GET %s: redirected to %s", target, loc)
			}
			id := resp.Header.Get("X-Request-Id")
			p := expectProblem(t, resp, c.status, c.code)
			if c.status == 404 && !strings.Contains(p["detail"].(string), "..") {
				t.Errorf("GET %s: the detail does not say why: %v", target, p["detail"])
			}
			if c.auth != "" {
				want[id] = c.code
			}
		}
	}
	if err := h.node.RequestLog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range logOf(t, h.cli, h.org.ID, len(want)) {
		if code, ok := want[e.RequestID]; !ok || e.Code != code || e.Route != server.NoRoute || e.Calls != 0 {
			t.Errorf("logged %s %s %d %q, want code %q", e.KeyID, e.Route, e.Status, e.Code, code)
		}
	}
	if calls, _ := h.credits(); calls != callsBefore {
		t.Errorf("these answers cost %d API calls", calls-callsBefore)
	}

	// /api itself is no endpoint either: a 404, not the mux's redirect to /api/.
	for _, c := range []struct {
		auth, code string
		status     int
	}{{"", "not_found", 404}, {"Authorization: Bearer " + revoked.Secret, "api_key_revoked", 401}} {
		var headers []string
		if c.auth != "" {
			headers = append(headers, c.auth)
		}
		resp := h.raw("GET", "/api", headers...)
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("GET /api: redirected to %s", loc)
		}
		expectProblem(t, resp, c.status, c.code)
	}

	// A CONNECT is answered as any other method: its Allow is the path's.
	if resp := h.raw("CONNECT", "/api/v1//qr-codes", "Authorization: Bearer "+h.key); resp.StatusCode != 404 || resp.Header.Get("Allow") != "" {
		t.Errorf("CONNECT at an unclean path: %d, Allow %q; want 404 without Allow", resp.StatusCode, resp.Header.Get("Allow"))
	} else {
		resp.Body.Close()
	}

	// A key in an unclean path is not echoed.
	key := snapglyph.GenerateKey()
	resp := h.raw("GET", "/api/v1//qr-codes/"+key, "Authorization: Bearer "+h.key)
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != 404 || strings.Contains(string(body), key[8:]) {
		t.Errorf("a key in an unclean path: %d %s", resp.StatusCode, body)
	}
	resp.Body.Close()

	// The dashboard's paths are redirected as before.
	for _, target := range []string{"/x/../login", "//login"} {
		resp := h.raw("GET", target)
		drain(resp)
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s: %d to %q, want the mux's 307 to /login", target, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestNoRouteHostilePaths: a path of bytes that are not UTF-8, a NUL, or
// the longest URL accepted is logged as the fixed route, never as sent;
// its problem and log line stay short and valid UTF-8. A URL beyond the
// limit is 414 before any routing, its key checked first (a revoked key
// is told so) and in the request log as well.
func TestNoRouteHostilePaths(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), lbConfig())
	revoked := h.keyWith(service.KeySpec{})
	if _, err := h.cli.RevokeKey(context.Background(), snapglyph.Operator, revoked.ID); err != nil {
		t.Fatal(err)
	}
	atLimit := "/api/v1/" + strings.Repeat("%FF", (server.MaxURILength-len("/api/v1/"))/3)
	logged := map[string]bool{}
	for _, c := range []struct {
		target          string
		revoked, active int // the status with each key
	}{
		{"/api/v1/%FF%FE%C3", 401, 404},
		{"/api/v1/a%00b", 401, 404},
		{"/api/v1/qr-codes/%00/x", 401, 404},
		{"/api/%E2%80%AE" + strings.Repeat("%C3%A9", 10), 401, 404},
		{atLimit, 401, 404},
		{"/api/v1/" + strings.Repeat("a", 20<<10), 401, 414},
		{"/api/v1/usage?q=" + strings.Repeat("a", 20<<10), 401, 414},
	} {
		for _, auth := range []string{revoked.Secret, h.key} {
			resp := h.raw("PUT", c.target, "Authorization: Bearer "+auth)
			id := resp.Header.Get("X-Request-Id")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			status := c.revoked
			if auth == h.key {
				status = c.active
			}
			if resp.StatusCode != status || len(body) > 1000 || !utf8.Valid(body) {
				t.Errorf("PUT %.40s…: %d (want %d), %d-byte body %.200q", c.target, resp.StatusCode, status, len(body), body)
			}
			if line := h.logLine(id); len(line) > 800 || !utf8.ValidString(line) {
				t.Errorf("PUT %.40s…: log line of %d bytes %.200q", c.target, len(line), line)
			}
			logged[id] = true
		}
	}
	if err := h.node.RequestLog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	tooLong := 0
	for _, e := range logOf(t, h.cli, h.org.ID, len(logged)) {
		if !logged[e.RequestID] || e.Route != server.NoRoute || e.ResourceID != "" || !utf8.ValidString(e.Method+e.Route+e.Code) {
			t.Errorf("logged %q %q %q %q", e.Method, e.Route, e.ResourceID, e.Code)
		}
		if e.Status == 414 && e.Code == "uri_too_long" && e.Calls == 0 {
			tooLong++
		}
	}
	if tooLong != 2 {
		t.Errorf("%d entries of 414 uri_too_long costing nothing, want 2", tooLong)
	}
}
