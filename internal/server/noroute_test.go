package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// Every request under /api/ gets a problem document: a wrong method is a
// 405 naming the methods that work, an unknown path a 404, a browser's
// CORS preflight a refusal that says why; none of them costs a call.
func TestAPIMethodsAndUnknownPaths(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	callsBefore, _ := h.credits()
	cases := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"PUT", "/api/v1/qr-codes/qr_x", 405, "method_not_allowed", "GET, HEAD, PATCH, DELETE, OPTIONS"},
		{"DELETE", "/api/v1/qr-codes", 405, "method_not_allowed", "GET, HEAD, POST, OPTIONS"},
		{"POST", "/api/v1/usage", 405, "method_not_allowed", "GET, HEAD, OPTIONS"},
		{"POST", "/api/v1/openapi.json", 405, "method_not_allowed", "GET, HEAD, OPTIONS"},
		{"GET", "/api/v1/nothing", 404, "not_found", ""},
		{"GET", "/api/v2/qr-codes", 404, "not_found", ""},
		{"POST", "/api/", 404, "not_found", ""},
	}
	for _, c := range cases {
		resp := h.send(c.method, c.path, h.key, "")
		p := expectProblem(t, resp, c.status, c.code)
		if got := resp.Header.Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
		if c.status == 405 && !strings.Contains(p["detail"].(string), strings.Split(c.allow, ", ")[0]) {
			t.Errorf("%s %s: the detail does not say what works: %v", c.method, c.path, p["detail"])
		}
	}

	// A CORS preflight is refused with a reason; a plain OPTIONS lists
	// the methods.
	req, _ := http.NewRequest("OPTIONS", h.srv.URL+"/api/v1/qr-codes", nil)
	req.Header.Set("Origin", "https://shop.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	p := expectProblem(t, resp, 403, "cors_not_allowed")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || !strings.Contains(p["detail"].(string), "server") {
		t.Errorf("preflight: %v %v", resp.Header, p)
	}
	req, _ = http.NewRequest("OPTIONS", h.srv.URL+"/api/v1/usage", nil)
	resp, err = h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Allow") != "GET, HEAD, OPTIONS" {
		t.Errorf("OPTIONS: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	// A huge unknown path is not echoed back whole.
	long := "/api/v2/" + strings.Repeat("é", 20000)
	resp = h.send("GET", long, h.key, "")
	p = expectProblem(t, resp, 404, "not_found")
	if d := p["detail"].(string); len(d) > 300 || !strings.Contains(d, "…") {
		t.Errorf("the detail echoes %d bytes of the path", len(d))
	}

	if calls, _ := h.credits(); calls != callsBefore {
		t.Errorf("these answers cost %d API calls", calls-callsBefore)
	}
}
