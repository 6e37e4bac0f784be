package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "snapglyph-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "snapglyph")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var fullKey = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

// cli runs the binary as a separate process and returns its stdout; it
// fails the test unless the exit status is wantExit.
func cli(t *testing.T, dsn string, wantExit int, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "SNAPGLYPH_DB="+dsn)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != wantExit {
		t.Fatalf("snapglyph %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantExit, &stdout, &stderr)
	}
	return stdout.String(), stderr.String()
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not one JSON object: %q", s)
	}
	return v
}

// serverProcess is `snapglyph serve` running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *testdb.Buffer
	done chan error
}

func startServer(t testing.TB, dsn string, extra ...string) *serverProcess {
	t.Helper()
	return startServerEnv(t, dsn, nil, extra...)
}

// startServerEnv starts `snapglyph serve` with extra environment variables.
func startServerEnv(t testing.TB, dsn string, env []string, extra ...string) *serverProcess {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--log-requests=false"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append(os.Environ(), "SNAPGLYPH_DB="+dsn), env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, logs: &testdb.Buffer{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.logs.WriteString(line + "\n")
			var v map[string]any
			if json.Unmarshal([]byte(line), &v) == nil && v["msg"] == "listening" {
				addr <- v["addr"].(string)
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	select {
	case p.url = <-addr:
	case <-time.After(60 * time.Second): // a hang catch: the two cores are shared
		t.Fatalf("server did not start; logs:\n%s", p.logs)
	}
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serverProcess) stop(t testing.TB) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("server exited with %v; logs:\n%s", err, p.logs)
		}
	case <-time.After(60 * time.Second): // a hang catch: the two cores are shared
		t.Fatal("server did not stop within 60 s of SIGTERM")
	}
}

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

// TestCLIAndServer follows the core issue's walkthrough with two real
// processes: the CLI changes a key while `serve` runs on the same
// database, and each change applies to the very next request.
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

		srv := startServer(t, dsn, "--flush-interval", "200ms", "--log-requests=true")
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

// TestCLIBadInput: every mistake gets a clear message, exit status 1, and
// changes nothing.
func TestCLIBadInput(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "pro", "--json")
	org := decode(t, out)["id"].(string)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"key", "create", "--org", "org_missing", "--name", "Production"}, "no organisation"},
		{[]string{"key", "create", "--org", org, "--name", ""}, "name is required"},
		{[]string{"key", "create", "--org", org, "--name", strings.Repeat("k", 65)}, "65 characters"},
		{[]string{"key", "pause", "key_missing"}, "no API key"},
		{[]string{"key", "revoke"}, "usage: snapglyph key revoke KEY_ID"},
		{[]string{"key", "list", "--org", "org_missing"}, "no organisation"},
		{[]string{"org", "set-plan", org, "gold"}, "unknown plan"},
		{[]string{"org", "set-plan", "org_missing", "max"}, "no organisation"},
		{[]string{"org", "set-limits", org, "--api-calls", "-5"}, "negative"},
		{[]string{"org", "set-limits", org, "--image-credits", "lots"}, "whole number"},
		{[]string{"org", "create", "--name", "X", "--owner-email", "nope"}, "not an email"},
		{[]string{"org", "create", "--name", "X", "--owner-email", "a@b.test", "--plan", "free"}, "unknown plan"},
		{[]string{"frobnicate"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, stderr := cli(t, db.DSN, 1, tt.args...)
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not say %q", stderr, tt.want)
			}
		})
	}
	out, _ = cli(t, db.DSN, 0, "key", "list", "--org", org, "--all", "--json")
	if strings.TrimSpace(out) != "" {
		t.Errorf("keys exist after refused commands: %s", out)
	}
	o, err := db.Org(context.Background(), org)
	if err != nil || o.Plan != "pro" || o.APICallsLimit != nil || o.ImageCreditsLimit != nil {
		t.Errorf("organisation changed: %+v %v", o, err)
	}
}

// TestPasswordFromStdin: the Owner's password is read from standard input
// and stored only as an argon2id hash.
func TestPasswordFromStdin(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	cmd := exec.Command(binary, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--password-stdin")
	cmd.Env = append(os.Environ(), "SNAPGLYPH_DB="+db.DSN)
	cmd.Stdin = strings.NewReader("a long enough secret\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	_, hash, err := db.UserByEmail(context.Background(), "o@acme.test")
	if err != nil || !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, "secret") {
		t.Fatalf("stored %q, %v", hash, err)
	}
}

// TestMetricsAddr: with --metrics-addr, /metrics is served there and not
// on the public listener; logs are JSON lines with request ids.
func TestMetricsAddr(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := startServer(t, db.DSN, "--metrics-addr", addr, "--log-requests=true")
	resp, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404", resp.StatusCode)
	}
	reqID := resp.Header.Get("X-Request-Id")
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "# TYPE snapglyph_http_requests_total counter") {
		t.Errorf("metrics listener: %d %.300s", resp.StatusCode, body)
	}
	srv.stop(t)
	found := false
	for _, line := range strings.Split(srv.logs.String(), "\n") {
		var v map[string]any
		if line == "" {
			continue
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if v["msg"] == "request" && v["request_id"] == reqID && v["path"] == "/metrics" && v["status"] == 404.0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no request log line with request_id %s:\n%s", reqID, srv.logs)
	}
}
