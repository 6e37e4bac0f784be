package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestChangesHeardInOrder: a node counts itself up to date with the
// highest change number it has heard of, and a management command waits
// for every node to reach the newest number (WaitApplied). So changes
// must be heard in the order of their numbers, even when two
// transactions that record one commit in the other order: otherwise a
// node that heard 9 counts as having applied 8, which it has not heard
// yet, and a command that paused a key returns while that node still
// serves it (found with 40 concurrent pauses on three nodes).
func TestChangesHeardInOrder(t *testing.T) {
	db := testdb.Open(t, "postgres")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ready := make(chan struct{})
	heard := make(chan snapglyph.Change, 16)
	go db.Listen(ctx, func() { close(ready) }, func(c snapglyph.Change) { heard <- c })
	<-ready

	for round := range 5 {
		// A records its change and stays open; B records one and
		// commits; then A commits.
		recorded, release, doneA := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			doneA <- db.RecordChangeThen(ctx, snapglyph.ChangeKey, "key_A", func() { close(recorded); <-release })
		}()
		<-recorded
		if err := db.RecordChangeThen(ctx, snapglyph.ChangeKey, "key_B", func() {}); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := <-doneA; err != nil {
			t.Fatal(err)
		}
		var got []snapglyph.Change
		for len(got) < 2 {
			select {
			case c := <-heard:
				got = append(got, c)
			case <-ctx.Done():
				t.Fatalf("round %d: heard %v", round, got)
			}
		}
		if got[0].RefID != "key_B" || got[1].RefID != "key_A" || got[0].Seq >= got[1].Seq {
			t.Fatalf("round %d: heard %v then %v: numbers not in the order the changes committed", round, got[0], got[1])
		}
		last, err := db.LastChange(ctx)
		if err != nil || last != got[1].Seq {
			t.Fatalf("round %d: newest change %d (%v), last heard %d", round, last, err, got[1].Seq)
		}
	}
}
