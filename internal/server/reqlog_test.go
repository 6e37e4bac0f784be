package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// sent is one request as the test made it, to compare with its entry.
type sent struct {
	id, method, route, resource, code, ip, ua string
	status                                    int
	calls, credits                            int64
	flags                                     snapglyph.RequestLogFlags
}

// call makes a request from ip (through the trusted load balancer) and
// returns what the log should say of it.
func (h *harness) call(method, path, key, ip, ua, body string) (*http.Response, sent) {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, h.srv.URL+path, r)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("X-Forwarded-For", ip)
	req.Header.Set("User-Agent", ua)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, sent{id: resp.Header.Get("X-Request-Id"), method: method, ip: ip, ua: ua, status: resp.StatusCode}
}

// logOf reads the organisation's whole request log through the service,
// as the dashboard and the CLI do, once it holds want entries.
func logOf(t *testing.T, svc *service.Service, orgID string, want int) []snapglyph.RequestLogEntry {
	t.Helper()
	var got []snapglyph.RequestLogEntry
	eventually(t, 10*time.Second, func() error {
		got = got[:0]
		err := svc.ExportRequestLog(context.Background(), snapglyph.Operator, orgID, service.LogQuery{}, func(e *snapglyph.RequestLogEntry) error {
			got = append(got, *e)
			return nil
		})
		if err != nil {
			return err
		}
		if len(got) != want {
			return fmt.Errorf("%d entries in the log, want %d", len(got), want)
		}
		return nil
	})
	return got
}

// TestRequestLogRecordsEveryKeyedRequest: every request that names a key
// of the organisation is in its log with what the client saw (request id,
// status, code) and what it was charged, refused requests included
// (paused, revoked, plan without API, spent allowance); requests with no
// key or an unknown key are in no organisation's log but in /metrics.
func TestRequestLogRecordsEveryKeyedRequest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		ctx := context.Background()
		var want []sent
		do := func(method, path, key, ip, body string, s sent) *http.Response {
			t.Helper()
			resp, got := h.call(method, path, key, ip, "acme-sdk/2.1 (+https://acme.test)", body)
			got.route, got.resource, got.code, got.calls, got.credits, got.flags = s.route, s.resource, s.code, s.calls, s.credits, s.flags
			if got.status != s.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("%s %s: status %d, want %d: %s", method, path, got.status, s.status, b)
			}
			want = append(want, got)
			return resp
		}
		const ip1, ip2 = "192.0.2.10", "198.51.100.20"
		do("GET", "/api/v1/usage", h.key, ip1, "", sent{route: "/api/v1/usage", status: 200, calls: 1}).Body.Close()
		created := readJSON(t, do("POST", "/api/v1/qr-codes", h.key, ip1, `{"name":"Menu","type":"url","content":{"url":"https://example.com/m"}}`,
			sent{route: "/api/v1/qr-codes", status: 201, calls: 1}), 201)
		id := created["id"].(string)
		do("GET", "/api/v1/qr-codes/"+id+"?format=png&size=256", h.key, ip1, "", sent{route: "/api/v1/qr-codes/{id}", resource: id, status: 200, calls: 1, credits: 10}).Body.Close()
		do("GET", "/api/v1/qr-codes/"+id+"?format=svg", h.key, ip2, "", sent{route: "/api/v1/qr-codes/{id}", resource: id, status: 200, calls: 1, credits: 1, flags: snapglyph.FlagNewIP}).Body.Close()
		do("GET", "/api/v1/qr-codes/qr_nope", h.key, ip1, "", sent{route: "/api/v1/qr-codes/{id}", resource: "qr_nope", status: 404, code: "not_found", calls: 1}).Body.Close()
		do("DELETE", "/api/v1/qr-codes/"+id, h.key, ip1, "", sent{route: "/api/v1/qr-codes/{id}", resource: id, status: 204, calls: 1}).Body.Close()
		do("PATCH", "/api/v1/qr-codes/"+id, h.key, ip1, `{"name":"x"}`, sent{route: "/api/v1/qr-codes/{id}", resource: id, status: 404, code: "not_found", calls: 1}).Body.Close()
		do("GET", "/api/v1/qr-codes?limit=500", h.key, ip1, "", sent{route: "/api/v1/qr-codes", status: 400, code: "invalid_request", calls: 1}).Body.Close()

		// Requests that name no organisation's key are not logged.
		unknownBefore := h.metric(`snapglyph_key_verifications_total{outcome="unknown"}`)
		for _, key := range []string{snapglyph.GenerateKey(), "qr_live_short", ""} {
			resp, _ := h.call("GET", "/api/v1/usage", key, ip1, "x", "")
			resp.Body.Close()
		}
		if got := h.metric(`snapglyph_key_verifications_total{outcome="unknown"}`); got != unknownBefore+1 {
			t.Errorf("unknown keys counted %v times in /metrics, want %v", got, unknownBefore+1)
		}

		// Refused: the allowance spent, the plan without API, the key
		// paused, then revoked.
		zero := int64(0)
		if err := h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &zero, nil); err != nil {
			t.Fatal(err)
		}
		do("GET", "/api/v1/usage", h.key, ip1, "", sent{route: "/api/v1/usage", status: 429, code: "api_call_limit_reached"}).Body.Close()
		if err := h.cli.SetPlan(ctx, snapglyph.Operator, h.org.ID, "starter"); err != nil {
			t.Fatal(err)
		}
		do("GET", "/api/v1/usage", h.key, ip1, "", sent{route: "/api/v1/usage", status: 403, code: "api_not_in_plan"}).Body.Close()
		if err := h.cli.SetPlan(ctx, snapglyph.Operator, h.org.ID, "pro"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.cli.PauseKey(ctx, snapglyph.Operator, h.kid); err != nil {
			t.Fatal(err)
		}
		do("GET", "/api/v1/usage", h.key, ip1, "", sent{route: "/api/v1/usage", status: 401, code: "api_key_paused", flags: snapglyph.FlagInactiveKey}).Body.Close()
		if _, err := h.cli.RevokeKey(ctx, snapglyph.Operator, h.kid); err != nil {
			t.Fatal(err)
		}
		do("HEAD", "/api/v1/qr-codes/"+id, h.key, "203.0.113.99", "", sent{route: "/api/v1/qr-codes/{id}", resource: id, status: 401, code: "api_key_revoked",
			flags: snapglyph.FlagInactiveKey | snapglyph.FlagNewIP}).Body.Close()

		got := logOf(t, h.cli, h.org.ID, len(want))
		byID := map[string]snapglyph.RequestLogEntry{}
		for _, e := range got {
			byID[e.RequestID] = e
		}
		var calls, credits int64
		for _, w := range want {
			e, ok := byID[w.id]
			if !ok {
				t.Errorf("%s %s (%d) is not in the log", w.method, w.route, w.status)
				continue
			}
			calls, credits = calls+e.Calls, credits+e.Credits
			if e.Method != w.method || e.Route != w.route || e.ResourceID != w.resource || e.Status != w.status || e.Code != w.code ||
				e.IP != w.ip || e.UserAgent != w.ua || e.Calls != w.calls || e.Credits != w.credits || e.Flags != w.flags ||
				e.KeyID != h.kid || e.OrgID != h.org.ID || !strings.HasPrefix(e.KeyPrefix, "qr_live_") || !e.At.Equal(start) || e.Duration <= 0 {
				t.Errorf("logged %+v\nwant %+v", e, w)
			}
		}
		// The log's charges add up to what the organisation was charged.
		h.node.Recorder.Flush(ctx)
		u, err := db.Usage(ctx, h.org.ID, "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		if calls != u.Used.APICalls || credits != u.Used.ImageCredits {
			t.Errorf("the log charges %d calls and %d credits, the meter %d and %d", calls, credits, u.Used.APICalls, u.Used.ImageCredits)
		}
		if w := h.metric("snapglyph_request_log_written_total"); w != float64(len(want)) {
			t.Errorf("snapglyph_request_log_written_total %v, want %d", w, len(want))
		}
	})
}

// TestRequestLogOff: with the request log turned off nothing is recorded
// and requests are served as before.
func TestRequestLogOff(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	h := newHarness(t, db, node.Config{NoRequestLog: true})
	expectOK(t, h.get("/api/v1/usage", h.key))
	if h.node.RequestLog != nil {
		t.Fatal("the node has a request log writer")
	}
	h.node.Close()
	n := 0
	db.RequestLog(context.Background(), h.org.ID, snapglyph.RequestLogFilter{}, time.Time{}, func(*snapglyph.RequestLogEntry) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d entries recorded with the log off", n)
	}
}

// TestLogEndpointsAreTheAPIRoutes: the endpoints the log's filter offers
// are exactly the authenticated API routes.
func TestLogEndpointsAreTheAPIRoutes(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	h := newHarness(t, db, node.Config{})
	var routes []string
	for _, r := range h.node.Server.APIRoutes() {
		if r != "GET /api/v1/openapi.json" {
			routes = append(routes, r)
		}
	}
	want := slices.Clone(service.LogEndpoints)
	slices.Sort(routes)
	slices.Sort(want)
	if !slices.Equal(routes, want) {
		t.Fatalf("API routes %v, the log's endpoints %v", routes, want)
	}
}

// BenchmarkRequestLog is the request log's cost on the request path: the
// authenticated usage endpoint on a node with the request log (as
// shipped) and on one without, side by side, in process. The node with
// the log also writes it to SQLite in the background meanwhile.
func BenchmarkRequestLog(b *testing.B) {
	for _, c := range []struct {
		name string
		off  bool
	}{{"on", false}, {"off", true}} {
		db := testdb.Open(b, "sqlite")
		ctx := context.Background()
		n, err := node.New(ctx, db.DB, node.Config{LogRequests: true, LeaseBlock: 1 << 20, NoRequestLog: c.off}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			b.Fatal(err)
		}
		n.Start()
		org, _, err := n.Service.CreateOrg(ctx, service.NewOrg{Name: "Bench", OwnerEmail: "b@bench.test", Plan: "max"})
		if err != nil {
			b.Fatal(err)
		}
		big := int64(1e12)
		n.Service.SetLimits(ctx, snapglyph.Operator, org.ID, &big, &big)
		k, err := n.Service.CreateKey(ctx, snapglyph.Operator, org.ID, "Bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest("GET", "/api/v1/usage", nil)
				req.Header.Set("Authorization", "Bearer "+k.Secret)
				req.Header.Set("User-Agent", "acme-sdk/2.1")
				for pb.Next() {
					w := httptest.NewRecorder()
					n.Handler().ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
		n.Close()
	}
}

// TestRequestLogHoldsNoKey: a key a client puts in the path or the user
// agent (its own or another, plainly or within other letters) is cut in
// the log and in the key's "last used", and no full key is in their tables.
func TestRequestLogHoldsNoKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		other := snapglyph.GenerateKey()
		resp, s := h.call("GET", "/api/v1/qr-codes/"+other, h.key, "192.0.2.1", "tool/1 key="+h.key, "")
		resp.Body.Close()
		got := logOf(t, h.cli, h.org.ID, 1)[0]
		if got.RequestID != s.id || got.ResourceID != other[:12]+"…" || got.UserAgent != "tool/1 key="+h.key[:12]+"…" {
			t.Fatalf("logged resource %q, user agent %q", got.ResourceID, got.UserAgent)
		}
		// Disguised: a key's body within a longer run, after a
		// percent-encoded prefix.
		bare := strings.TrimPrefix(other, snapglyph.KeyPrefix)
		resp, s = h.call("GET", "/api/v1/qr-codes/x"+bare, h.key, "192.0.2.1", "curl/8 qr%5Flive%5F"+strings.TrimPrefix(h.key, snapglyph.KeyPrefix), "")
		resp.Body.Close()
		for _, e := range logOf(t, h.cli, h.org.ID, 2) {
			if e.RequestID == s.id {
				got = e
			}
		}
		if got.RequestID != s.id || got.ResourceID != "…" || got.UserAgent != "curl/8 qr%5Flive%…" {
			t.Fatalf("logged resource %q, user agent %q", got.ResourceID, got.UserAgent)
		}
		// The key's "last used" keeps the user agent cut the same way.
		h.node.Recorder.Flush(context.Background())
		keys, err := h.cli.Keys(context.Background(), snapglyph.Operator, h.org.ID, false)
		if err != nil || len(keys) != 1 || keys[0].LastUsedUA != "curl/8 qr%5Flive%…" {
			t.Fatalf("last used user agent: %v, %v", keys, err)
		}
		for _, secret := range []string{h.key, other} {
			var n int
			if err := db.SQL().QueryRow(`SELECT (SELECT COUNT(*) FROM request_log WHERE resource_id LIKE '%' || $1 || '%' OR user_agent LIKE '%' || $1 || '%')
				+ (SELECT COUNT(*) FROM api_keys WHERE last_used_ua LIKE '%' || $1 || '%')`,
				strings.TrimPrefix(secret, snapglyph.KeyPrefix)[10:]).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatal("a key is in the request log or a key's last use")
			}
		}
	})
}

// TestRequestLogRecordsLifecycleRefusals: requests refused because the key
// expired, comes from an address its allowlist does not hold, or lacks the
// permission are in the organisation's log with their codes; the expired
// key's is suspicious.
func TestRequestLogRecordsLifecycleRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, lbConfig())
		ctx := context.Background()
		usageOnly, err := h.cli.CreateKeyWith(ctx, snapglyph.Operator, h.org.ID, service.KeySpec{Name: "Usage-Reader",
			Scopes: snapglyph.Scopes(snapglyph.ScopeUsageRead), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
		if err != nil {
			t.Fatal(err)
		}
		expiring, err := h.cli.CreateKeyWith(ctx, snapglyph.Operator, h.org.ID, service.KeySpec{Name: "Short-Lived", ExpiresIn: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		do := func(path, key, ip string, status int, code string) {
			t.Helper()
			resp, s := h.call("GET", path, key, ip, "x", "")
			resp.Body.Close()
			if s.status != status {
				t.Fatalf("GET %s from %s: %d, want %d", path, ip, s.status, status)
			}
			want[s.id] = code
		}
		do("/api/v1/usage", usageOnly.Secret, "192.0.2.9", 200, "")
		do("/api/v1/usage", usageOnly.Secret, "198.51.100.9", 403, "ip_not_allowed")
		do("/api/v1/qr-codes", usageOnly.Secret, "192.0.2.9", 403, "insufficient_scope")
		h.clock.Set(h.clock.Now().Add(2 * time.Hour))
		do("/api/v1/usage", expiring.Secret, "192.0.2.9", 401, "api_key_expired")
		for _, e := range logOf(t, h.cli, h.org.ID, len(want)) {
			code, ok := want[e.RequestID]
			if !ok || e.Code != code {
				t.Errorf("logged %s %s %d %q, want code %q", e.KeyID, e.Route, e.Status, e.Code, code)
			}
			if e.Code == "api_key_expired" && !e.Flags.Has(snapglyph.FlagInactiveKey) {
				t.Error("a request with an expired key is not marked suspicious")
			}
		}
	})
}
