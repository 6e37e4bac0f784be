package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// Every setting of serve is shown to take effect here, from its flag or
// from its variable: serve runs in process (serveIn) and is observed from
// outside, through HTTP, its log and the database. Bad values are refused
// in config_test.go.

// apiCalls is the organisation's stored API calls of this month.
func apiCalls(t testing.TB, db *testdb.DB, org string) int64 {
	t.Helper()
	u, err := db.Usage(context.Background(), org, mustPeriod())
	if err != nil {
		t.Fatal(err)
	}
	return u.Used.APICalls
}

// freeAddr returns an address of 127.0.0.1 nobody listens on (a port
// the system just handed out and took back).
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// get sends GET url with the headers (name, value, …) and returns the
// status, headers and body.
func get(t testing.TB, url string, headers ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// metric is the value of an unlabelled metric on a /metrics page.
func metric(t testing.TB, page, name string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(page))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// orgWithKey makes an organisation on the Max plan with a key and the
// given monthly API calls.
func orgWithKey(t testing.TB, db *testdb.DB, calls int64) (org string, key *service.NewKey) {
	t.Helper()
	ctx := context.Background()
	svc := service.New(db.DB)
	o, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: snapglyph.NewID("o") + "@acme.test", Plan: "max"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetLimits(ctx, snapglyph.Operator, o.ID, &calls, nil); err != nil {
		t.Fatal(err)
	}
	k, err := svc.CreateKey(ctx, snapglyph.Operator, o.ID, "Production-WebApp")
	if err != nil {
		t.Fatal(err)
	}
	return o.ID, k
}

// TestServeAddr: serve listens where --addr or SNAPGLYPH_ADDR says (the
// flag wins), and an address it cannot have is refused with nothing left
// listening, the separate listeners' included.
func TestServeAddr(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	addr := freeAddr(t)
	srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_ADDR": addr, "SNAPGLYPH_LOG_FORMAT": "json"})
	if srv.url != "http://"+addr {
		t.Errorf("listening on %s, SNAPGLYPH_ADDR is %s", srv.url, addr)
	}
	if st, _, _ := get(t, srv.url+"/healthz"); st != 200 {
		t.Errorf("/healthz: %d", st)
	}
	// The variable names the address in use: the flag wins.
	other := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_ADDR": addr, "SNAPGLYPH_LOG_FORMAT": "json"}, "--addr", "127.0.0.1:0")
	if other.url == srv.url {
		t.Errorf("both listen on %s", srv.url)
	}
	other.stop(t)

	taken := strings.TrimPrefix(srv.url, "http://")
	for _, mk := range []func(public, side string) []string{
		func(public, side string) []string { return []string{"--addr", taken} },
		func(public, side string) []string { return []string{"--addr", public, "--metrics-addr", taken} },
		func(public, side string) []string { return []string{"--addr", public, "--debug-addr", taken} },
		func(public, side string) []string {
			return []string{"--addr", public, "--metrics-addr", side, "--debug-addr", taken}
		},
	} {
		// The addresses serve gets before failing must be free again.
		public, side := freeAddr(t), freeAddr(t)
		args := mk(public, side)
		status, stdout, stderr := runCLI(map[string]string{"SNAPGLYPH_DB": db.DSN}, "", append([]string{"serve", "--log-format", "json"}, args...)...)
		flagName, bad := args[len(args)-2], args[len(args)-1]
		if status != 1 || stdout != "" || !strings.HasSuffix(stderr, "snapglyph: "+flagName+"=\""+bad+"\": cannot listen there: "+listenError(t, bad)+"\n") {
			t.Errorf("%v: status %d, stderr %q", args, status, stderr)
		}
		for _, a := range []string{public, side} {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				t.Errorf("%v: %s is still taken after serve failed: %v", args, a, err)
				continue
			}
			ln.Close()
		}
	}
	srv.stop(t)
}

// listenError is the reason listening on addr fails now.
func listenError(t *testing.T, addr string) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		t.Fatalf("%s is free", addr)
	}
	return err.Error()
}

// TestServeLogFormat: the log is text (logfmt) by default and JSON with
// --log-format json or SNAPGLYPH_LOG_FORMAT=json.
func TestServeLogFormat(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	for _, tt := range []struct {
		env  string
		args []string
		json bool
	}{
		{"", nil, false},
		{"json", nil, true},
		{"", []string{"--log-format", "json"}, true},
		{"json", []string{"--log-format", "text"}, false},
	} {
		env := map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_LOG_FORMAT": tt.env}
		srv := serveIn(t, env, append([]string{"--addr", "127.0.0.1:0"}, tt.args...)...)
		srv.stop(t)
		lines := strings.Split(strings.TrimSuffix(srv.logs.String(), "\n"), "\n")
		if len(lines) < 3 { // listening, shutting down, stopped
			t.Fatalf("%v: log %q", tt, lines)
		}
		for _, line := range lines {
			var v map[string]any
			isJSON := json.Unmarshal([]byte(line), &v) == nil
			if isJSON != tt.json || (!isJSON && !strings.HasPrefix(line, "time=")) {
				t.Errorf("%v: log line %q", tt, line)
			}
		}
	}
}

// TestServeDashboardSettings: --signup and --public-url (and their
// variables) take effect: sign-up closed is refused, and the public URL
// names the API's server in the OpenAPI document and the problem types.
func TestServeDashboardSettings(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	for _, tt := range []struct {
		env        map[string]string
		args       []string
		signup     int
		publicBase string
	}{
		{nil, nil, 200, ""},
		{nil, []string{"--signup", "closed"}, 403, ""},
		{map[string]string{"SNAPGLYPH_SIGNUP": "closed"}, nil, 403, ""},
		{map[string]string{"SNAPGLYPH_SIGNUP": "closed"}, []string{"--signup=open"}, 200, ""},
		{nil, []string{"--public-url", "https://qr.example.com/"}, 200, "https://qr.example.com"},
		{map[string]string{"SNAPGLYPH_PUBLIC_URL": "http://10.1.2.3:8080"}, nil, 200, "http://10.1.2.3:8080"},
	} {
		env := map[string]string{"SNAPGLYPH_DB": db.DSN}
		for k, v := range tt.env {
			env[k] = v
		}
		srv := serveIn(t, env, append([]string{"--addr", "127.0.0.1:0", "--log-format", "json"}, tt.args...)...)
		if st, _, _ := get(t, srv.url+"/signup"); st != tt.signup {
			t.Errorf("%v %v: GET /signup %d, want %d", tt.env, tt.args, st, tt.signup)
		}
		_, _, doc := get(t, srv.url+"/api/v1/openapi.json")
		var openapi struct{ Servers []struct{ URL string } }
		if err := json.Unmarshal([]byte(doc), &openapi); err != nil || len(openapi.Servers) != 1 || openapi.Servers[0].URL != cmpOr(tt.publicBase, "/") {
			t.Errorf("%v %v: OpenAPI servers %+v (%v)", tt.env, tt.args, openapi.Servers, err)
		}
		st, _, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer nope")
		var problem struct{ Type, Code string }
		json.Unmarshal([]byte(body), &problem)
		if st != 401 || problem.Type != tt.publicBase+"/problems/"+problem.Code || problem.Code == "" {
			t.Errorf("%v %v: problem %d %s", tt.env, tt.args, st, body)
		}
		srv.stop(t)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestServeAuthFailureLimit: --auth-failure-limit N lets a client address
// fail N times, then answers 429 authentication_throttled; 0 means no
// limit; the default is 100. (Failures come back at N per minute: the
// counts below hold whatever the speed of the machine.)
func TestServeAuthFailureLimit(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	for _, tt := range []struct {
		env      string
		args     []string
		failures int // 401s before the first 429; -1: never within tries
		tries    int
	}{
		{"", []string{"--auth-failure-limit", "3"}, 3, 20},
		{"2", nil, 2, 20},
		{"", []string{"--auth-failure-limit=0"}, -1, 150},
		{"5", []string{"--auth-failure-limit=0"}, -1, 150},
		{"", nil, 100, 400},
	} {
		srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_AUTH_FAILURE_LIMIT": tt.env},
			append([]string{"--addr", "127.0.0.1:0", "--log-format", "json"}, tt.args...)...)
		failures, throttled := 0, false
		for i := 0; i < tt.tries && !throttled; i++ {
			st, h, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer nope")
			switch {
			case st == 401:
				failures++
			case st == 429 && strings.Contains(body, `"authentication_throttled"`) && h.Get("Retry-After") != "":
				throttled = true
			default:
				t.Fatalf("%v %v: %d %s", tt.env, tt.args, st, body)
			}
		}
		switch {
		case tt.failures < 0 && (throttled || failures != tt.tries):
			t.Errorf("%v %v: throttled after %d failures, want no limit", tt.env, tt.args, failures)
		case tt.failures == 100 && (!throttled || failures < 100):
			// The default: at least 100, more if the bucket refilled
			// meanwhile (one failure per 0.6 s).
			t.Errorf("%v %v: throttled %v after %d failures, want 100 or a few more", tt.env, tt.args, throttled, failures)
		case tt.failures >= 0 && tt.failures < 100 && (!throttled || failures != tt.failures):
			t.Errorf("%v %v: throttled %v after %d failures, want %d", tt.env, tt.args, throttled, failures, tt.failures)
		}
		srv.stop(t)
	}
}

// TestServeTrustedProxies: with --trusted-proxies naming the peer, the
// client's address is the one X-Forwarded-For gives (the key's last use
// shows it); without, the header is ignored.
func TestServeTrustedProxies(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	for _, tt := range []struct {
		env, flag, want string
	}{
		{"", "", "127.0.0.1"},
		{"", "127.0.0.1", "203.0.113.7"},
		{"10.0.0.0/8, 127.0.0.0/8", "", "203.0.113.7"},
		{"127.0.0.1", "10.0.0.0/8", "127.0.0.1"}, // the flag wins
	} {
		_, k := orgWithKey(t, db, 1000)
		args := []string{"--addr", "127.0.0.1:0", "--log-format", "json"}
		if tt.flag != "" {
			args = append(args, "--trusted-proxies", tt.flag)
		}
		srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_TRUSTED_PROXIES": tt.env}, args...)
		if st, _, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer "+k.Secret, "X-Forwarded-For", "198.51.100.1, 203.0.113.7"); st != 200 {
			t.Fatalf("%d %s", st, body)
		}
		srv.stop(t) // flushes the last use
		got, err := db.Key(context.Background(), k.ID)
		if err != nil || got.LastUsedIP != tt.want {
			t.Errorf("env %q, flag %q: last used from %q (%v), want %s", tt.env, tt.flag, got.LastUsedIP, err, tt.want)
		}
	}
}

// TestServeCacheSize: --cache-size bounds the keys a node caches: with
// room for one key, two keys used in turn are read from the database
// every time; by default each is read once.
func TestServeCacheSize(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	_, a := orgWithKey(t, db, 1000)
	_, b := orgWithKey(t, db, 1000)
	for _, tt := range []struct {
		env          string
		args         []string
		hits, misses float64
	}{
		{"", nil, 4, 2},
		{"", []string{"--cache-size", "1"}, 0, 6},
		{"1", nil, 0, 6},
		{"1", []string{"--cache-size=100"}, 4, 2},
	} {
		srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_CACHE_SIZE": tt.env},
			append([]string{"--addr", "127.0.0.1:0", "--log-format", "json"}, tt.args...)...)
		for range 3 {
			for _, k := range []*service.NewKey{a, b} {
				if st, _, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer "+k.Secret); st != 200 {
					t.Fatalf("%d %s", st, body)
				}
			}
		}
		_, _, page := get(t, srv.url+"/metrics")
		if h, m := metric(t, page, "snapglyph_key_cache_hits_total"), metric(t, page, "snapglyph_key_cache_misses_total"); h != tt.hits || m != tt.misses {
			t.Errorf("%q %v: %v hits, %v misses; want %v, %v", tt.env, tt.args, h, m, tt.hits, tt.misses)
		}
		srv.stop(t)
	}
}

// TestServeLeaseBlock: --lease-block caps the allowance a node leases at
// once: after one call of an organisation with plenty left, the database
// holds exactly one block reserved (the default block is 10,000).
func TestServeLeaseBlock(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		for _, tt := range []struct {
			env  string
			args []string
			want int64
		}{
			{"", nil, 10000},
			{"", []string{"--lease-block", "7"}, 7},
			{"25", nil, 25},
			{"25", []string{"--lease-block=1"}, 1},
		} {
			org, k := orgWithKey(t, db, 1e12)
			srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_LEASE_BLOCK": tt.env},
				append([]string{"--addr", "127.0.0.1:0", "--log-format", "json"}, tt.args...)...)
			if st, _, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer "+k.Secret); st != 200 {
				t.Fatalf("%d %s", st, body)
			}
			u, err := db.Usage(context.Background(), org, mustPeriod())
			if err != nil || u.Reserved.APICalls != tt.want {
				t.Errorf("%q %v: %d reserved after one call (%v), want %d", tt.env, tt.args, u.Reserved.APICalls, err, tt.want)
			}
			srv.stop(t)
			// A graceful stop gives back what was not spent.
			if u, _ := db.Usage(context.Background(), org, mustPeriod()); u.Reserved.APICalls != 1 || u.Used.APICalls != 1 {
				t.Errorf("after the stop: %d reserved, %d used; want 1, 1", u.Reserved.APICalls, u.Used.APICalls)
			}
		}
	})
}

// TestServeFlushInterval: --flush-interval sets how often usage and last
// use are written: with an hour (the flag, over the variable's 20 ms),
// nothing is written until the stop; with 20 ms from the variable, while
// serve runs.
func TestServeFlushInterval(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx := context.Background()
	org, k := orgWithKey(t, db, 1000)
	srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_FLUSH_INTERVAL": "20ms"},
		"--addr", "127.0.0.1:0", "--log-format", "json", "--flush-interval", "1h")
	for range 3 {
		if st, _, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer "+k.Secret); st != 200 {
			t.Fatalf("%d %s", st, body)
		}
	}
	// Three default intervals pass: a node that ignored the flag (or
	// took the variable's 20 ms) would have written the calls by now.
	// (This cannot fail a correct node, only miss a broken one on a
	// machine too busy to flush in 3 s.)
	time.Sleep(3 * usage.DefaultInterval)
	_, _, page := get(t, srv.url+"/metrics")
	key, _ := db.Key(ctx, k.ID)
	if f := metric(t, page, "snapglyph_usage_flushes_total"); f != 0 || apiCalls(t, db, org) != 0 || !key.LastUsedAt.IsZero() {
		t.Errorf("with an hour between flushes: %v flushes, %d calls stored, last used %v", f, apiCalls(t, db, org), key.LastUsedAt)
	}
	srv.stop(t)
	if got := apiCalls(t, db, org); got != 3 {
		t.Errorf("%d calls stored after the stop, 3 made", got)
	}

	srv = serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_FLUSH_INTERVAL": "20ms"}, "--addr", "127.0.0.1:0", "--log-format", "json")
	if st, _, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer "+k.Secret); st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	// Written within a few flushes; the 20 s bound only catches a hang.
	waitFor(t, 20*time.Second, "the call to be flushed while serve runs", func() bool { return apiCalls(t, db, org) == 4 })
	_, _, page = get(t, srv.url+"/metrics")
	if f := metric(t, page, "snapglyph_usage_flushes_total"); f < 1 {
		t.Errorf("%v flushes", f)
	}
	srv.stop(t)
}

// TestServeSeparateListeners: --metrics-addr serves /metrics there and
// only there (the public listener answers 404), --debug-addr serves the
// profiler there and only there; logs are JSON lines with request ids.
func TestServeSeparateListeners(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	metricsAddr, debugAddr := freeAddr(t), freeAddr(t)
	srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_DEBUG_ADDR": debugAddr},
		"--addr", "127.0.0.1:0", "--log-format", "json", "--metrics-addr", metricsAddr)
	st, h, _ := get(t, srv.url+"/metrics")
	if st != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404", st)
	}
	reqID := h.Get("X-Request-Id")
	if st, _, body := get(t, "http://"+metricsAddr+"/metrics"); st != 200 || !strings.Contains(body, "# TYPE snapglyph_http_requests_total counter") {
		t.Errorf("metrics listener: %d %.300s", st, body)
	}
	if st, _, body := get(t, "http://"+debugAddr+"/debug/pprof/"); st != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("debug listener: %d %.300s", st, body)
	}
	if st, _, _ := get(t, "http://"+debugAddr+"/debug/pprof/cmdline"); st != 200 {
		t.Errorf("debug listener cmdline: %d", st)
	}
	for _, url := range []string{srv.url + "/debug/pprof/", "http://" + metricsAddr + "/debug/pprof/", "http://" + debugAddr + "/metrics", "http://" + metricsAddr + "/healthz"} {
		if st, _, _ := get(t, url); st != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", url, st)
		}
	}
	srv.stop(t)
	found := false
	for _, v := range srv.logs.records(t) {
		if v["msg"] == "request" && v["request_id"] == reqID && v["path"] == "/metrics" && v["status"] == 404.0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no request log line with request_id %s:\n%s", reqID, srv.logs)
	}
	// Both listeners are closed with serve.
	for _, a := range []string{metricsAddr, debugAddr} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still taken after serve stopped: %v", a, err)
			continue
		}
		ln.Close()
	}
}

// TestServeFakeClock: SNAPGLYPH_FAKE_TIME_FILE (for tests of processes)
// sets the node's clock from a file and follows its changes: the month
// of the allowance turns when the file says so.
func TestServeFakeClock(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	clock := filepath.Join(t.TempDir(), "now")
	set := func(at string) {
		if err := os.WriteFile(clock, []byte(at+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set("2026-11-30T23:59:00Z")
	_, k := orgWithKey(t, db, 1000)
	srv := serveIn(t, map[string]string{"SNAPGLYPH_DB": db.DSN, "SNAPGLYPH_FAKE_TIME_FILE": clock}, "--addr", "127.0.0.1:0", "--log-format", "json")
	reset := func() string {
		st, h, body := get(t, srv.url+"/api/v1/usage", "Authorization", "Bearer "+k.Secret)
		if st != 200 {
			t.Fatalf("%d %s", st, body)
		}
		return h.Get("X-RateLimit-Reset")
	}
	dec1 := fmt.Sprint(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Unix())
	if got := reset(); got != dec1 {
		t.Errorf("reset %s on 30 November, want %s", got, dec1)
	}
	set("2026-12-01T00:00:01Z")
	jan1 := fmt.Sprint(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	// The file is re-read every few milliseconds; the bound catches a hang.
	waitFor(t, 20*time.Second, "the node to read the new time", func() bool { return reset() == jan1 })
	srv.stop(t)
	if !strings.Contains(srv.logs.String(), "for tests only") {
		t.Error("no warning that the clock is read from a file")
	}
}
