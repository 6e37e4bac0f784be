package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestAuthentication covers every row of DESIGN §4 and the mistakes the
// seed's troubleshooting list is about. Requests go to the handler
// directly so header values reach it exactly as written (a real client
// refuses to send some of them).
func TestAuthentication(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		key := h.key
		typo := []byte(key)
		typo[15] ^= 0x20 // flip the case of one letter (or change a digit)
		if typo[15] < 'A' {
			typo[15] = '0' + (typo[15]-'0'+1)%10
		}
		_, paused, pausedID := h.newOrgKey("pro")
		if _, err := h.cli.PauseKey(ctx, snapglyph.Operator, pausedID); err != nil {
			t.Fatal(err)
		}
		_, revoked, revokedID := h.newOrgKey("max")
		if _, err := h.cli.RevokeKey(ctx, snapglyph.Operator, revokedID); err != nil {
			t.Fatal(err)
		}
		starter, _, _ := h.newOrgKey("starter")
		_ = starter
		trialOrg, trialKey, _ := h.newOrgKey("trial")
		_ = trialOrg
		unknown := snapglyph.GenerateKey()

		tests := []struct {
			name   string
			header []string // Authorization values; nil = none
			other  map[string]string
			query  string
			status int
			code   string
			detail string // part of the detail
		}{
			{"valid", []string{"Bearer " + key}, nil, "", 200, "", ""},
			{"bearer lowercase", []string{"bearer " + key}, nil, "", 200, "", ""},
			{"BEARER uppercase", []string{"BEARER " + key}, nil, "", 200, "", ""},
			{"no header", nil, nil, "", 401, "missing_api_key", "Authorization: Bearer"},
			{"X-API-Key header", nil, map[string]string{"X-API-Key": key}, "", 401, "missing_api_key", "X-API-Key"},
			{"query parameter", nil, nil, "?api_key=" + key, 401, "missing_api_key", "URL"},
			{"Token scheme", []string{"Token " + key}, nil, "", 401, "malformed_authorization", "must be Bearer"},
			{"Basic scheme", []string{"Basic dXNlcjpwYXNz"}, nil, "", 401, "malformed_authorization", "must be Bearer"},
			{"no scheme", []string{key}, nil, "", 401, "malformed_authorization", "without the Bearer scheme"},
			{"Bearer alone", []string{"Bearer"}, nil, "", 401, "malformed_authorization", "no key"},
			{"two spaces", []string{"Bearer  " + key}, nil, "", 401, "malformed_authorization", "more than one space"},
			{"trailing space", []string{"Bearer " + key + " "}, nil, "", 401, "malformed_authorization", "spaces after the key"},
			{"newline", []string{"Bearer " + key + "\n"}, nil, "", 401, "malformed_authorization", "line break"},
			{"quotes", []string{`Bearer "` + key + `"`}, nil, "", 401, "malformed_authorization", "quotes"},
			{"two headers", []string{"Bearer " + key, "Bearer " + key}, nil, "", 401, "malformed_authorization", "exactly one"},
			{"39 characters", []string{"Bearer " + key[:39]}, nil, "", 401, "malformed_api_key", "this one has 39"},
			{"41 characters", []string{"Bearer " + key + "a"}, nil, "", 401, "malformed_api_key", "this one has 41"},
			{"one-character typo", []string{"Bearer " + string(typo)}, nil, "", 401, "malformed_api_key", "checksum"},
			{"qr_test_ key", []string{"Bearer qr_test_" + key[8:]}, nil, "", 401, "malformed_api_key", "qr_test_"},
			{"unknown key", []string{"Bearer " + unknown}, nil, "", 401, "invalid_api_key", "unknown"},
			{"paused", []string{"Bearer " + paused}, nil, "", 401, "api_key_paused", "resume it in API Settings"},
			{"revoked", []string{"Bearer " + revoked}, nil, "", 401, "api_key_revoked", "create a new key"},
			{"trial still running", []string{"Bearer " + trialKey}, nil, "", 200, "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := httptest.NewRequest("GET", "/api/v1/usage"+tt.query, nil)
				req.RemoteAddr = "192.0.2.10:5555"
				for _, v := range tt.header {
					req.Header.Add("Authorization", v)
				}
				for k, v := range tt.other {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				h.node.Handler().ServeHTTP(rec, req)
				resp := rec.Result()
				if tt.status == 200 {
					expectOK(t, resp)
					return
				}
				p := expectProblem(t, resp, tt.status, tt.code)
				detail, _ := p["detail"].(string)
				if !strings.Contains(detail, tt.detail) {
					t.Errorf("detail %q does not mention %q", detail, tt.detail)
				}
				// The key never comes back in an error.
				if strings.Contains(rec.Body.String(), key[8:]) || strings.Contains(rec.Body.String(), unknown[8:]) {
					t.Error("the error body contains the key")
				}
				if resp.Header.Get("X-RateLimit-Remaining") != "" {
					t.Error("a refused request carries usage headers")
				}
			})
		}

		t.Run("key in the URL beside the header", func(t *testing.T) {
			// Told that its key went into a URL, as without the header,
			// not only that the parameter is unknown. (Another
			// organisation: a 400 costs a call.)
			_, key, _ := h.newOrgKey("pro")
			for _, name := range []string{"api_key", "apiKey", "key", "access_token"} {
				req := httptest.NewRequest("GET", "/api/v1/usage?"+name+"="+key, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				rec := httptest.NewRecorder()
				h.node.Handler().ServeHTTP(rec, req)
				p := expectProblem(t, rec.Result(), 400, "invalid_request")
				errs, _ := p["errors"].([]any)
				if len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "revoke that key if it was a real one") {
					t.Errorf("?%s= beside the header: %v", name, p)
				}
				if strings.Contains(rec.Body.String(), key[8:]) {
					t.Errorf("?%s=: the error body contains the key", name)
				}
			}
		})
		t.Run("Starter plan", func(t *testing.T) {
			// A Starter organisation cannot create keys; one that moved
			// to Starter keeps its keys but cannot use them.
			org, k, _ := h.newOrgKey("pro")
			if err := h.cli.SetPlan(ctx, snapglyph.Operator, org.ID, "starter"); err != nil {
				t.Fatal(err)
			}
			p := expectProblem(t, h.get("/api/v1/usage", k), 403, "api_not_in_plan")
			if !strings.Contains(p["detail"].(string), "starter") {
				t.Errorf("detail %q does not name the plan", p["detail"])
			}
		})
		t.Run("trial expired", func(t *testing.T) {
			h.clock.Set(start.Add(snapglyph.TrialLength))
			defer h.clock.Set(start)
			p := expectProblem(t, h.get("/api/v1/usage", trialKey), 403, "api_not_in_plan")
			if !strings.Contains(p["detail"].(string), "trial ended") {
				t.Errorf("detail %q does not say the trial ended", p["detail"])
			}
		})
		t.Run("refusals cost nothing", func(t *testing.T) {
			h.node.Recorder.Flush(ctx)
			u, err := db.Usage(ctx, h.org.ID, "2026-11")
			if err != nil {
				t.Fatal(err)
			}
			// Three 200s above used h.key: valid, lowercase, uppercase.
			if u.Used.APICalls != 3 {
				t.Fatalf("API calls used = %d, want 3 (refused requests must not count)", u.Used.APICalls)
			}
		})
	})
}

// TestManagementTakesEffectAtOnce: pause, resume, revoke, plan and limit
// changes made by another process apply to the very next request.
func TestManagementTakesEffectAtOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		// Warm the cache: the key is now served from memory.
		for i := 0; i < 3; i++ {
			expectOK(t, h.get("/api/v1/usage", h.key))
		}
		steps := []struct {
			name   string
			do     func() error
			status int
			code   string
		}{
			{"pause", func() error { _, err := h.cli.PauseKey(ctx, snapglyph.Operator, h.kid); return err }, 401, "api_key_paused"},
			{"resume", func() error { _, err := h.cli.ResumeKey(ctx, snapglyph.Operator, h.kid); return err }, 200, ""},
			{"starter", func() error { return h.cli.SetPlan(ctx, snapglyph.Operator, h.org.ID, "starter") }, 403, "api_not_in_plan"},
			{"max", func() error { return h.cli.SetPlan(ctx, snapglyph.Operator, h.org.ID, "max") }, 200, ""},
			{"limit below usage", func() error {
				n := int64(2)
				return h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &n, nil)
			}, 429, "api_call_limit_reached"},
			{"limit raised", func() error {
				n := int64(1000)
				return h.cli.SetLimits(ctx, snapglyph.Operator, h.org.ID, &n, nil)
			}, 200, ""},
			{"revoke", func() error { _, err := h.cli.RevokeKey(ctx, snapglyph.Operator, h.kid); return err }, 401, "api_key_revoked"},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			resp := h.get("/api/v1/usage", h.key)
			if s.status == 200 {
				expectOK(t, resp)
			} else {
				expectProblem(t, resp, s.status, s.code)
			}
		}
		if _, err := h.cli.ResumeKey(ctx, snapglyph.Operator, h.kid); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Fatalf("resuming a revoked key: %v, want ECONFLICT", err)
		}
		expectProblem(t, h.get("/api/v1/usage", h.key), 401, "api_key_revoked")
	})
}

// TestUsageHeadersAndBody checks the headers of DESIGN §5 and the body of
// GET /api/v1/usage.
func TestUsageHeadersAndBody(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		var body map[string]any
		var resp *http.Response
		for i := 0; i < 5; i++ {
			resp = h.get("/api/v1/usage", h.key)
			body = expectOK(t, resp)
		}
		want := map[string]string{
			"X-RateLimit-Limit":         "1000",
			"X-RateLimit-Remaining":     "995",
			"X-RateLimit-Reset":         "1796083200", // 2026-12-01T00:00:00Z
			"X-Image-Credits-Limit":     "200",
			"X-Image-Credits-Remaining": "200",
			// The IETF fields: November's 30 days, 15.5 days left.
			"RateLimit-Policy": `"calls";q=1000;w=2592000`,
			"RateLimit":        `"calls";r=995;t=1339200`,
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
		calls := body["apiCalls"].(map[string]any)
		credits := body["imageCredits"].(map[string]any)
		if calls["used"] != 5.0 || calls["limit"] != 1000.0 || credits["used"] != 0.0 || credits["limit"] != 200.0 {
			t.Errorf("usage body %v", body)
		}
		if body["resetsAt"] != "2026-12-01T00:00:00Z" || body["period"] != "2026-11" {
			t.Errorf("resetsAt %v period %v", body["resetsAt"], body["period"])
		}
		if calls["remaining"] != 995.0 || credits["remaining"] != 200.0 {
			t.Errorf("remaining: %v", body)
		}
	})
}

// TestLastUsed: the key list shows the last use (time, IP, user agent)
// after the next flush (every second), with no write on the request path.
// The 10 s bound only catches a hang.
func TestLastUsed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{})
		ctx := context.Background()
		keys, err := h.cli.Keys(ctx, snapglyph.Operator, h.org.ID, false)
		if err != nil || len(keys) != 1 || !keys[0].LastUsedAt.IsZero() {
			t.Fatalf("before any call: %v, %v", keys, err)
		}
		expectOK(t, h.get("/api/v1/usage", h.key))
		began := time.Now()
		eventually(t, 10*time.Second, func() error {
			keys, err := h.cli.Keys(ctx, snapglyph.Operator, h.org.ID, false)
			if err != nil {
				return err
			}
			k := keys[0]
			if k.LastUsedAt.IsZero() {
				return errf("last used not shown after %v", time.Since(began))
			}
			if !k.LastUsedAt.Equal(start) || k.LastUsedIP != "127.0.0.1" || k.LastUsedUA != "acme-sdk/1.0" {
				return errf("last used = %v from %q with %q", k.LastUsedAt, k.LastUsedIP, k.LastUsedUA)
			}
			return nil
		})
	})
}

// TestGracefulStopFlushes: whatever is buffered reaches the database when
// the node stops, however long the flush interval.
func TestGracefulStopFlushes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		h := newHarness(t, db, node.Config{FlushInterval: time.Hour})
		ctx := context.Background()
		for i := 0; i < 7; i++ {
			expectOK(t, h.get("/api/v1/usage", h.key))
		}
		if u, _ := db.Usage(ctx, h.org.ID, "2026-11"); u.Used.APICalls != 0 {
			t.Fatalf("usage written before the stop: %d", u.Used.APICalls)
		}
		h.srv.Close()
		h.node.Close()
		u, err := db.Usage(ctx, h.org.ID, "2026-11")
		if err != nil || u.Used.APICalls != 7 {
			t.Fatalf("after stop: used %d, %v; want 7", u.Used.APICalls, err)
		}
		// The unspent lease went back: reserved equals used.
		if u.Reserved.APICalls != 7 {
			t.Errorf("reserved %d after stop, want 7", u.Reserved.APICalls)
		}
		k, _ := db.Key(ctx, h.kid)
		if k.LastUsedAt.IsZero() {
			t.Error("last used not flushed on stop")
		}
		if c, _ := db.KeyUsage(ctx, h.kid, "2026-11"); c.APICalls != 7 {
			t.Errorf("key usage %d, want 7", c.APICalls)
		}
	})
}
