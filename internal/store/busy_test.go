package store_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// TestSQLiteBusyIsUnavailable: another writer (a backup, a second
// process) holding the SQLite database past the busy timeout makes a
// write fail as "unavailable" — a 503 with Retry-After, as when
// PostgreSQL is away — not as an internal error (a 500 logged at ERROR).
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "busy.db")
	db, err := store.Open("file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(50)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := db.CreateOrg(ctx, org, "o@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(50)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(ctx, `ROLLBACK`)
	err = db.SetPlan(ctx, org.ID, snapglyph.PlanMax, snapglyph.Operator)
	if err == nil || !store.IsUnavailable(err) {
		t.Fatalf("a write while another holds the database: %v; want an unavailable error", err)
	}
}
