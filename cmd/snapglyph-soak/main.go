// Command snapglyph-soak runs several `snapglyph serve` nodes on one
// PostgreSQL database for minutes of mixed API traffic — valid, paused,
// revoked and unknown keys, hostile headers and bodies, images with and
// without logos — while the operator changes limits, pauses and revokes
// keys through the CLI, PostgreSQL restarts and one node is SIGKILLed. At
// the end it checks and prints: no panic, every surviving node healthy, no
// limit exceeded, no full key in any log, and per organisation the stored
// usage against the calls and credits it was answered and charged for,
// short at most by what the killed node had not flushed.
//
// It is run by scripts/soak.sh, which builds the binary and makes a fresh
// schema; see there. Everything listens on 127.0.0.1; every loop is bounded
// by -duration and every request by a timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is the soak's command line.
type config struct {
	bin       string        // the snapglyph binary
	db        string        // postgres:// URL of an empty database or schema
	duration  time.Duration // of the traffic
	nodes     int
	basePort  int
	flush     time.Duration // the nodes' --flush-interval
	workers   int           // concurrent clients per node
	logDir    string        // nodes' logs
	pgRestart bool
	pgStop    string // shell command that stops PostgreSQL
	pgStart   string
	pgDown    time.Duration // how long PostgreSQL stays down
	kill      bool          // SIGKILL the last node in the middle
}

func main() {
	if err := run(os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, getenv func(string) string) (config, error) {
	var c config
	fs := flag.NewFlagSet("snapglyph-soak", flag.ContinueOnError)
	fs.StringVar(&c.bin, "bin", "./snapglyph", "the snapglyph binary")
	fs.StringVar(&c.db, "db", getenv("SNAPGLYPH_DB"), "postgres:// URL of a fresh database or schema (SNAPGLYPH_DB)")
	fs.DurationVar(&c.duration, "duration", 3*time.Minute, "how long the traffic runs")
	fs.IntVar(&c.nodes, "nodes", 3, "serve nodes")
	fs.IntVar(&c.basePort, "base-port", 18091, "the first node's port on 127.0.0.1 (the others follow)")
	fs.DurationVar(&c.flush, "flush-interval", time.Second, "the nodes' --flush-interval")
	fs.IntVar(&c.workers, "workers", 4, "concurrent clients per node")
	fs.StringVar(&c.logDir, "log-dir", "", "where the nodes' logs go (default: a new temporary directory)")
	fs.BoolVar(&c.pgRestart, "pg-restart", true, "restart PostgreSQL in the middle, with the commands in PG_STOP and PG_START")
	fs.DurationVar(&c.pgDown, "pg-down", 5*time.Second, "how long PostgreSQL stays stopped")
	fs.BoolVar(&c.kill, "kill", true, "SIGKILL the last node in the middle")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.pgStop, c.pgStart = getenv("PG_STOP"), getenv("PG_START")
	switch {
	case c.db == "":
		return c, fmt.Errorf("-db (or SNAPGLYPH_DB) is required: a postgres:// URL of a fresh database or schema")
	case c.nodes < 2 && c.kill:
		return c, fmt.Errorf("-kill needs at least 2 nodes, so one survives")
	case c.pgRestart && (c.pgStop == "" || c.pgStart == ""):
		return c, fmt.Errorf("-pg-restart needs PG_STOP and PG_START (e.g. pg_ctlcluster --skip-systemctl-redirect 15 main stop / start), or -pg-restart=false")
	case c.duration < 20*time.Second:
		return c, fmt.Errorf("-duration must be at least 20s, to fit the events")
	case c.workers < 1 || c.nodes < 1:
		return c, fmt.Errorf("-workers and -nodes must be at least 1")
	}
	return c, nil
}

func run(args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parseFlags(args, getenv)
	if err != nil {
		return err
	}
	if cfg.logDir == "" {
		if cfg.logDir, err = os.MkdirTemp("", "snapglyph-soak-"); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := &soak{cfg: cfg, log: log, out: stdout}
	defer s.stopAll()
	if err := s.setup(ctx); err != nil {
		return fmt.Errorf("setup: %w", err)
	}
	s.drive(ctx)
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted")
	}
	if !s.finish(ctx) {
		return fmt.Errorf("some checks failed (see above); the nodes' logs are in %s", cfg.logDir)
	}
	return nil
}
