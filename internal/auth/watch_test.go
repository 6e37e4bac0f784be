package auth_test

import (
	"context"
	"testing"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// TestSQLiteWatcherResyncsAfterPrune: entries pruned from the change log
// before the node read them (it was idle) are not silently skipped: the
// gap in the sequence makes the watcher drop every cache, so a key
// revoked in a pruned entry is refused.
func TestSQLiteWatcherResyncsAfterPrune(t *testing.T) {
	db, _, k := setup(t, "sqlite")
	ctx := context.Background()
	v := auth.NewVerifier(db.DB, 0)
	resyncs := 0
	w, err := auth.NewWatcher(ctx, db.DB, "node_test", v, func(c snapglyph.Change, resync bool) {
		if resync {
			resyncs++
			v.InvalidateAll()
			return
		}
		v.InvalidateKey(c.RefID)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Verify(ctx, k.Secret); err != nil { // cached
		t.Fatal(err)
	}
	other, err := store.Open(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	svc := service.New(other)
	if _, err := svc.RevokeKey(ctx, snapglyph.Operator, k.ID); err != nil {
		t.Fatal(err)
	}
	org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Other", OwnerEmail: "o@other.test", Plan: "pro"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPlan(ctx, snapglyph.Operator, org.ID, "max"); err != nil {
		t.Fatal(err)
	}
	// Prune everything but the newest entry: the revocation is gone.
	if n, err := other.PruneChanges(ctx, 0, 1); err != nil || n < 1 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	if err := w.Fresh(ctx); err != nil {
		t.Fatal(err)
	}
	if resyncs != 1 {
		t.Errorf("%d resyncs, want 1", resyncs)
	}
	if _, _, err := v.Verify(ctx, k.Secret); snapglyph.ErrorCode(err) != "api_key_revoked" {
		t.Fatalf("after the pruned revocation: %v, want api_key_revoked", err)
	}
	// No gap, no resync.
	if err := svc.SetPlan(ctx, snapglyph.Operator, org.ID, "pro"); err != nil {
		t.Fatal(err)
	}
	if err := w.Fresh(ctx); err != nil {
		t.Fatal(err)
	}
	if resyncs != 1 {
		t.Errorf("%d resyncs after a contiguous change, want 1", resyncs)
	}
}
