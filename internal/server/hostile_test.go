package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// hostileAgents are user agents a client can send: bytes that are not
// UTF-8, a truncated sequence, and 300 bytes of three-byte characters
// (cut at 256 bytes, which falls inside a character).
var hostileAgents = []string{
	"evil-sdk/1.0 \xff\xfe",
	"agent\xc3",
	strings.Repeat("漢", 100),
	"mixed \xe6\xbc 漢字 \x80\x81",
}

// TestHostileUserAgentDoesNotStopUsage: one organisation's requests with
// hostile user agents, next to another organisation's ordinary traffic,
// on both stores. After a flush, both organisations' stored usage, per-key
// usage and last use are exact (counted independently from the answers),
// nothing was dropped, and every later flush works.
func TestHostileUserAgentDoesNotStopUsage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		otherOrg, otherKey, otherKID := h.newOrgKey("pro")
		const perOrg = 120
		var mu sync.Mutex
		ok := map[string]int64{}
		var wg sync.WaitGroup
		send := func(key, ua string) {
			defer wg.Done()
			req, _ := http.NewRequest("GET", h.srv.URL+"/api/v1/usage", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("User-Agent", ua)
			resp, err := h.srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				ok[key]++
				mu.Unlock()
			}
		}
		sem := make(chan struct{}, 8)
		for i := range perOrg {
			wg.Add(2)
			sem <- struct{}{}
			go func() { defer func() { <-sem }(); send(h.key, hostileAgents[i%len(hostileAgents)]) }()
			sem <- struct{}{}
			go func() { defer func() { <-sem }(); send(otherKey, "acme-sdk/1.0") }()
			if i%40 == 39 {
				wg.Wait()
				if err := h.node.Recorder.Flush(context.Background()); err != nil {
					t.Fatalf("flush during traffic: %v", err)
				}
			}
		}
		wg.Wait()
		if err := h.node.Recorder.Flush(context.Background()); err != nil {
			t.Fatalf("flush: %v", err)
		}
		if ok[h.key] != perOrg || ok[otherKey] != perOrg {
			t.Fatalf("answered %d and %d of %d requests", ok[h.key], ok[otherKey], perOrg)
		}
		ctx := context.Background()
		for _, c := range []struct{ kid, orgID string }{{h.kid, h.org.ID}, {otherKID, otherOrg.ID}} {
			u, err := h.db.Usage(ctx, c.orgID, "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			k, err := h.db.KeyUsage(ctx, c.kid, "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			if u.Used.APICalls != perOrg || k.APICalls != perOrg {
				t.Errorf("key %s: stored %d calls for the organisation and %d for the key, want %d", c.kid, u.Used.APICalls, k.APICalls, perOrg)
			}
			key, err := h.db.Key(ctx, c.kid)
			if err != nil {
				t.Fatal(err)
			}
			if !key.LastUsedAt.Equal(start) || key.LastUsedIP != "127.0.0.1" {
				t.Errorf("key %s: last used %v from %q", c.kid, key.LastUsedAt, key.LastUsedIP)
			}
			if ua := key.LastUsedUA; !utf8.ValidString(ua) || strings.IndexByte(ua, 0) >= 0 || len(ua) > 256 || ua == "" {
				t.Errorf("key %s: stored user agent %q", c.kid, ua)
			}
		}
		if n := h.node.Recorder.RowsDropped.Load(); n != 0 {
			t.Errorf("%d rows dropped; the user agents should have been made storable", n)
		}
		if strings.Contains(h.logs.String(), "level=ERROR") || strings.Contains(h.logs.String(), "level=WARN") {
			t.Errorf("errors logged:\n%s", h.logs.String())
		}
	})
}
