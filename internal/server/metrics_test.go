package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

func TestMetrics(t *testing.T) {
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{})
	expectOK(t, h.get("/api/v1/usage", h.key))
	expectOK(t, h.get("/api/v1/usage", h.key))
	h.get("/api/v1/usage", "").Body.Close()
	typo := h.key[:39] + "x" // the last character changed: a failed checksum
	if typo == h.key {
		typo = h.key[:39] + "y"
	}
	h.get("/api/v1/usage", typo).Body.Close()
	resp, err := http.Get(h.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		`snapglyph_http_requests_total{route="GET /api/v1/usage",status="200"} 2`,
		`snapglyph_http_requests_total{route="GET /api/v1/usage",status="401"} 2`,
		`snapglyph_http_request_duration_seconds_count{route="GET /api/v1/usage"} 4`,
		`snapglyph_key_verifications_total{outcome="valid"} 2`,
		`snapglyph_key_verifications_total{outcome="missing"} 1`,
		`snapglyph_key_verifications_total{outcome="malformed"} 1`,
		"snapglyph_key_cache_hits_total 1",
		"snapglyph_key_cache_misses_total 1",
		"snapglyph_change_listener_up 1",
		"snapglyph_db_connections_open ",
		"snapglyph_usage_backlog ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(text, h.key[8:]) {
		t.Error("/metrics contains the key")
	}
}
