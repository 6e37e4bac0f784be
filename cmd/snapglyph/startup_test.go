package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestStartTogether: three `serve` processes and three CLI commands
// started at the same moment on a new database all succeed, ten times
// over, on SQLite and on PostgreSQL; so do the same on the database once
// it exists. Before the fix one PostgreSQL process in two tries exited
// with "Internal error." (a unique violation from two CREATE TABLE IF NOT
// EXISTS), and SQLite sometimes with "database is locked".
//
// These are separate processes because that is the case to prove: each
// opens the database on its own, with its own connections and SQLite
// file locks, at the same moment, as an operator's nodes and CLI do.
func TestStartTogether(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			for round := 0; round < 10; round++ {
				fresh := testdb.Fresh(t, dialect)
				startTogether(t, fresh.DSN, fmt.Sprintf("round %d, new database", round))
				if round%5 == 0 {
					startTogether(t, fresh.DSN, fmt.Sprintf("round %d, existing database", round))
				}
			}
		})
	}
}

// startTogether starts 3 servers and 3 CLI commands at once on dsn and
// fails the test unless every server comes up and stops cleanly and every
// command succeeds.
func startTogether(t *testing.T, dsn, what string) {
	t.Helper()
	binary(t) // built before the goroutines, which cannot fail the test
	type result struct {
		name string
		err  error
		out  string
	}
	results := make(chan result, 6)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-gate
			out, err := serveOnce(t, dsn)
			results <- result{fmt.Sprintf("serve %d", i), err, out}
		}(i)
	}
	commands := [][]string{
		{"migrate"},
		{"org", "create", "--name", "Acme", "--owner-email", "a@acme.test", "--plan", "pro"},
		{"migrate"},
	}
	for _, args := range commands {
		wg.Add(1)
		go func(args []string) {
			defer wg.Done()
			<-gate
			out, err := runBounded(command(t, []string{"SNAPGLYPH_DB=" + dsn}, args...), 60*time.Second)
			results <- result{strings.Join(args, " "), err, out}
		}(args)
	}
	close(gate)
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Errorf("%s: %s: %v\n%s", what, r.name, r.err, r.out)
		}
		if strings.Contains(r.out, "Internal error") {
			t.Errorf("%s: %s says only Internal error:\n%s", what, r.name, r.out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// serveOnce starts `snapglyph serve`, waits until it listens, stops it
// with SIGTERM and returns its log and nil if it exited cleanly.
func serveOnce(t *testing.T, dsn string) (string, error) {
	cmd := command(t, []string{"SNAPGLYPH_DB=" + dsn}, "serve", "--addr", "127.0.0.1:0", "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var logs bytes.Buffer
	listening := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		said := false
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			var v map[string]any
			if !said && json.Unmarshal(sc.Bytes(), &v) == nil && v["msg"] == "listening" {
				said = true
				close(listening)
			}
		}
	}()
	// Generous: six processes share two busy cores.
	timer := time.NewTimer(60 * time.Second)
	defer timer.Stop()
	select {
	case <-listening:
	case <-scanned:
		err := cmd.Wait()
		return logs.String(), fmt.Errorf("exited before listening: %v", err)
	case <-timer.C:
		cmd.Process.Kill()
		<-scanned
		cmd.Wait()
		return logs.String(), fmt.Errorf("not listening after 60 s")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-scanned:
	case <-timer.C:
		cmd.Process.Kill()
		<-scanned
	}
	if err := cmd.Wait(); err != nil {
		return logs.String(), fmt.Errorf("exit after SIGTERM: %v", err)
	}
	return logs.String(), nil
}

// TestErrorsSayWhy: a command that cannot work says why, in the words of
// the operating system or the database, and never "Internal error."; a
// password in the database URL is never printed.
func TestErrorsSayWhy(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		db   string
		want string
	}{
		{"connection refused", "postgres://snap:s3cr3t-pw@127.0.0.1:1/snapglyph?sslmode=disable", "connection refused"},
		{"password field", "postgres://127.0.0.1:1/snapglyph?sslmode=disable&user=snap&password=s3cr3t-pw", "connection refused"},
		{"missing directory", dir + "/no/such/dir/snapglyph.db", "no such file or directory"},
		{"a directory", dir, "is a directory"},
	}
	if base := os.Getenv(testdb.PostgresEnv); base != "" {
		// The same server with another role, and another database (whatever
		// the test database is called).
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		role, db := *u, *u
		role.User = url.UserPassword("nosuchrole_x", "s3cr3t-pw")
		db.Path = "/nosuchdb_x"
		tests = append(tests,
			struct{ name, db, want string }{"unknown role", role.String(), `role "nosuchrole_x" does not exist`},
			struct{ name, db, want string }{"unknown database", db.String(), `database "nosuchdb_x" does not exist`},
		)
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"migrate"}, {"key", "list", "--org", "org_x"}, {"serve", "--addr", "127.0.0.1:0"}} {
			t.Run(tt.name+"/"+args[0], func(t *testing.T) {
				status, stdout, out := runCLI(map[string]string{"SNAPGLYPH_DB": tt.db}, "", args...)
				if status != 1 || stdout != "" {
					t.Fatalf("exit status %d, want 1\n%s%s", status, stdout, out)
				}
				want := tt.want
				if tt.name == "missing directory" && args[0] == "key" {
					// Only serve, migrate and org create make a database.
					want = "no database at"
				}
				if !strings.Contains(out, want) {
					t.Errorf("output does not say %q:\n%s", want, out)
				}
				if strings.Contains(out, "Internal error") || strings.Contains(out, "s3cr3t-pw") {
					t.Errorf("output says Internal error or shows the password:\n%s", out)
				}
			})
		}
	}
}

// TestFailedMigrationNamed: a migration that fails is named, with the
// database's reason, and the database is left as it was.
func TestFailedMigrationNamed(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			fresh := testdb.Fresh(t, dialect)
			driver, dsn := "sqlite", fresh.Path
			if dialect == "postgres" {
				driver, dsn = "pgx", fresh.DSN
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// A table in the way of migration 003.
			if _, err := db.ExecContext(context.Background(), `CREATE TABLE qr_codes (x INTEGER)`); err != nil {
				t.Fatal(err)
			}
			_, stderr := cli(t, fresh.DSN, 1, "migrate")
			if !strings.Contains(stderr, "migration 003_qr_codes.sql failed") || !strings.Contains(stderr, "already exists") {
				t.Errorf("stderr does not name the failed migration and its reason: %q", stderr)
			}
			var applied int
			if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied); err != nil || applied != 2 {
				t.Errorf("%d migrations recorded (%v), want the 2 before the failed one", applied, err)
			}
		})
	}
}
