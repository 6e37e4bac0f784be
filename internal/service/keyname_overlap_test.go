package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestKeyNameHeldInOverlap: a rolled key keeps its name while its overlap
// lasts, shared with its roll chain only: after its replacement is
// renamed, no other key (created or renamed) may take the name; the
// replacement, and a key rolled from it in turn, may have it back; the old
// key's own rename follows the same rule. Once the overlap ends the name
// is free.
func TestKeyNameHeldInOverlap(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		ctx := context.Background()
		actor := as(e.owner)
		a := e.create(t, service.KeySpec{Name: "Roll-Chain"})
		b, err := e.svc.RollKey(ctx, actor, a.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RenameKey(ctx, actor, b.ID, "Roll-Chain-New"); err != nil {
			t.Fatal(err)
		}
		// The review's reproduction: A still works as "Roll-Chain".
		_, err = e.svc.CreateKey(ctx, actor, e.org.ID, "Roll-Chain")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		_, err = e.svc.CreateKey(ctx, actor, e.org.ID, "roll-chain")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		other := e.create(t, service.KeySpec{Name: "Other"})
		_, err = e.svc.RenameKey(ctx, actor, other.ID, "Roll-Chain")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		// The old key in its overlap may not take another working key's
		// name, but may take its replacement's.
		_, err = e.svc.RenameKey(ctx, actor, a.ID, "Other")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		// The replacement may have the name back.
		if _, err := e.svc.RenameKey(ctx, actor, b.ID, "Roll-Chain"); err != nil {
			t.Fatalf("the replacement taking back its old key's name: %v", err)
		}
		if _, err := e.svc.RenameKey(ctx, actor, a.ID, "Roll-Chain-Old"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RenameKey(ctx, actor, a.ID, "Roll-Chain"); err != nil {
			t.Fatalf("the old key taking its replacement's name: %v", err)
		}

		// A chain of two rolls: B rolled to C while A and B both work.
		e.clock.Set(lt0.Add(time.Hour))
		c, err := e.svc.RollKey(ctx, actor, b.ID, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RenameKey(ctx, actor, c.ID, "Roll-Chain-C"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RenameKey(ctx, actor, b.ID, "Roll-Chain-B"); err != nil {
			t.Fatal(err)
		}
		// A (until +24h) and B (until +3h) work; A holds "Roll-Chain", B
		// "Roll-Chain-B": against everyone but the chain.
		_, err = e.svc.CreateKey(ctx, actor, e.org.ID, "Roll-Chain")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		_, err = e.svc.CreateKey(ctx, actor, e.org.ID, "Roll-Chain-B")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		_, err = e.svc.RenameKey(ctx, actor, other.ID, "Roll-Chain-B")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		// C, two rolls from A, is in A's chain.
		if _, err := e.svc.RenameKey(ctx, actor, c.ID, "Roll-Chain"); err != nil {
			t.Fatalf("the chain's newest key taking the first key's name: %v", err)
		}
		if _, err := e.svc.RenameKey(ctx, actor, c.ID, "Roll-Chain-B"); err != nil {
			t.Fatalf("the chain's newest key taking its old key's name: %v", err)
		}
		if _, err := e.svc.RenameKey(ctx, actor, c.ID, "Roll-Chain-C"); err != nil {
			t.Fatal(err)
		}

		// B's overlap ends (+3h): its name is free; A's is still held.
		e.clock.Set(lt0.Add(3 * time.Hour))
		if _, err := e.svc.CreateKey(ctx, actor, e.org.ID, "Roll-Chain-B"); err != nil {
			t.Fatalf("the name of a key whose overlap ended: %v", err)
		}
		_, err = e.svc.CreateKey(ctx, actor, e.org.ID, "Roll-Chain")
		wantCode(t, err, snapglyph.ECONFLICT, "key_name_taken")
		// A's overlap ends: "Roll-Chain" is free too.
		e.clock.Set(lt0.Add(24 * time.Hour))
		if _, err := e.svc.RenameKey(ctx, actor, other.ID, "Roll-Chain"); err != nil {
			t.Fatalf("the name of a key whose overlap ended: %v", err)
		}
	})
}

// TestKeyNameOverlapEndedConcurrent: while a rolled key works under a
// name its renamed replacement left, six creates of that name sent at once
// through two nodes all fail; once its overlap is ended, six at once leave
// exactly one key with the name.
func TestKeyNameOverlapEndedConcurrent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newLifeEnv(t, db)
		svcs := nodes(t, db)
		ctx := context.Background()
		actor := as(e.owner)
		for round := 0; round < 3; round++ {
			name := "Race-" + snapglyph.NewID("r")
			a := e.create(t, service.KeySpec{Name: name})
			b, err := e.svc.RollKey(ctx, actor, a.ID, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.RenameKey(ctx, actor, b.ID, name+"-New"); err != nil {
				t.Fatal(err)
			}
			race := func() (ok int) {
				const n = 6
				var wg sync.WaitGroup
				errs := make([]error, n)
				start := make(chan struct{})
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func(i int) {
						defer wg.Done()
						<-start
						_, errs[i] = svcs[i%2].CreateKey(ctx, snapglyph.Operator, e.org.ID, name)
					}(i)
				}
				close(start)
				wg.Wait()
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case snapglyph.ErrorCode(err) != "key_name_taken":
						t.Errorf("unexpected error %v", err)
					}
				}
				return ok
			}
			if ok := race(); ok != 0 {
				t.Fatalf("round %d: %d creates took the name of a key in its overlap", round, ok)
			}
			if _, err := e.svc.EndOverlap(ctx, actor, a.ID); err != nil {
				t.Fatal(err)
			}
			if ok := race(); ok != 1 {
				t.Fatalf("round %d: %d creates succeeded once the overlap ended, want 1", round, ok)
			}
			keys, _ := db.Keys(ctx, e.org.ID, false)
			named := 0
			for _, k := range keys {
				if k.Name == name && !k.IsExpired(e.clock.Now()) {
					named++
				}
			}
			if named != 1 {
				t.Fatalf("round %d: %d working keys are named %q", round, named, name)
			}
		}
	})
}
