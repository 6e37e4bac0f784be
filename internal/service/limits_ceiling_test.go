package service_test

import (
	"context"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestSetLimitsPlanAndCeiling (review 4 #7): PlanLimit returns a limit to
// the plan's (stored as none), -1 stays an error, and a limit a
// limit above MaxLimit (10^12, which every JSON client reads exactly) is refused.
func TestSetLimitsPlanAndCeiling(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		org, _, err := svc.CreateOrg(ctx, service.NewOrg{Name: "Acme", OwnerEmail: "o@acme.test", Plan: "max"})
		if err != nil {
			t.Fatal(err)
		}
		most, over, neg, reset := int64(service.MaxLimit), int64(service.MaxLimit)+1, int64(-1), service.PlanLimit
		if err := svc.SetLimits(ctx, snapglyph.Operator, org.ID, &most, &most); err != nil {
			t.Fatal(err)
		}
		for _, v := range []*int64{&over, &neg} {
			if err := svc.SetLimits(ctx, snapglyph.Operator, org.ID, v, nil); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
				t.Errorf("SetLimits(%d): %v, want EINVALID", *v, err)
			}
		}
		if err := svc.SetLimits(ctx, snapglyph.Operator, org.ID, &reset, nil); err != nil {
			t.Fatal(err)
		}
		o, err := db.Org(ctx, org.ID)
		if err != nil || o.APICallsLimit != nil || o.APICallLimit() != snapglyph.PlanMax.Limits().APICalls || o.ImageCreditLimit() != most {
			t.Errorf("after PlanLimit: %+v, %v", o, err)
		}
	})
}
