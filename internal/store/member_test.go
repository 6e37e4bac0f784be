package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

func TestCreateAccount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		u, o := newAccount(t, db, snapglyph.PlanTrial)
		if role, err := db.Role(ctx, o.ID, u.ID); err != nil || role != snapglyph.RoleOwner {
			t.Fatalf("role %s (%v), want owner", role, err)
		}
		dup := &snapglyph.User{ID: snapglyph.NewID("usr"), Email: u.Email}
		other := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Other", Plan: snapglyph.PlanTrial}
		err := db.CreateAccount(ctx, dup, "hash", other, "")
		if snapglyph.ErrorKind(err) != snapglyph.ECONFLICT || snapglyph.ErrorCode(err) != "account_exists" {
			t.Fatalf("duplicate email: %v, want ECONFLICT account_exists", err)
		}
		if _, err := db.Org(ctx, other.ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Error("a refused sign-up left its organisation behind")
		}
		events, _ := db.AuditEvents(ctx, o.ID, 0, 10)
		if len(events) != 1 || events[0].Action != "org.created" || events[0].ActorLabel != u.Email || events[0].IP != "192.0.2.1" {
			t.Errorf("audit %+v", events)
		}
	})
}

func newInvitation(orgID, email string, role snapglyph.Role, expires time.Time) *snapglyph.Invitation {
	return &snapglyph.Invitation{ID: snapglyph.NewID("inv"), OrgID: orgID, Email: email, Role: role, ExpiresAt: expires}
}

func TestInvitationsStore(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		owner, o := newAccount(t, db, snapglyph.PlanPro)
		actor := snapglyph.Actor{UserID: owner.ID, Label: owner.Email, IP: "192.0.2.9"}
		week := t0.Add(7 * 24 * time.Hour)

		inv := newInvitation(o.ID, "grace@navy.test", snapglyph.RoleAdmin, week)
		if err := db.CreateInvitation(ctx, inv, "tok-1", 5, actor); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			email, reason string
		}{{"grace@navy.test", "already_invited"}, {owner.Email, "already_member"}} {
			err := db.CreateInvitation(ctx, newInvitation(o.ID, c.email, snapglyph.RoleMember, week), "tok-x", 5, actor)
			if snapglyph.ErrorCode(err) != c.reason {
				t.Errorf("invite %s: %v, want %s", c.email, err, c.reason)
			}
		}
		// Seats: 1 member + 1 pending of 2.
		err := db.CreateInvitation(ctx, newInvitation(o.ID, "third@acme.test", snapglyph.RoleMember, week), "tok-3", 2, actor)
		if snapglyph.ErrorCode(err) != "seat_limit_reached" {
			t.Errorf("invite past the seats: %v", err)
		}
		if n, _ := db.SeatsTaken(ctx, o.ID); n != 2 {
			t.Errorf("seats taken %d, want 2", n)
		}
		got, err := db.InvitationByToken(ctx, "tok-1")
		if err != nil || got.ID != inv.ID || got.OrgName != "Acme" || got.CreatedByLabel != owner.Email || !got.Pending(t0) {
			t.Fatalf("invitation by token: %+v %v", got, err)
		}

		// Accepting makes a user and a membership, and uses the link up.
		u, accepted, err := db.AcceptInvitation(ctx, "tok-1", snapglyph.Joiner{Name: "Grace", PasswordHash: "h", IP: "198.51.100.4"}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "grace@navy.test" || accepted.AcceptedAt.IsZero() {
			t.Errorf("accepted %+v %+v", u, accepted)
		}
		if role, _ := db.Role(ctx, o.ID, u.ID); role != snapglyph.RoleAdmin {
			t.Errorf("role %s", role)
		}
		if _, _, err := db.AcceptInvitation(ctx, "tok-1", snapglyph.Joiner{Name: "Again"}, 5); snapglyph.ErrorCode(err) != "invitation_used" {
			t.Errorf("second accept: %v", err)
		}

		// Cancelled and expired links fail, with reasons.
		c := newInvitation(o.ID, "c@acme.test", snapglyph.RoleMember, week)
		db.CreateInvitation(ctx, c, "tok-c", 5, actor)
		if _, err := db.CancelInvitation(ctx, "org_other", c.ID, actor); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("cancel from another organisation: %v", err)
		}
		if _, err := db.CancelInvitation(ctx, o.ID, c.ID, actor); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CancelInvitation(ctx, o.ID, c.ID, actor); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Errorf("cancel twice: %v", err)
		}
		if _, _, err := db.AcceptInvitation(ctx, "tok-c", snapglyph.Joiner{Name: "C"}, 5); snapglyph.ErrorCode(err) != "invitation_cancelled" {
			t.Errorf("accept cancelled: %v", err)
		}
		x := newInvitation(o.ID, "x@acme.test", snapglyph.RoleMember, t0.Add(time.Hour))
		db.CreateInvitation(ctx, x, "tok-x2", 5, actor)
		clock.Set(t0.Add(time.Hour))
		if _, _, err := db.AcceptInvitation(ctx, "tok-x2", snapglyph.Joiner{Name: "X"}, 5); snapglyph.ErrorCode(err) != "invitation_expired" {
			t.Errorf("accept expired: %v", err)
		}
		if invs, _ := db.Invitations(ctx, o.ID); len(invs) != 0 {
			t.Errorf("pending invitations %d, want 0", len(invs))
		}

		// An existing user joins with their account; the email must match.
		other, _ := newAccount(t, db, snapglyph.PlanPro)
		y := newInvitation(o.ID, other.Email, snapglyph.RoleMember, week)
		db.CreateInvitation(ctx, y, "tok-y", 5, actor)
		if _, _, err := db.AcceptInvitation(ctx, "tok-y", snapglyph.Joiner{Name: "New", PasswordHash: "h"}, 5); snapglyph.ErrorCode(err) != "account_exists" {
			t.Errorf("new account for an existing email: %v", err)
		}
		if _, _, err := db.AcceptInvitation(ctx, "tok-y", snapglyph.Joiner{UserID: u.ID}, 5); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Errorf("accept as another user: %v", err)
		}
		if _, _, err := db.AcceptInvitation(ctx, "tok-y", snapglyph.Joiner{UserID: other.ID}, 5); err != nil {
			t.Fatal(err)
		}

		events, _ := db.AuditEvents(ctx, o.ID, 0, 100)
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
		}
		want := "member.joined member.invited member.invited invitation.cancelled member.invited member.joined member.invited org.created"
		if fmt.Sprint(actions) != "["+want+"]" {
			t.Errorf("audit %v\nwant [%s]", actions, want)
		}
		if events[len(events)-3].ActorLabel != "grace@navy.test" || events[len(events)-3].IP != "198.51.100.4" {
			t.Errorf("member.joined by %q from %q", events[len(events)-3].ActorLabel, events[len(events)-3].IP)
		}
	})
}

// TestSeatsUnderConcurrency: invitations and joins racing for the last
// seats never pass the limit.
func TestSeatsUnderConcurrency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		_, o := newAccount(t, db, snapglyph.PlanPro)
		const seats, tries = 3, 8
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := 0; i < tries; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				inv := newInvitation(o.ID, fmt.Sprintf("p%d@acme.test", i), snapglyph.RoleMember, time.Now().Add(time.Hour))
				err := db.CreateInvitation(ctx, inv, fmt.Sprintf("tok-%d", i), seats, snapglyph.Operator)
				if err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				} else if snapglyph.ErrorCode(err) != "seat_limit_reached" {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != seats-1 {
			t.Errorf("%d invitations made it, want %d", ok, seats-1)
		}
		if n, _ := db.SeatsTaken(ctx, o.ID); n != seats {
			t.Errorf("seats taken %d, want %d", n, seats)
		}
	})
}

func TestMemberRoleAndRemoval(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		owner, o := newAccount(t, db, snapglyph.PlanPro)
		m, _ := db.AddMember(ctx, o.ID, "m@acme.test", snapglyph.RoleMember)
		if _, err := db.SetMemberRole(ctx, o.ID, owner.ID, snapglyph.RoleAdmin, snapglyph.Operator); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Errorf("change the Owner's role: %v", err)
		}
		if _, err := db.SetMemberRole(ctx, o.ID, m.ID, snapglyph.RoleOwner, snapglyph.Operator); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("make someone Owner: %v", err)
		}
		if _, err := db.SetMemberRole(ctx, o.ID, m.ID, snapglyph.RoleMember, snapglyph.Operator); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Errorf("no change: %v", err)
		}
		if _, err := db.RemoveMember(ctx, o.ID, owner.ID, snapglyph.Operator); snapglyph.ErrorKind(err) != snapglyph.ECONFLICT {
			t.Errorf("remove the Owner: %v", err)
		}
		if _, err := db.RemoveMember(ctx, o.ID, "usr_nope", snapglyph.Operator); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("remove a stranger: %v", err)
		}
		members, _ := db.Members(ctx, o.ID)
		if len(members) != 2 || members[0].Role != snapglyph.RoleOwner || members[1].Email != "m@acme.test" {
			t.Errorf("members %+v", members)
		}
		if email, err := db.RemoveMember(ctx, o.ID, m.ID, snapglyph.Operator); err != nil || email != "m@acme.test" {
			t.Fatalf("remove: %q %v", email, err)
		}
		// The account stays.
		if _, _, err := db.UserByEmail(ctx, "m@acme.test"); err != nil {
			t.Errorf("the removed member's account: %v", err)
		}
		if ms, _ := db.Memberships(ctx, m.ID); len(ms) != 0 {
			t.Errorf("memberships %+v", ms)
		}
	})
}
