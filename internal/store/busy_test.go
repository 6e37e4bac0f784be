package store_test

import (
	"context"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSQLiteBusyIsUnavailable: another writer (a backup, a second
// process) holding the SQLite database past the busy timeout makes a
// write fail as "unavailable" — a 503 with Retry-After, as when
// PostgreSQL is away — not as an internal error (a 500 logged at ERROR).
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db, path := testdb.OpenImpatient(t)
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := db.CreateOrg(ctx, org, "o@acme.test", ""); err != nil {
		t.Fatal(err)
	}
	release, err := testdb.LockSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	err = db.SetPlan(ctx, org.ID, snapglyph.PlanMax, snapglyph.Operator)
	if err == nil || !store.IsUnavailable(err) {
		t.Fatalf("a write while another holds the database: %v; want an unavailable error", err)
	}
}
