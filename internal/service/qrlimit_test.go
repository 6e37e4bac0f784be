package service_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// raceCreates sends n creates at once for orgID, spread over the
// services (one per node), and returns the codes made and the errors.
func raceCreates(t *testing.T, svcs []*service.Service, by snapglyph.Creator, orgID string, n int, idem func(i int) *snapglyph.Idempotency) (made []*snapglyph.QRCode, errs []error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, typ := fmt.Sprintf("Code %d", i), "url"
			in := service.QRInput{Name: &name, Type: &typ, Content: []byte(`{"url":"https://example.com/` + fmt.Sprint(i) + `"}`)}
			if idem != nil {
				// One request repeated: the same body each time.
				name = "Repeated"
				in.Content = []byte(`{"url":"https://example.com/repeated"}`)
			}
			var key *snapglyph.Idempotency
			if idem != nil {
				key = idem(i)
			}
			<-start
			c, err := svcs[i%len(svcs)].CreateQRCodeOnce(ctx, by, orgID, in, key)
			q := c.QR
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			} else {
				made = append(made, q)
			}
		}()
	}
	close(start)
	wg.Wait()
	return made, errs
}

// nodes returns the service on db and one on a second connection pool to
// the same database, as a second node (or the CLI next to a node) has.
func nodes(t *testing.T, db *testdb.DB) []*service.Service {
	t.Helper()
	other, err := store.Open(db.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	other.Now = db.Now
	return []*service.Service{service.New(db.DB), service.New(other)}
}

// TestQRCodeLimitConcurrent: the Starter plan's 5 QR codes hold against
// 50 creates sent at once through two nodes, and an ended trial follows
// the same rule; the others get qr_code_limit_reached and store nothing.
// Unlimited plans are not held back.
func TestQRCodeLimitConcurrent(t *testing.T) {
	const parallel = 50
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		svc := service.New(db.DB)
		newOrg := func(name, plan string) (*snapglyph.Org, snapglyph.Creator) {
			org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: name, OwnerEmail: strings.ToLower(name) + "@example.test", Plan: plan})
			if err != nil {
				t.Fatal(err)
			}
			return org, snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		}
		starter, starterBy := newOrg("Starter", "starter")
		trial, trialBy := newOrg("Trial", "trial")
		pro, proBy := newOrg("Pro", "pro")
		// The trial began 15 days ago: it ended yesterday.
		later := now.Add(15 * 24 * time.Hour)
		db.Now = func() time.Time { return later }
		svcs := nodes(t, db)

		for _, c := range []struct {
			name string
			org  *snapglyph.Org
			by   snapglyph.Creator
			want string // in the refusal
		}{
			{"starter", starter, starterBy, "the starter plan holds 5 QR codes and the organisation has 5"},
			{"ended trial", trial, trialBy, "trial ended on 2026-11-24; like the Starter plan it now holds 5 QR codes and has 5"},
		} {
			made, errs := raceCreates(t, svcs, c.by, c.org.ID, parallel, nil)
			if len(made) != 5 || len(errs) != parallel-5 {
				t.Errorf("%s: %d of %d parallel creates succeeded, want 5 (errors: %v)", c.name, len(made), parallel, first(errs))
			}
			for _, err := range errs {
				if snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN || snapglyph.ErrorCode(err) != "qr_code_limit_reached" || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%s: refusal %v, want EFORBIDDEN qr_code_limit_reached saying %q", c.name, err, c.want)
					break
				}
			}
			if n, err := db.CountQRCodes(ctx, c.org.ID); err != nil || n != 5 {
				t.Errorf("%s: %d QR codes stored (%v), want 5", c.name, n, err)
			}
		}

		made, errs := raceCreates(t, svcs, proBy, pro.ID, parallel, nil)
		if len(made) != parallel || len(errs) != 0 {
			t.Errorf("pro: %d of %d parallel creates succeeded: %v", len(made), parallel, first(errs))
		}
		if n, _ := db.CountQRCodes(ctx, pro.ID); n != parallel {
			t.Errorf("pro: %d QR codes stored, want %d", n, parallel)
		}

		// Back on a trial (the operator restarts it): unlimited again.
		if err := svc.SetPlan(ctx, snapglyph.Operator, trial.ID, "trial"); err != nil {
			t.Fatal(err)
		}
		if made, errs := raceCreates(t, svcs, trialBy, trial.ID, 10, nil); len(made) != 10 {
			t.Errorf("restarted trial: %d of 10 creates succeeded: %v", len(made), first(errs))
		}
	})
}

// TestQRCodeLimitIdempotent: a Starter organisation with one code left
// and one request retried ten times at once: one code is made, and every
// retry gets that code back (not a limit error).
func TestQRCodeLimitIdempotent(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, owner, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Small", OwnerEmail: "s@small.test", Plan: "starter"})
		if err != nil {
			t.Fatal(err)
		}
		by := snapglyph.Creator{Type: snapglyph.CreatorUser, ID: owner.ID, Name: owner.Email}
		svcs := nodes(t, db)
		if made, errs := raceCreates(t, svcs, by, org.ID, 4, nil); len(made) != 4 {
			t.Fatalf("first 4 codes: %v", first(errs))
		}
		idem := func(int) *snapglyph.Idempotency {
			return &snapglyph.Idempotency{Key: "order-1234", RequestHash: "same body"}
		}
		made, errs := raceCreates(t, svcs, by, org.ID, 10, idem)
		if len(made) != 10 {
			t.Fatalf("%d of 10 retries answered, errors: %v", len(made), errs)
		}
		for _, q := range made {
			if q.ID != made[0].ID {
				t.Fatalf("retries answered with codes %s and %s", made[0].ID, q.ID)
			}
		}
		if n, _ := db.CountQRCodes(ctx, org.ID); n != 5 {
			t.Errorf("%d QR codes stored, want 5", n)
		}
	})
}

func first(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}
