package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// hangProxy forwards TCP connections to PostgreSQL until hang is called;
// from then on it forwards nothing either way, yet keeps every connection
// open and accepts new ones: to the node behind it the database hangs (a
// frozen server, a black-holed network) instead of refusing, and the
// shared server is left alone.
type hangProxy struct {
	target string
	ln     net.Listener
	hung   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newHangProxy(t testing.TB, target string) *hangProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hangProxy{target: target, ln: ln}
	t.Cleanup(p.close)
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(in) {
				return
			}
			if p.hung.Load() {
				go p.pipe(in, nil) // accepted, never answered
				continue
			}
			out, err := net.Dial("tcp", p.target)
			if err != nil {
				in.Close()
				continue
			}
			if !p.track(out) {
				return
			}
			go p.pipe(in, out)
			go p.pipe(out, in)
		}
	}()
	return p
}

// pipe copies src to dst until hang; then it reads on and throws away.
func (p *hangProxy) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && dst != nil && !p.hung.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *hangProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil && p.ln == nil {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

// hang stops forwarding: nothing the node sends reaches the database and
// nothing comes back.
func (p *hangProxy) hang() { p.hung.Store(true) }

func (p *hangProxy) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
	}
	p.ln = nil
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// dsnVia is dsn with its host replaced by addr.
func dsnVia(t testing.TB, dsn, addr string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// shutdownSetup makes an organisation with a large allowance and a key on
// db (directly), and starts serve as a process through a hangProxy, with
// usage and the request log written only by the stop (an hour between
// writes, fewer entries than a batch), so what requests leave is all
// buffered when the stop begins.
func shutdownSetup(t *testing.T, extra ...string) (db *testdb.DB, p *hangProxy, srv *serverProcess, org, key string) {
	t.Helper()
	needPostgres(t)
	db = testdb.Open(t, "postgres")
	out, _ := cli(t, db.DSN, 0, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "pro", "--json")
	org = decode(t, out)["id"].(string)
	cli(t, db.DSN, 0, "org", "set-limits", org, "--api-calls", "1000000")
	out, _ = cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Production-WebApp", "--json")
	key = decode(t, out)["key"].(string)
	base, _ := url.Parse(os.Getenv(testdb.PostgresEnv))
	p = newHangProxy(t, base.Host)
	args := append([]string{"--flush-interval", "1h", "--request-log-interval", "1h"}, extra...)
	srv = startProcess(t, dsnVia(t, db.DSN, p.ln.Addr().String()), nil, args...)
	waitFor(t, 60*time.Second, "serve ready (/readyz 200)", func() bool {
		resp, err := http.Get(srv.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return db, p, srv, org, key
}

// shutdownRequests is how many requests each test buffers before the
// stop: thousands, as a busy node holds, and fewer than a request log
// batch (5,000), so none is written before the stop.
const shutdownRequests = 3000

// sendRequests makes n API calls with the key from 8 clients and returns
// how many were answered 200.
func sendRequests(t *testing.T, url, key string, n int) int64 {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var next, ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest("GET", url+"/api/v1/usage", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ok.Load()
}

// stopTimed sends SIGTERM and returns how long the process took to exit,
// and its exit error; it fails the test after limit.
func (p *serverProcess) stopTimed(t *testing.T, limit time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return time.Since(start), err
	case <-time.After(limit):
		p.cmd.Process.Kill()
		t.Fatalf("serve did not stop within %v of SIGTERM; logs:\n%s", limit, p.logs)
		return 0, nil
	}
}

// logRecords returns the process's JSON log records with the message msg.
func (p *serverProcess) logRecords(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(line), &v) == nil && v["msg"] == msg {
			out = append(out, v)
		}
	}
	return out
}

// TestServeShutdownHungDatabase: a stop with a database that hangs
// (accepts connections, never answers) fits in Kubernetes' default
// termination grace period of 30 s with the default --shutdown-timeout
// (25 s), even with a request stuck on the database the whole drain, and
// what could not be written is reported, not cut silently by a SIGKILL.
// The stop took about 35 s before (15 s of drain, then two 10 s rounds of
// final writes).
func TestServeShutdownHungDatabase(t *testing.T) {
	_, p, srv, _, key := shutdownSetup(t)
	ok := sendRequests(t, srv.url, key, shutdownRequests)
	if ok != shutdownRequests {
		t.Fatalf("%d of %d requests answered 200 before the database hung", ok, shutdownRequests)
	}
	p.hang()
	// A request in flight that waits on the database (a key this node
	// has not seen is looked up) holds the drain for as long as the stop
	// lets it.
	stuck := make(chan struct{})
	go func() {
		defer close(stuck)
		req, _ := http.NewRequest("GET", srv.url+"/api/v1/usage", nil)
		req.Header.Set("Authorization", "Bearer "+snapglyph.GenerateKey())
		if resp, err := (&http.Client{Timeout: time.Minute}).Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(500 * time.Millisecond)

	took, exitErr := srv.stopTimed(t, 60*time.Second)
	t.Logf("stop with the database hung: %v (exit: %v)", took.Round(100*time.Millisecond), exitErr)
	// The budget, plus slack for a process on two shared cores; still
	// within Kubernetes' 30 s.
	if limit := 25*time.Second + 2*time.Second; took > limit {
		t.Errorf("the stop took %v, more than --shutdown-timeout (25 s) and slack: a kubelet would SIGKILL the node at 30 s; logs:\n%s", took, srv.logs)
	}
	if took < 14*time.Second {
		t.Errorf("the stop took %v: the request stuck on the database should have held the drain for its share (15 s)", took)
	}

	// What was not written is reported: the usage, the request log
	// entries and the leases not returned.
	lost := srv.logRecords("final usage flush failed; buffered usage is lost")
	if len(lost) != 1 {
		t.Errorf("%d records of lost usage, want 1; logs:\n%s", len(lost), srv.logs)
	} else if calls, _ := lost[0]["api_calls"].(float64); calls < shutdownRequests {
		t.Errorf("lost usage reported with %v API calls, want at least %d: %v", lost[0]["api_calls"], shutdownRequests, lost[0])
	}
	entries := srv.logRecords("request log: entries lost at stop")
	if len(entries) != 1 {
		t.Errorf("%d records of lost request log entries, want 1; logs:\n%s", len(entries), srv.logs)
	} else if n, _ := entries[0]["entries"].(float64); n < shutdownRequests {
		t.Errorf("lost request log entries reported as %v, want at least %d", entries[0]["entries"], shutdownRequests)
	}
	leases := false
	for _, r := range srv.logRecords("background task failed") {
		if r["task"] == "close" && strings.Contains(r["err"].(string), "meter") {
			leases = true
		}
	}
	if !leases {
		t.Errorf("the unreturned leases are not reported; logs:\n%s", srv.logs)
	}
	if len(srv.logRecords("stopped")) != 1 {
		t.Errorf("no \"stopped\" record: the process did not stop by itself; logs:\n%s", srv.logs)
	}
	<-stuck
}

// TestServeShutdownHealthy: with a database that answers, the stop with
// thousands of requests' usage and request log entries buffered writes
// them all (and returns the unspent leases), quickly and with status 0.
func TestServeShutdownHealthy(t *testing.T) {
	db, _, srv, org, key := shutdownSetup(t)
	ok := sendRequests(t, srv.url, key, shutdownRequests)
	if ok != shutdownRequests {
		t.Fatalf("%d of %d requests answered 200", ok, shutdownRequests)
	}
	took, err := srv.stopTimed(t, 60*time.Second)
	t.Logf("stop with %d requests buffered: %v", ok, took.Round(10*time.Millisecond))
	if err != nil {
		t.Fatalf("serve exited with %v; logs:\n%s", err, srv.logs)
	}
	if took > 10*time.Second {
		t.Errorf("the stop took %v with a healthy database", took)
	}
	ctx := context.Background()
	u, err := db.Usage(ctx, org, mustPeriod())
	if err != nil {
		t.Fatal(err)
	}
	if u.Used.APICalls != ok {
		t.Errorf("stored %d API calls, %d were answered 200", u.Used.APICalls, ok)
	}
	if u.Reserved.APICalls != u.Used.APICalls {
		t.Errorf("reserved %d, used %d: the unspent leases were not returned", u.Reserved.APICalls, u.Used.APICalls)
	}
	var logged int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM request_log WHERE org_id = $1`, org).Scan(&logged); err != nil {
		t.Fatal(err)
	}
	if logged != ok {
		t.Errorf("%d request log entries stored, %d requests answered", logged, ok)
	}
	for _, msg := range []string{"final usage flush failed; buffered usage is lost", "request log: entries lost at stop", "background task failed"} {
		if r := srv.logRecords(msg); len(r) > 0 {
			t.Errorf("healthy stop logged %q: %v", msg, r)
		}
	}
}

// TestDrainTimeout: the drain takes at most 60% of a stop's budget, so
// the final writes get at least 40% of it and the whole stays within it;
// the default fits Kubernetes' 30 s grace period with the 15 s drain and
// 10 s of writes serve had before.
func TestDrainTimeout(t *testing.T) {
	for _, tt := range []struct{ budget, drain time.Duration }{
		{DefaultShutdownTimeout, 15 * time.Second},
		{10 * time.Second, 6 * time.Second},
		{time.Second, 600 * time.Millisecond},
		{2 * time.Minute, 72 * time.Second},
		{time.Nanosecond, 0},
	} {
		drain := drainTimeout(tt.budget)
		if drain != tt.drain {
			t.Errorf("drainTimeout(%v) = %v, want %v", tt.budget, drain, tt.drain)
		}
		if writes := tt.budget - drain; writes < tt.budget*2/5 || drain < 0 {
			t.Errorf("budget %v: drain %v leaves %v for the writes, less than 40%%", tt.budget, drain, writes)
		}
	}
	if DefaultShutdownTimeout >= 30*time.Second {
		t.Errorf("the default --shutdown-timeout %v does not fit Kubernetes' 30 s grace period", DefaultShutdownTimeout)
	}
}

// TestShutdownTimeoutSetting: --shutdown-timeout and
// SNAPGLYPH_SHUTDOWN_TIMEOUT are checked like the other durations (a
// positive duration), and the stop uses the value given.
func TestShutdownTimeoutSetting(t *testing.T) {
	for _, tt := range []struct{ value, want string }{
		{"0", `SNAPGLYPH_SHUTDOWN_TIMEOUT="0": must be positive`},
		{"-5s", `SNAPGLYPH_SHUTDOWN_TIMEOUT="-5s": must be positive`},
		{"25", `SNAPGLYPH_SHUTDOWN_TIMEOUT="25": invalid duration`},
	} {
		env := map[string]string{"SNAPGLYPH_DB": t.TempDir() + "/snapglyph.db", "SNAPGLYPH_SHUTDOWN_TIMEOUT": tt.value}
		status, _, stderr := runCLI(env, "", "serve", "--addr", "127.0.0.1:0")
		if status != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("SNAPGLYPH_SHUTDOWN_TIMEOUT=%s: exit %d, %q; want it refused with %q", tt.value, status, stderr, tt.want)
		}
		status, _, stderr = runCLI(map[string]string{"SNAPGLYPH_DB": env["SNAPGLYPH_DB"]}, "", "serve", "--addr", "127.0.0.1:0", "--shutdown-timeout="+tt.value)
		if status != 1 || !strings.Contains(stderr, "--shutdown-timeout") {
			t.Errorf("--shutdown-timeout=%s: exit %d, %q; want it refused", tt.value, status, stderr)
		}
	}
	db := testdb.Open(t, "sqlite")
	srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_SHUTDOWN_TIMEOUT": "7s"},
		"--addr", "127.0.0.1:0", "--log-format", "json", "--log-requests=false")
	srv.stop(t)
	var timeout any
	for _, r := range srv.logs.records(t) {
		if r["msg"] == "shutting down" {
			timeout = r["timeout"]
		}
	}
	if timeout != "7s" {
		t.Errorf("the stop's budget was %v, want SNAPGLYPH_SHUTDOWN_TIMEOUT's 7s", timeout)
	}
}
