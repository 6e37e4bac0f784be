package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

var leakedKey = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

// FuzzAPIRequest sends any method, path, query, headers and body to the
// whole API handler of a node on SQLite, with the organisation's valid key
// or with a fuzzed Authorization header: nothing panics or answers 500,
// every answer has a request id, every error under /api/v1/ is a problem
// document, a key is never in a body, and without the valid key nothing
// gets past authentication.
func FuzzAPIRequest(f *testing.F) {
	db := testdb.Open(f, "sqlite")
	n, err := node.New(context.Background(), db.DB, node.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	n.Start()
	f.Cleanup(n.Close)
	svc := service.New(db.DB)
	ctx := context.Background()
	org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Fuzz", OwnerEmail: "fuzz@example.test", Plan: "max"})
	if err != nil {
		f.Fatal(err)
	}
	lots := int64(1e12)
	if err := svc.SetLimits(ctx, snapglyph.Operator, org.ID, &lots, &lots); err != nil {
		f.Fatal(err)
	}
	k, err := svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Fuzz-Target")
	if err != nil {
		f.Fatal(err)
	}
	handler := n.Handler()

	create := `{"name":"Menu","type":"url","content":{"url":"https://example.com"}}`
	for _, s := range []struct {
		method, path, query, auth, ctype, body string
		withKey                                bool
	}{
		{"GET", "/api/v1/usage", "", "", "", "", true},
		{"POST", "/api/v1/qr-codes", "", "", "application/json", create, true},
		{"POST", "/api/v1/qr-codes", "", "", "application/json; charset=utf-8", `{"name":"x","type":"wifi","content":{"ssid":"a"}}`, true},
		{"GET", "/api/v1/qr-codes", "limit=0&cursor=%ff&type=%00", "", "", "", true},
		{"GET", "/api/v1/qr-codes", "createdByKey=qr_live_x&limit=100", "", "", "", true},
		{"GET", "/api/v1/qr-codes/qr_x", "format=png&size=99999", "", "", "", true},
		{"PATCH", "/api/v1/qr-codes/qr_x", "", "", "application/json", "null", true},
		{"DELETE", "/api/v1/qr-codes/\x00", "", "", "", "", true},
		{"PUT", "/api/v1/qr-codes", "", "", "text/plain", "x", true},
		{"GET", "/api/v1/usage", "api_key=qr_live_x", "", "", "", false},
		{"GET", "/api/v1/usage", "", "Bearer  qr_live_x", "", "", false},
		{"GET", "/api/v1/usage", "", "bearer \xff\xfe", "", "", false},
		{"POST", "/api/v1/qr-codes", "", "Basic Zm9vOmJhcg==", "application/json", create, false},
		{"GET", "/api/v1/nope", "", "", "", "", true},
	} {
		f.Add(s.method, s.path, s.query, s.auth, s.ctype, []byte(s.body), s.withKey)
	}
	f.Fuzz(func(t *testing.T, method, path, query, auth, ctype string, body []byte, withKey bool) {
		if !strings.HasPrefix(path, "/api/v1/") || len(body) > 1<<20 {
			return // the dashboard has its own target; bodies over the limit are seeds above
		}
		r := httptest.NewRequest("GET", "/", bytes.NewReader(body))
		r.Method, r.URL.Path, r.URL.RawQuery = method, path, query
		if method == "" {
			r.Method = "GET"
		}
		if ctype != "" {
			r.Header["Content-Type"] = []string{ctype}
		}
		switch {
		case withKey:
			r.Header["Authorization"] = []string{"Bearer " + k.Secret}
		case auth != "":
			r.Header["Authorization"] = []string{auth}
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		resp := w.Result()
		out := w.Body.Bytes()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s?%s: %d %s", method, path, query, resp.StatusCode, out)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Fatalf("%s %s?%s: %d without X-Request-Id", method, path, query, resp.StatusCode)
		}
		if leakedKey.Match(out) {
			t.Fatalf("%s %s?%s: a full key in the body", method, path, query)
		}
		if resp.StatusCode >= 400 {
			var p struct {
				Code   string
				Status int
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(out, &p) != nil || p.Code == "" || p.Status != resp.StatusCode {
				t.Fatalf("%s %s?%s: %d is not a problem document: %s %q", method, path, query, resp.StatusCode, ct, out)
			}
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			// net/http's mux redirects a non-canonical path (/api/v1/.)
			// to its cleaned form: always on this host, never elsewhere.
			if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
				t.Fatalf("%s %s?%s: %d to %q, off this host", method, path, query, resp.StatusCode, loc)
			}
		} else if !withKey && resp.StatusCode < 400 {
			t.Fatalf("%s %s?%s with Authorization %q: %d without the key", method, path, query, auth, resp.StatusCode)
		}
	})
}
