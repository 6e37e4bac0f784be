package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

func call(t *testing.T, url, key string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/api/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("User-Agent", "acme-deploy/2.1")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var v map[string]any
	json.Unmarshal(body, &v)
	return resp, v
}

// TestCLIAndServer follows the core issue's walkthrough: the CLI changes
// a key while `serve` runs on the same database (each with its own
// connections, as two processes would have), and each change applies to
// the very next request.
func TestCLIAndServer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		dsn := db.DSN
		out, _ := cli(t, dsn, 0, "org", "create", "--name", "Acme", "--owner-email", "owner@acme.test", "--plan", "pro", "--json")
		org := decode(t, out)["id"].(string)
		out, _ = cli(t, dsn, 0, "key", "create", "--org", org, "--name", "Production-WebApp", "--json")
		created := decode(t, out)
		key, kid := created["key"].(string), created["id"].(string)
		if !fullKey.MatchString(key) || created["prefix"] != key[:12] || !strings.HasPrefix(kid, "key_") {
			t.Fatalf("key create printed %v", created)
		}

		srv := serveDB(t, dsn, "--flush-interval", "200ms", "--log-requests=true")
		resp, body := call(t, srv.url, key)
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "999" {
			t.Fatalf("first call: %d %v", resp.StatusCode, body)
		}

		cli(t, dsn, 0, "key", "pause", kid)
		if resp, body := call(t, srv.url, key); resp.StatusCode != 401 || body["code"] != "api_key_paused" {
			t.Fatalf("after pause: %d %v", resp.StatusCode, body)
		}
		cli(t, dsn, 0, "key", "resume", kid)
		if resp, body := call(t, srv.url, key); resp.StatusCode != 200 {
			t.Fatalf("after resume: %d %v", resp.StatusCode, body)
		}
		cli(t, dsn, 0, "org", "set-limits", org, "--api-calls", "2")
		if resp, body := call(t, srv.url, key); resp.StatusCode != 429 || body["code"] != "api_call_limit_reached" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("after set-limits: %d %v", resp.StatusCode, body)
		}
		cli(t, dsn, 0, "org", "set-plan", org, "starter")
		if resp, body := call(t, srv.url, key); resp.StatusCode != 403 || body["code"] != "api_not_in_plan" {
			t.Fatalf("after set-plan starter: %d %v", resp.StatusCode, body)
		}
		cli(t, dsn, 0, "org", "set-plan", org, "max")
		if resp, body := call(t, srv.url, key); resp.StatusCode != 429 || resp.Header.Get("X-RateLimit-Limit") != "2" {
			t.Fatalf("after set-plan max (the override stays): %d %v %v", resp.StatusCode, body, resp.Header)
		}
		cli(t, dsn, 0, "org", "set-limits", org, "--api-calls", "5000")
		if resp, body := call(t, srv.url, key); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "4997" {
			t.Fatalf("after raising the limit: %d %v %v", resp.StatusCode, body, resp.Header)
		}
		cli(t, dsn, 0, "key", "revoke", kid)
		if resp, body := call(t, srv.url, key); resp.StatusCode != 401 || body["code"] != "api_key_revoked" {
			t.Fatalf("after revoke: %d %v", resp.StatusCode, body)
		}
		_, stderr := cli(t, dsn, 1, "key", "resume", kid)
		if !strings.Contains(stderr, "revoked") {
			t.Errorf("resume of a revoked key says %q", stderr)
		}

		// Last used shows after the next flush (every 200 ms); the 10 s
		// bound only catches a hang.
		deadline := time.Now().Add(10 * time.Second)
		var listed map[string]any
		for {
			out, _ := cli(t, dsn, 0, "key", "list", "--org", org, "--all", "--json")
			listed = decode(t, strings.TrimSpace(out))
			if listed["lastUsedAt"] != nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if listed["lastUsedAt"] == nil || listed["lastUsedIp"] != "127.0.0.1" || listed["lastUsedUserAgent"] != "acme-deploy/2.1" || listed["status"] != "revoked" {
			t.Errorf("key list: %v", listed)
		}
		if _, ok := listed["key"]; ok {
			t.Error("key list prints the key")
		}

		srv.stop(t)
		if strings.Contains(srv.logs.String(), key[8:]) {
			t.Error("the server log contains the key")
		}
		assertNoKeyAtRest(t, db, key)
	})
}

// assertNoKeyAtRest fails if the key (even without its prefix) is anywhere
// in the database: the SQLite file and its WAL, or every PostgreSQL table.
// (A pattern match would be fooled by the stored display prefix followed by
// the digest's hex in the same record.)
func assertNoKeyAtRest(t *testing.T, db *testdb.DB, key string) {
	t.Helper()
	digest := snapglyph.DigestKey(key)
	digestHex := hex.EncodeToString(digest[:])
	if db.Dialect == "sqlite" {
		sawDigest := false
		defer func() {
			if !sawDigest {
				t.Error("the scan did not find the key's digest either: it read nothing")
			}
		}()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			b, err := os.ReadFile(db.Path + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			sawDigest = sawDigest || bytes.Contains(b, []byte(digestHex))
			if bytes.Contains(b, []byte(key[8:])) {
				t.Errorf("%s contains the key", filepath.Base(db.Path+suffix))
			}
		}
		return
	}
	ctx := context.Background()
	rows, err := db.SQL().QueryContext(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("found only tables %v", tables)
	}
	for _, table := range tables {
		var dump string
		if err := db.SQL().QueryRowContext(ctx, `SELECT COALESCE(string_agg(t::text, ' '), '') FROM `+table+` t`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		if table == "api_keys" && !strings.Contains(dump, digestHex) {
			t.Error("api_keys does not hold the key's digest: the dump read nothing")
		}
		if strings.Contains(dump, key[8:]) {
			t.Errorf("table %s contains the key", table)
		}
	}
}
