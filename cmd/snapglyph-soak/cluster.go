package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// node is one `snapglyph serve` process.
type node struct {
	index  int
	addr   string // 127.0.0.1:port
	log    string // its stdout and stderr
	cmd    *exec.Cmd
	done   chan struct{} // closed when the process has exited
	err    error         // its exit, once done is closed
	killed atomic.Bool   // SIGKILLed on purpose
}

func (n *node) url(path string) string { return "http://" + n.addr + path }

// startNode starts node i and waits (at most 20 s) until it answers /healthz.
func (s *soak) startNode(ctx context.Context, i int) (*node, error) {
	n := &node{index: i, addr: "127.0.0.1:" + strconv.Itoa(s.cfg.basePort+i), done: make(chan struct{})}
	n.log = filepath.Join(s.cfg.logDir, fmt.Sprintf("node%d.log", i+1))
	f, err := os.Create(n.log)
	if err != nil {
		return nil, err
	}
	n.cmd = exec.Command(s.cfg.bin, "serve", "--addr", n.addr, "--db", s.cfg.db,
		"--flush-interval", s.cfg.flush.String(), "--log-requests=true")
	n.cmd.Stdout, n.cmd.Stderr = f, f
	n.cmd.Env = cleanEnv()
	if err := n.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start node %d: %w", i+1, err)
	}
	go func() {
		n.err = n.cmd.Wait()
		f.Close()
		close(n.done)
	}()
	if err := waitHTTP(ctx, n.url("/healthz"), 20*time.Second, n.done); err != nil {
		return nil, fmt.Errorf("node %d: %w (log %s)", i+1, err, n.log)
	}
	return n, nil
}

// cleanEnv is the environment without SNAPGLYPH_ settings, so the flags
// given are the whole configuration.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) < 10 || kv[:10] != "SNAPGLYPH_" {
			env = append(env, kv)
		}
	}
	return env
}

// waitHTTP polls url until it answers 200, the process exits or within passes.
func waitHTTP(ctx context.Context, url string, within time.Duration, exited <-chan struct{}) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("the process exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("%s did not answer within %s: %w", url, within, err)
			}
			return fmt.Errorf("%s answered %d for %s", url, resp.StatusCode, within)
		}
	}
}

// terminate stops a node gracefully (SIGTERM) and waits at most 30 s.
func (n *node) terminate() error {
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-n.done:
		return n.err
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("did not stop within 30 s of SIGTERM")
	}
}

// kill SIGKILLs a node and waits for it to be gone.
func (n *node) kill() {
	n.killed.Store(true)
	n.cmd.Process.Kill()
	<-n.done
}

// stopAll kills whatever is still running (after a failure or an interrupt).
func (s *soak) stopAll() {
	for _, n := range s.nodes {
		select {
		case <-n.done:
		default:
			n.cmd.Process.Kill()
			<-n.done
		}
	}
}

// cliMu serialises CLI commands: an operator types one at a time.
var cliMu sync.Mutex

// cli runs `snapglyph ARGS… --db URL` as the operator does, within 60 s,
// and returns its standard output. Its output is never printed: `key
// create` prints the full key.
func (s *soak) cli(ctx context.Context, args ...string) ([]byte, error) {
	cliMu.Lock()
	defer cliMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.cfg.bin, args...)
	cmd.Env = append(cleanEnv(), "SNAPGLYPH_DB="+s.cfg.db)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("snapglyph %s %s: %w: %s", args[0], args[1], err, bytes.TrimSpace(stderr.Bytes()))
	}
	s.cliLog.Write(stderr.Bytes())
	return stdout.Bytes(), nil
}

// cliJSON runs a CLI command with --json and decodes its one line into v.
func (s *soak) cliJSON(ctx context.Context, v any, args ...string) error {
	out, err := s.cli(ctx, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("snapglyph %s %s --json: the output is not one JSON object: %w", args[0], args[1], err)
	}
	return nil
}

// shell runs an operator's command line (PG_STOP, PG_START) within 2 minutes.
func shell(ctx context.Context, line string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "sh", "-c", line).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", line, err, bytes.TrimSpace(out))
	}
	return nil
}
