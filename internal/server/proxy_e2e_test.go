package server_test

import (
	"context"
	"net/http"
	"net/netip"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestLastUsedBehindLoadBalancer: behind a trusted load balancer, a key's
// last use shows the client's address, not the balancer's.
func TestLastUsedBehindLoadBalancer(t *testing.T) {
	lb := netip.MustParsePrefix("127.0.0.0/8")
	h := newHarness(t, testdb.Open(t, "sqlite"), node.Config{TrustedProxies: []netip.Prefix{lb}})
	req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	expectOK(t, resp)
	h.node.Recorder.Flush(context.Background())
	k, err := h.db.Key(context.Background(), h.kid)
	if err != nil || k.LastUsedIP != "203.0.113.7" {
		t.Fatalf("last used from %q (%v), want the client 203.0.113.7", k.LastUsedIP, err)
	}
}
