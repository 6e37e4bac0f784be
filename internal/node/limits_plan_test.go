package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestLimitBackToPlanReachesNode (review 4 #7): the operator returns an
// organisation's limits to its plan's (service.PlanLimit, what org
// set-limits --api-calls plan sends) and a running node's meter applies
// the plan's limits at once, as for any other limit change.
func TestLimitBackToPlanReachesNode(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		op := cli(t, db)
		org, key := newOrgKey(t, op, 3, 7) // Max plan, limits set by the operator
		n := startNode(t, db, node.Config{FlushInterval: 50 * time.Millisecond})
		limits := func() (string, string) {
			code, body, h := get(t, n.srv.URL, "/api/v1/usage", key)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			return h.Get("X-Ratelimit-Limit"), h.Get("X-Image-Credits-Limit")
		}
		if calls, credits := limits(); calls != "3" || credits != "7" {
			t.Fatalf("limits %s and %s, want the operator's 3 and 7", calls, credits)
		}
		plan := snapglyph.PlanMax.Limits()
		reset := service.PlanLimit
		if err := op.SetLimits(context.Background(), snapglyph.Operator, org.ID, &reset, &reset); err != nil {
			t.Fatal(err)
		}
		wantCalls, wantCredits := fmt.Sprint(plan.APICalls), fmt.Sprint(plan.ImageCredits)
		deadline := time.Now().Add(5 * time.Second) // SQLite: the node polls the change log
		for {
			calls, credits := limits()
			if calls == wantCalls && credits == wantCredits {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the node applies limits %s and %s, want the Max plan's %s and %s", calls, credits, wantCalls, wantCredits)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if o, err := db.Org(context.Background(), org.ID); err != nil || o.APICallsLimit != nil || o.ImageCreditsLimit != nil {
			t.Errorf("stored %+v, %v; want no operator limits", o, err)
		}
	})
}
