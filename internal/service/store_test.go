package service_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestDashboardReads: the reads the dashboard makes go through the
// service's tenancy and role rules, and answer what was stored.
func TestDashboardReads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		user := func(u *snapglyph.User) snapglyph.Creator {
			return snapglyph.Creator{Type: snapglyph.CreatorUser, ID: u.ID, Name: u.Email}
		}

		// Spent: what was flushed, to Owners and Admins of the organisation.
		const period = "2026-11"
		batch := &snapglyph.UsageBatch{Orgs: map[snapglyph.PeriodKey]snapglyph.Counts{
			{ID: tm.org.ID, Period: period}: {APICalls: 7, ImageCredits: 30},
		}}
		if _, err := db.SaveUsage(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			actor snapglyph.Actor
			want  string // error kind, "" for success
		}{
			{"Owner", as(tm.owner), ""},
			{"Admin", as(tm.admin), ""},
			{"Operator", snapglyph.Operator, ""},
			{"ErrMember", as(tm.member), snapglyph.EFORBIDDEN},
			{"ErrStranger", as(tm.other), snapglyph.ENOTFOUND},
		} {
			t.Run("Spent/"+c.name, func(t *testing.T) {
				got, err := svc.Spent(ctx, c.actor, tm.org.ID, period)
				if snapglyph.ErrorKind(err) != c.want {
					t.Fatalf("err %v, want kind %q", err, c.want)
				}
				if want := (snapglyph.Counts{APICalls: 7, ImageCredits: 30}); c.want == "" && got != want {
					t.Fatalf("spent %+v, want %+v", got, want)
				}
			})
		}
		if got, err := svc.Spent(ctx, as(tm.owner), tm.org.ID, "2026-10"); err != nil || got != (snapglyph.Counts{}) {
			t.Fatalf("spent in a period without usage = %+v, %v; want zero", got, err)
		}

		// CountQRCodes: any member; a stranger learns nothing.
		for i := range 3 {
			name, typ := fmt.Sprintf("Code %d", i), "url"
			in := service.QRInput{Name: &name, Type: &typ, Content: []byte(`{"url":"https://example.com/"}`)}
			if _, err := svc.CreateQRCode(ctx, user(tm.member), tm.org.ID, in); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := svc.CountQRCodes(ctx, user(tm.member2), tm.org.ID); err != nil || n != 3 {
			t.Fatalf("CountQRCodes = %d, %v; want 3", n, err)
		}
		if n, err := svc.CountQRCodes(ctx, user(tm.other), tm.org.ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND || n != 0 {
			t.Fatalf("a stranger's CountQRCodes = %d, %v; want ENOTFOUND", n, err)
		}

		// SessionOrg: the session's own organisation.
		org, err := svc.SessionOrg(ctx, &snapglyph.Session{UserID: tm.admin.ID, OrgID: tm.org.ID})
		if err != nil || org.ID != tm.org.ID || org.Name != tm.org.Name {
			t.Fatalf("SessionOrg = %+v, %v; want %s", org, err, tm.org.ID)
		}
	})
}
