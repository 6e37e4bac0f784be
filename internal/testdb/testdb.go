// Package testdb gives tests a fresh, migrated database of each dialect:
// SQLite always, PostgreSQL when SNAPGLYPH_TEST_POSTGRES names one (then a
// PostgreSQL failure fails the test instead of skipping it).
package testdb

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// PostgresEnv names the variable holding the PostgreSQL test server's URL.
const PostgresEnv = "SNAPGLYPH_TEST_POSTGRES"

// DB is a test database and the DSN another process can open it with.
type DB struct {
	*store.DB
	Dialect string
	DSN     string
	Path    string // SQLite: the file
}

// Each runs fn as a subtest on SQLite and, when configured, on PostgreSQL.
func Each(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, Open(t, "sqlite")) })
	t.Run("postgres", func(t *testing.T) { fn(t, Open(t, "postgres")) })
}

// Open returns a new migrated database of the dialect, removed when the
// test ends. A PostgreSQL test is skipped (with the reason) when
// SNAPGLYPH_TEST_POSTGRES is not set.
func Open(tb testing.TB, dialect string) *DB {
	tb.Helper()
	d := Fresh(tb, dialect)
	var err error
	if d.DB, err = store.Open(d.DSN); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.DB.Close() })
	if err := d.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return d
}

// Fresh returns a new, empty database of the dialect (nothing created in
// it, not even the schema_migrations table) with its DB field nil: open
// it with its DSN. It is removed when the test ends; PostgreSQL is
// skipped as in Open.
func Fresh(tb testing.TB, dialect string) *DB {
	tb.Helper()
	d := &DB{Dialect: dialect}
	if dialect != "postgres" {
		d.Path = filepath.Join(tb.TempDir(), "snapglyph.db")
		d.DSN = d.Path
		return d
	}
	base := os.Getenv(PostgresEnv)
	if base == "" {
		tb.Skipf("PostgreSQL tests skipped: set %s=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run them", PostgresEnv)
	}
	schema := strings.ToLower("t_" + snapglyph.NewID("s")[2:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("PostgreSQL at %s: %v", PostgresEnv, err)
	}
	tb.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	d.DSN = base + sep + "search_path=" + schema
	return d
}

// Clock is a settable clock for tests, safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock at t; install it with db.Now = c.Now.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Buffer collects output (logs) written from several goroutines.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// WriteString appends a string.
func (s *Buffer) WriteString(v string) (int, error) { return s.Write([]byte(v)) }

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Records returns the JSON log records (log/slog's JSON handler) written
// so far whose message is msg.
func (s *Buffer) Records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(s.String(), "\n") {
		var v map[string]any
		if json.Unmarshal([]byte(line), &v) == nil && v["msg"] == msg {
			out = append(out, v)
		}
	}
	return out
}

// OpenImpatient returns a new migrated SQLite database whose connections
// wait only 50 ms for another writer (the store's own wait is 10 s), with
// its file's path: a test that holds the file with LockSQLite sees the
// database as away at once.
func OpenImpatient(tb testing.TB) (*store.DB, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "impatient.db")
	db, err := store.Open("file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(50)&_txlock=immediate")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db, path
}

// LockSQLite holds the SQLite file at path with an exclusive transaction
// of another connection, as a backup or a second process would, until
// release is called.
func LockSQLite(ctx context.Context, path string) (release func(), err error) {
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, err
	}
	conn, err := other.Conn(ctx)
	if err == nil {
		_, err = conn.ExecContext(ctx, `BEGIN EXCLUSIVE`)
	}
	if err != nil {
		other.Close()
		return nil, err
	}
	return func() {
		conn.ExecContext(context.Background(), `ROLLBACK`)
		conn.Close()
		other.Close()
	}, nil
}
