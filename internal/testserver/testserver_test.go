package testserver_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// TestStart: one listener on 127.0.0.1 serves the API (a key made through
// the node's service works) and the dashboard, the database runs on the
// server's clock, and the server is gone when the test that started it
// ends.
func TestStart(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		var base string
		t.Run("serve", func(t *testing.T) {
			s := testserver.Start(t, db, node.Config{})
			base = s.URL
			if u, err := url.Parse(s.URL); err != nil || u.Hostname() != "127.0.0.1" {
				t.Fatalf("URL %q, want one on 127.0.0.1", s.URL)
			}
			ctx := t.Context()
			org, _, err := s.Node.Service.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "trial"})
			if err != nil {
				t.Fatal(err)
			}
			if want := testserver.Epoch.Add(snapglyph.TrialLength); !org.TrialEndsAt.Equal(want) {
				t.Errorf("trial ends at %v, want %v (the server's clock)", org.TrialEndsAt, want)
			}
			s.Clock.Set(testserver.Epoch.Add(snapglyph.TrialLength + 1))
			if now := db.Now(); !now.Equal(testserver.Epoch.Add(snapglyph.TrialLength + 1)) {
				t.Errorf("the database's clock reads %v after Clock.Set", now)
			}
			s.Clock.Set(testserver.Epoch)
			k, err := s.Node.Service.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
			if err != nil {
				t.Fatal(err)
			}
			if status, body := get(t, s.URL+"/api/v1/usage", k.Secret); status != http.StatusOK || !strings.Contains(body, `"apiCalls"`) {
				t.Errorf("GET /api/v1/usage: %d %s", status, body)
			}
			if status, body := get(t, s.URL+"/api/v1/usage", ""); status != http.StatusUnauthorized {
				t.Errorf("GET /api/v1/usage without a key: %d %s", status, body)
			}
			if status, body := get(t, s.URL+"/signin", ""); status != http.StatusOK || !strings.Contains(body, `name="password"`) {
				t.Errorf("GET /signin: %d %.300s", status, body)
			}
			if status, body := get(t, s.URL+"/readyz", ""); status != http.StatusOK {
				t.Errorf("GET /readyz: %d %s", status, body)
			}
		})
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			t.Errorf("the server still answers (%d) after its test ended", resp.StatusCode)
		}
	})
}

func get(t *testing.T, u, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
