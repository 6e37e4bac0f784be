package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestConcurrentFirstOpen: six handles (standing in for nodes and CLI
// commands started at the same moment) open and migrate a new database at
// once, ten times over; every one succeeds and the schema is complete.
// Before the fix, PostgreSQL failed with a unique violation on
// pg_type_typname_nsp_index (two CREATE TABLE IF NOT EXISTS of
// schema_migrations) and SQLite with "database is locked" (two
// connections switching a new file to WAL).
func TestConcurrentFirstOpen(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			for round := 0; round < 10; round++ {
				fresh := testdb.Fresh(t, dialect)
				const handles = 6
				errs := make([]error, handles)
				gate := make(chan struct{})
				var wg sync.WaitGroup
				for i := 0; i < handles; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						<-gate
						errs[i] = openAndUse(fresh.DSN, fmt.Sprintf("node%d", i))
					}(i)
				}
				close(gate)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("round %d: handle %d: %v", round, i, err)
					}
				}
				db, err := store.Open(fresh.DSN)
				if err != nil {
					t.Fatal(err)
				}
				var applied int
				err = db.SQL().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&applied)
				db.Close()
				files, _ := filepath.Glob(filepath.Join("migrations", dialect, "*.sql"))
				if err != nil || applied != len(files) || applied == 0 {
					t.Fatalf("round %d: %d migrations recorded (%v), %d files", round, applied, err, len(files))
				}
			}
		})
	}
}

// openAndUse does what a starting node does with the database: open,
// migrate, read the change log and write its row in the nodes table.
func openAndUse(dsn, node string) error {
	ctx := context.Background()
	db, err := store.Open(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	if _, err := db.LastChange(ctx); err != nil {
		return err
	}
	return db.SetNode(ctx, node, 0, true)
}

// TestOpenBadSQLitePath: a SQLite path that cannot be a database is
// refused with the operating system's reason and the path, and creates
// nothing.
func TestOpenBadSQLitePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte(strings.Repeat("not SQLite ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, want string
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "x.db"), "no such file or directory"},
		{"a directory", dir, "is a directory"},
		{"under a file", filepath.Join(file, "x.db"), "not a directory"},
		{"not a database", file, "not a database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := store.Open(tt.path)
			if err == nil {
				// SQLite reads the file at the first query.
				err = db.Migrate(context.Background())
				db.Close()
			}
			if err == nil {
				t.Fatalf("opened and migrated %s", tt.path)
			}
			if !strings.Contains(err.Error(), tt.want) || (tt.want != "not a database" && !strings.Contains(err.Error(), tt.path)) {
				t.Errorf("error %q does not give %q and the path", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "no")); !os.IsNotExist(err) {
		t.Errorf("a refused open created something: %v", err)
	}
}

// TestOpenBadSQLitePermission: a directory the process may not write is
// refused as "permission denied". Root may write anywhere, so the test
// needs another user.
func TestOpenBadSQLitePermission(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root, who may write anywhere: permission denied cannot happen")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.db")
	db, err := store.Open(path)
	if err == nil {
		db.Close()
		t.Fatal("opened a database in a read-only directory")
	}
	if !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not say permission denied for the path", err)
	}
}
