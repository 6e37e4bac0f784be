package service_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestActorBoundToOrg: a person who is an Admin of two organisations and
// acts in A (Actor.OrgID, as a dashboard session sets it) gets ENOTFOUND
// for every action on B's keys, members, invitations and settings, and
// nothing of B changes; bound to B, or as the operator, the same calls
// work.
func TestActorBoundToOrg(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		orgA, owner := account(t, db, snapglyph.PlanPro)
		orgB, ownerB := account(t, db, snapglyph.PlanPro)
		if _, err := db.AddMember(ctx, orgB.ID, owner.Email, snapglyph.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		memberB, err := db.AddMember(ctx, orgB.ID, "m@b.test", snapglyph.RoleMember)
		if err != nil {
			t.Fatal(err)
		}
		op := snapglyph.Operator
		active, err := svc.CreateKey(ctx, op, orgB.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}
		paused, _ := svc.CreateKey(ctx, op, orgB.ID, "Paused-Worker")
		if _, err := svc.PauseKey(ctx, op, paused.ID); err != nil {
			t.Fatal(err)
		}
		rolled, _ := svc.CreateKey(ctx, op, orgB.ID, "Rolled-Worker")
		if _, err := svc.RollKey(ctx, op, rolled.ID, time.Hour); err != nil {
			t.Fatal(err)
		}
		inv, err := svc.Invite(ctx, op, orgB.ID, "x@b.test", "member")
		if err != nil {
			t.Fatal(err)
		}

		snapshot := func() string {
			keys, _ := db.Keys(ctx, orgB.ID, true)
			events, _ := db.AuditEvents(ctx, orgB.ID, 0, 1000)
			members, _ := db.Members(ctx, orgB.ID)
			invs, _ := db.Invitations(ctx, orgB.ID)
			org, _ := db.Org(ctx, orgB.ID)
			s := fmt.Sprintf("events %d; org %+v;", len(events), *org)
			for _, k := range keys {
				s += fmt.Sprintf(" key %+v;", *k)
			}
			for _, m := range members {
				s += fmt.Sprintf(" member %+v;", *m)
			}
			for _, i := range invs {
				s += fmt.Sprintf(" invitation %+v;", *i)
			}
			return s
		}
		before := snapshot()

		inA := as(owner)
		inA.OrgID = orgA.ID
		ip := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		calls := []struct {
			name string
			call func(snapglyph.Actor) error
		}{
			{"Key", func(a snapglyph.Actor) error { _, err := svc.Key(ctx, a, active.ID); return err }},
			{"KeyEvents", func(a snapglyph.Actor) error { _, err := svc.KeyEvents(ctx, a, active.ID, 10); return err }},
			{"KeyActivity", func(a snapglyph.Actor) error { _, err := svc.KeyActivity(ctx, a, active.ID, nil); return err }},
			{"Keys", func(a snapglyph.Actor) error { _, err := svc.Keys(ctx, a, orgB.ID, true); return err }},
			{"Spent", func(a snapglyph.Actor) error { _, err := svc.Spent(ctx, a, orgB.ID, "2026-11"); return err }},
			{"Members", func(a snapglyph.Actor) error { _, err := svc.Members(ctx, a, orgB.ID); return err }},
			{"Invitations", func(a snapglyph.Actor) error { _, err := svc.Invitations(ctx, a, orgB.ID); return err }},
			{"AuditLog", func(a snapglyph.Actor) error { _, err := svc.AuditLog(ctx, a, orgB.ID, 0, 10); return err }},
			{"LeakAction", func(a snapglyph.Actor) error { _, err := svc.LeakAction(ctx, a, orgB.ID); return err }},
			{"Notices", func(a snapglyph.Actor) error { _, err := svc.Notices(ctx, a, orgB.ID, 0, 10); return err }},
			{"RequestLog", func(a snapglyph.Actor) error {
				_, _, err := svc.RequestLog(ctx, a, orgB.ID, service.LogQuery{})
				return err
			}},
		}
		// Writes: each must fail bound to A (the state is compared after).
		writes := []struct {
			name string
			call func(snapglyph.Actor) error
		}{
			{"CreateKey", func(a snapglyph.Actor) error { _, err := svc.CreateKey(ctx, a, orgB.ID, "Intruder-Key"); return err }},
			{"PauseKeyWith", func(a snapglyph.Actor) error {
				_, err := svc.PauseKeyWith(ctx, a, active.ID, "mine now", time.Time{})
				return err
			}},
			{"ResumeKey", func(a snapglyph.Actor) error { _, err := svc.ResumeKey(ctx, a, paused.ID); return err }},
			{"RevokeKey", func(a snapglyph.Actor) error { _, err := svc.RevokeKey(ctx, a, active.ID); return err }},
			{"RenameKey", func(a snapglyph.Actor) error { _, err := svc.RenameKey(ctx, a, active.ID, "Renamed-Key"); return err }},
			{"RestrictKey", func(a snapglyph.Actor) error {
				_, err := svc.RestrictKey(ctx, a, active.ID, snapglyph.Scopes(snapglyph.ScopeUsageRead), ip)
				return err
			}},
			{"RollKey", func(a snapglyph.Actor) error { _, err := svc.RollKey(ctx, a, active.ID, 0); return err }},
			{"EndOverlap", func(a snapglyph.Actor) error { _, err := svc.EndOverlap(ctx, a, rolled.ID); return err }},
			{"Invite", func(a snapglyph.Actor) error { _, err := svc.Invite(ctx, a, orgB.ID, "y@b.test", "admin"); return err }},
			{"CancelInvitation", func(a snapglyph.Actor) error { _, err := svc.CancelInvitation(ctx, a, orgB.ID, inv.ID); return err }},
			{"ChangeRole", func(a snapglyph.Actor) error {
				_, _, err := svc.ChangeRole(ctx, a, orgB.ID, memberB.ID, "admin")
				return err
			}},
			{"RemoveMember", func(a snapglyph.Actor) error { _, err := svc.RemoveMember(ctx, a, orgB.ID, memberB.ID); return err }},
			{"SetLeakAction", func(a snapglyph.Actor) error { return svc.SetLeakAction(ctx, a, orgB.ID, snapglyph.LeakRevoke) }},
		}
		for _, c := range append(calls, writes...) {
			err := c.call(inA)
			if snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
				t.Errorf("%s on B's things, acting in A: %v, want ENOTFOUND", c.name, err)
			}
		}
		if after := snapshot(); after != before {
			t.Errorf("organisation B changed:\nbefore %s\nafter  %s", before, after)
		}
		// The key's error names the key, not the organisation it is in.
		if _, err := svc.RevokeKey(ctx, inA, active.ID); err == nil || snapglyph.ErrorMessage(err) != fmt.Sprintf("no API key has the id %q", active.ID) {
			t.Errorf("revoke of another organisation's key: %v", err)
		}

		// Bound to B, and unbound (an Admin of B), the reads work: the
		// refusals above come from the binding, not from the role.
		inB := as(owner)
		inB.OrgID = orgB.ID
		for _, a := range []snapglyph.Actor{inB, as(owner), as(ownerB)} {
			for _, c := range calls {
				if err := c.call(a); err != nil {
					t.Errorf("%s as %s in %q: %v", c.name, a.Label, a.OrgID, err)
				}
			}
		}
		if _, err := svc.RenameKey(ctx, inB, active.ID, "Renamed-Key"); err != nil {
			t.Errorf("rename acting in B: %v", err)
		}
	})
}
