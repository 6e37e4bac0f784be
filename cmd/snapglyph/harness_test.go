package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/testdb"
)

// The commands run in process: runCommand is what main runs, with the
// environment, standard input and output passed in, so these tests count
// for coverage and run under -race like the rest of the code. The few
// tests that need a second process say why (process_test.go).

var fullKey = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

// mapEnv is a getenv over a map: the only environment a command run in
// process sees (the test's own SNAPGLYPH_* variables do not leak in).
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// commandLimit bounds one command run in process: a hang fails the test
// (through the command's context) instead of blocking it.
const commandLimit = 2 * time.Minute

// runCLI runs one command line in process as the binary would, with env
// as its environment and stdin as its standard input, and returns the
// exit status and what it wrote.
func runCLI(env map[string]string, stdin string, args ...string) (status int, stdout, stderr string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandLimit)
	defer cancel()
	var out, errOut bytes.Buffer
	status = runCommand(ctx, args, mapEnv(env), strings.NewReader(stdin), &out, &errOut)
	return status, out.String(), errOut.String()
}

// cli runs a command on the database dsn (SNAPGLYPH_DB) and returns its
// stdout and stderr; it fails the test unless the exit status is wantExit.
func cli(t testing.TB, dsn string, wantExit int, args ...string) (string, string) {
	t.Helper()
	return cliWith(t, map[string]string{"SNAPGLYPH_DB": dsn}, "", wantExit, args...)
}

// cliWith is cli with the whole environment and standard input given.
func cliWith(t testing.TB, env map[string]string, stdin string, wantExit int, args ...string) (string, string) {
	t.Helper()
	status, stdout, stderr := runCLI(env, stdin, args...)
	if status != wantExit {
		// A full key never reaches the test output (CI checks).
		t.Fatalf("snapglyph %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), status, wantExit,
			fullKey.ReplaceAllString(stdout, "qr_live_…"), fullKey.ReplaceAllString(stderr, "qr_live_…"))
	}
	return stdout, stderr
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not one JSON object: %q", fullKey.ReplaceAllString(s, "qr_live_…"))
	}
	return v
}

// testServer is `serve` running in process, through runCommand, on a
// goroutine; cancelling its context is what SIGTERM or Ctrl-C does to
// the binary.
type testServer struct {
	url    string
	logs   *logWatch // its stderr: the log
	stdout *testdb.Buffer
	cancel context.CancelFunc
	done   chan struct{} // closed when runCommand returned
	status int
}

// serveDB starts serve on the database dsn, on a free port of 127.0.0.1,
// logging JSON without request lines, with extra flags.
func serveDB(t testing.TB, dsn string, extra ...string) *testServer {
	t.Helper()
	args := withDefaults([]string{"--addr", "127.0.0.1:0", "--log-format", "json", "--log-requests=false"}, extra)
	return serveIn(t, map[string]string{"SNAPGLYPH_DB": dsn}, args...)
}

// withDefaults is defaults then extra, without the defaults whose flag
// extra gives (a flag given twice is refused).
func withDefaults(defaults, extra []string) []string {
	name := func(a string) string { n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); return n }
	given := map[string]bool{}
	for _, a := range extra {
		if strings.HasPrefix(a, "-") {
			given[name(a)] = true
		}
	}
	var out []string
	for i := 0; i < len(defaults); i++ {
		a := defaults[i]
		takesValue := !strings.Contains(a, "=")
		if given[name(a)] {
			if takesValue {
				i++
			}
			continue
		}
		out = append(out, a)
		if takesValue && i+1 < len(defaults) {
			i++
			out = append(out, defaults[i])
		}
	}
	return append(out, extra...)
}

// serveIn starts serve with exactly env and args and returns once it
// listens; it fails the test if serve returns first. It is stopped when
// the test ends, if the test did not stop it.
func serveIn(t testing.TB, env map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{logs: newLogWatch(), stdout: &testdb.Buffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.status = runCommand(ctx, append([]string{"serve"}, args...), mapEnv(env), strings.NewReader(""), s.stdout, s.logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(60 * time.Second):
			t.Error("serve did not stop within 60 s of the test's end")
		}
	})
	select {
	case s.url = <-s.logs.listening:
	case <-s.done:
		t.Fatalf("serve returned %d before listening; stderr:\n%s", s.status, s.logs)
	case <-time.After(60 * time.Second): // a hang catch: the two cores are shared
		cancel()
		t.Fatalf("serve not listening after 60 s; logs:\n%s", s.logs)
	}
	// Listening is not ready: on PostgreSQL the node hears changes only
	// once its listener has connected and caught up, and that catch-up
	// gives back the leases taken before it. A test's first request
	// waits for /readyz, as a load balancer would.
	waitFor(t, 60*time.Second, "serve ready (/readyz 200)", func() bool {
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// stop cancels serve's context and waits for it to return; it fails the
// test unless serve stopped cleanly (exit status 0).
func (s *testServer) stop(t testing.TB) {
	t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(60 * time.Second): // a hang catch
		t.Fatalf("serve did not stop within 60 s; logs:\n%s", s.logs)
	}
	if s.status != 0 {
		t.Fatalf("serve stopped with status %d; logs:\n%s", s.status, s.logs)
	}
}

// logWatch collects a server's log and reports the address of its
// "listening" line, in JSON or in text format. slog writes one record
// per Write.
type logWatch struct {
	testdb.Buffer
	once      sync.Once
	listening chan string
}

func newLogWatch() *logWatch { return &logWatch{listening: make(chan string, 1)} }

var textListening = regexp.MustCompile(`msg=listening addr=(\S+)`)

func (w *logWatch) Write(p []byte) (int, error) {
	var rec struct{ Msg, Addr string }
	addr := ""
	if json.Unmarshal(p, &rec) == nil {
		if rec.Msg == "listening" {
			addr = rec.Addr
		}
	} else if m := textListening.FindSubmatch(p); m != nil {
		addr = string(m[1])
	}
	if addr != "" {
		w.once.Do(func() { w.listening <- addr })
	}
	return w.Buffer.Write(p)
}

// records returns the log's JSON records; it fails the test on a line
// that is not JSON.
func (w *logWatch) records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(w.String(), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, v)
	}
	return out
}
