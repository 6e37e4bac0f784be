package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// harness is one node over a test database, served on 127.0.0.1, and a
// second handle on the same database standing in for the CLI process.
type harness struct {
	t     *testing.T
	db    *testdb.DB
	node  *node.Node
	srv   *httptest.Server
	clock *testdb.Clock
	logs  *testdb.Buffer
	// cli is a separate connection pool and service: another process.
	cli *service.Service
	org *snapglyph.Org
	key string
	kid string
}

var start = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, db *testdb.DB, cfg node.Config) *harness {
	t.Helper()
	h := &harness{t: t, db: db, clock: testdb.NewClock(start), logs: &testdb.Buffer{}}
	db.Now = h.clock.Now
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	cfg.LogRequests = true
	var err error
	h.node, err = node.New(context.Background(), db.DB, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	h.node.Start()
	h.srv = httptest.NewServer(h.node.Handler())
	t.Cleanup(func() {
		h.srv.Close()
		h.node.Close()
	})
	other, err := store.Open(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	other.Now = h.clock.Now
	t.Cleanup(func() { other.Close() })
	h.cli = service.New(other)
	h.org, h.key, h.kid = h.newOrgKey("pro")
	h.waitReady()
	return h
}

// waitReady waits until the node hears changes (PostgreSQL's LISTEN).
func (h *harness) waitReady() {
	deadline := time.Now().Add(5 * time.Second)
	for !h.node.Watcher.Ready() {
		if time.Now().After(deadline) {
			h.t.Fatal("the change watcher did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newOrgKey creates an organisation on the plan, through the CLI's handle,
// and a key for it.
func (h *harness) newOrgKey(plan string) (*snapglyph.Org, string, string) {
	h.t.Helper()
	ctx := context.Background()
	org, _, err := h.cli.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: snapglyph.NewID("o") + "@acme.test", Plan: plan})
	if err != nil {
		h.t.Fatal(err)
	}
	if plan == "starter" {
		return org, "", ""
	}
	k, err := h.cli.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
	if err != nil {
		h.t.Fatal(err)
	}
	return org, k.Secret, k.ID
}

// get sends GET path with the key over the loopback listener.
func (h *harness) get(path, key string) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("User-Agent", "acme-sdk/1.0")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// problem reads a problem body and checks its status and code.
func problemOf(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body is not JSON: %q", body)
	}
	return p
}

func expectProblem(t *testing.T, resp *http.Response, status int, code string) map[string]any {
	t.Helper()
	if resp.StatusCode != status {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	p := problemOf(t, resp)
	if p["code"] != code {
		t.Fatalf("code %v, want %s (detail %v)", p["code"], code, p["detail"])
	}
	if p["status"] != float64(status) || p["type"] == "" || p["title"] == "" || p["detail"] == "" {
		t.Errorf("incomplete problem document: %v", p)
	}
	if status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	return p
}

func expectOK(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d, want 200; body %s", resp.StatusCode, body)
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %q", body)
	}
	return v
}

// eventually retries check until it passes or the deadline (PostgreSQL
// notifications arrive asynchronously).
func eventually(t *testing.T, within time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
