package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// A second process is used only where a process is the point: main's
// own wiring (TestMainProcess), signals and SIGKILL (TestClusterNothingLost),
// several nodes with their own memory on one database (the cluster tests),
// and several processes starting at once (TestStartTogether). Everything
// else runs in process (harness_test.go).

// built is the snapglyph binary, built once for the tests that need a
// second process. It is built without the race detector: the code the
// processes run is checked under -race by the in-process tests here and
// in internal/node (several nodes in one process), and three nodes under
// -race are too slow for the cluster tests' load on two cores (requests
// time out). To check the processes too, on a bigger machine, set
// SNAPGLYPH_TEST_RACE_PROCESSES=1 with -race: a data race then makes a
// process exit with status 66, which fails its test.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// binary returns the path of the built binary, building it on first use.
func binary(tb testing.TB) string {
	tb.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "snapglyph-bin"); built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "snapglyph")
		args := []string{"build", "-o", built.path}
		if raceEnabled && os.Getenv("SNAPGLYPH_TEST_RACE_PROCESSES") != "" {
			args = append(args, "-race")
		}
		if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// command returns the binary run with args and the test's environment
// plus env.
func command(tb testing.TB, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(tb), args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// runBounded runs cmd, killing it after limit, and returns its combined
// output.
func runBounded(cmd *exec.Cmd, limit time.Duration) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("still running after %v", limit)
	}
}

// serverProcess is `snapglyph serve` running as a child process.
type serverProcess struct {
	cmd  *exec.Cmd
	url  string
	logs *testdb.Buffer
	done chan error
}

// startProcess starts `snapglyph serve` on dsn as a child process with
// extra environment variables and flags, and returns once it listens.
func startProcess(t testing.TB, dsn string, env []string, extra ...string) *serverProcess {
	t.Helper()
	args := append([]string{"serve"}, withDefaults([]string{"--addr", "127.0.0.1:0", "--log-format", "json", "--log-requests=false"}, extra)...)
	cmd := command(t, append([]string{"SNAPGLYPH_DB=" + dsn}, env...), args...)
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
	p.signal(t, syscall.SIGTERM)
}

// signal sends sig and waits for a clean exit (status 0).
func (p *serverProcess) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("server exited with %v after %v; logs:\n%s", err, sig, p.logs)
		}
	case <-time.After(60 * time.Second): // a hang catch: the two cores are shared
		t.Fatalf("server did not stop within 60 s of %v", sig)
	}
}

// TestMainProcess: what main adds to runCommand, in the real binary (a
// second process is the point: os.Args, the process environment, the
// standard streams, the exit status and the signals): a command's output
// and status, SNAPGLYPH_DB and a password read from the real environment
// and standard input, a failure printed as "snapglyph: …" with status 1,
// and serve stopped cleanly (status 0, usage flushed) by SIGTERM and by
// Ctrl-C (SIGINT).
func TestMainProcess(t *testing.T) {
	cmd := command(t, nil, "version")
	if out, err := runBounded(cmd, 60*time.Second); err != nil || out != "snapglyph dev\n" {
		t.Fatalf("version: %q, %v", out, err)
	}

	db := testdb.Open(t, "sqlite")
	env := []string{"SNAPGLYPH_DB=" + db.DSN}
	cmd = command(t, env, "org", "create", "--name", "Acme", "--owner-email", "o@acme.test", "--plan", "pro", "--password-stdin", "--json")
	cmd.Stdin = strings.NewReader("a long enough secret\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() != 0 {
		t.Fatalf("org create: %v\n%s%s", err, &stdout, &stderr)
	}
	org := decode(t, stdout.String())["id"].(string)
	_, hash, err := db.UserByEmail(t.Context(), "o@acme.test")
	if err != nil || !service.CheckPassword(hash, "a long enough secret") {
		t.Fatalf("the password from standard input is not the Owner's: %v", err)
	}

	cmd = command(t, env, "key", "list", "--org", "org_missing")
	out, err := runBounded(cmd, 60*time.Second)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || out != "snapglyph: no organisation has the id \"org_missing\"\n" {
		t.Fatalf("a failing command: %v, output %q", err, out)
	}

	k, _ := cli(t, db.DSN, 0, "key", "create", "--org", org, "--name", "Production-WebApp", "--json")
	key := decode(t, k)["key"].(string)
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		t.Run(sig.String(), func(t *testing.T) {
			// An hour between flushes: the request's usage is written
			// only by the flush of a graceful stop.
			srv := startProcess(t, db.DSN, nil, "--flush-interval", "1h")
			before := apiCalls(t, db, org)
			if resp, body := call(t, srv.url, key); resp.StatusCode != 200 {
				t.Fatalf("call: %d %v", resp.StatusCode, body)
			}
			srv.signal(t, sig)
			if got := apiCalls(t, db, org); got != before+1 {
				t.Errorf("stored API calls %d after one call and %v, want %d", got, sig, before+1)
			}
			logs := srv.logs.String()
			if !strings.Contains(logs, `"msg":"shutting down"`) || !strings.Contains(logs, `"msg":"stopped"`) {
				t.Errorf("the log does not tell the stop:\n%s", logs)
			}
		})
	}
}
