package server_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// verifications reads snapglyph_key_verifications_total from the node's
// /metrics text, by outcome.
func (h *harness) verifications() map[string]float64 {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	const prefix = `snapglyph_key_verifications_total{outcome="`
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		outcome, value, ok := strings.Cut(rest, `"} `)
		if !ok {
			h.t.Fatalf("unexpected sample %q", line)
		}
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			h.t.Fatalf("sample %q: %v", line, err)
		}
		out[outcome] = n
	}
	return out
}

// TestKeyVerificationsCountEachRequestOnce: every API request that names
// a key counts once in snapglyph_key_verifications_total, with its final
// outcome: a request whose key is revoked or paused while its body
// arrives counts as revoked or paused, not valid too; one whose key
// passes the check after its body, or whose plan loses the API then,
// counts valid once. The deltas of every outcome are held against what
// the test sent.
func TestKeyVerificationsCountEachRequestOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		const good = `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`
		const malformed = `{"name":"Menu","type":"url",,}`
		newKey := func(orgID string) *service.NewKey {
			k, err := h.cli.CreateKey(ctx, snapglyph.Operator, orgID, "Key-"+snapglyph.NewID("n"))
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		usageOnly, _ := snapglyph.ParseScopes("usage:read")
		restricted := h.keyWith(service.KeySpec{Scopes: usageOnly})
		elsewhere := h.keyWith(service.KeySpec{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}})
		paused, revoked := newKey(h.org.ID), newKey(h.org.ID)
		if _, err := h.cli.PauseKey(ctx, snapglyph.Operator, paused.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := h.cli.RevokeKey(ctx, snapglyph.Operator, revoked.ID); err != nil {
			t.Fatal(err)
		}
		unknown := snapglyph.GenerateKey()
		// A second organisation, whose plan loses the API mid-body.
		other, _, err := h.cli.CreateOrg(ctx, service.NewOrg{Name: "Other", OwnerEmail: "owner@other.test", Plan: "pro"})
		if err != nil {
			t.Fatal(err)
		}

		before := h.verifications()
		want := map[string]float64{}
		expect := func(what string, resp *http.Response, status int, outcome string) {
			t.Helper()
			if got := drain(resp); got != status {
				t.Errorf("%s: status %d, want %d", what, got, status)
			}
			want[outcome]++
		}
		// piped sends a body in two pieces, doing between them what
		// between does (nil: nothing).
		piped := func(key, body string, between func()) *http.Response {
			t.Helper()
			p := h.beginPiped("POST", "/api/v1/qr-codes", key, len(body), body[:len(body)/2])
			if between != nil {
				between()
			}
			return p.finish(body[len(body)/2:])
		}

		for range 3 {
			expect("valid GET", h.get("/api/v1/usage", h.key), 200, "valid")
		}
		for range 2 {
			expect("valid POST", h.send("POST", "/api/v1/qr-codes", h.key, good), 201, "valid")
		}
		expect("valid POST, malformed body", h.send("POST", "/api/v1/qr-codes", h.key, malformed), 400, "valid")
		expect("valid POST, slow body", piped(h.key, good, nil), 201, "valid")
		expect("valid POST, slow malformed body", piped(h.key, malformed, nil), 400, "valid")
		for _, body := range []string{good, malformed} {
			k := newKey(h.org.ID)
			expect("POST revoked mid-body", piped(k.Secret, body, func() {
				if _, err := h.cli.RevokeKey(ctx, snapglyph.Operator, k.ID); err != nil {
					t.Fatal(err)
				}
			}), 401, "revoked")
		}
		k := newKey(h.org.ID)
		expect("POST paused mid-body", piped(k.Secret, good, func() {
			if _, err := h.cli.PauseKey(ctx, snapglyph.Operator, k.ID); err != nil {
				t.Fatal(err)
			}
		}), 401, "paused")
		k = newKey(other.ID)
		expect("POST whose plan lost the API mid-body", piped(k.Secret, good, func() {
			if err := h.cli.SetPlan(ctx, snapglyph.Operator, other.ID, "starter"); err != nil {
				t.Fatal(err)
			}
		}), 403, "valid") // the key is valid; the plan refuses it
		for range 2 {
			expect("unknown key", h.get("/api/v1/usage", unknown), 401, "unknown")
		}
		expect("malformed key", h.get("/api/v1/usage", h.key[:20]), 401, "malformed")
		expect("no key", h.get("/api/v1/usage", ""), 401, "missing")
		for range 2 {
			expect("paused key", h.get("/api/v1/usage", paused.Secret), 401, "paused")
		}
		expect("revoked key", h.send("POST", "/api/v1/qr-codes", revoked.Secret, good), 401, "revoked")
		expect("insufficient scope, POST", h.send("POST", "/api/v1/qr-codes", restricted.Secret, good), 403, "insufficient_scope")
		expect("insufficient scope, GET", h.get("/api/v1/qr-codes", restricted.Secret), 403, "insufficient_scope")
		expect("address not allowed", h.get("/api/v1/usage", elsewhere.Secret), 403, "ip_not_allowed")
		expect("valid key, URL too long", h.get("/api/v1/usage?x="+strings.Repeat("a", server.MaxURILength), h.key), 414, "valid")

		after := h.verifications()
		for outcome := range after {
			if _, ok := want[outcome]; !ok {
				want[outcome] = 0
			}
		}
		for outcome, n := range want {
			if got := after[outcome] - before[outcome]; got != n {
				t.Errorf("verifications with outcome %s grew by %v, want %v (one per request sent)", outcome, got, n)
			}
		}
	})
}

// TestKeyVerificationsCountPanickingRequest: a request whose handler
// panics (a bug; net/http recovers it) still counts once, as valid: its
// key passed.
func TestKeyVerificationsCountPanickingRequest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		srv := httptest.NewUnstartedServer(h.node.Server.PanickingAPI())
		srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the recovered panic's trace
		srv.Start()
		defer srv.Close()
		usedCalls := func() float64 {
			u := readJSON(t, h.get("/api/v1/usage", h.key), 200)
			return u["apiCalls"].(map[string]any)["used"].(float64)
		}
		used0 := usedCalls()
		before := h.verifications()
		req, err := http.NewRequest("GET", srv.URL+"/api/v1/usage", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+h.key)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		after := h.verifications()
		if got := after["valid"] - before["valid"]; got != 1 {
			t.Errorf("valid grew by %v, want 1", got)
		}
		for k, v := range after {
			if k != "valid" && v != before[k] {
				t.Errorf("%s grew by %v, want 0", k, v-before[k])
			}
		}
		// The panicked request's call is given back, as a 5xx's: not
		// spent, and not counted as running (the next usage request
		// reports one call more, its own).
		if used := usedCalls(); used != used0+1 {
			t.Errorf("calls used %v after the panicked request, want %v", used, used0+1)
		}
	})
}
