package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// team is an organisation with an Owner, two Admins and two Members.
type team struct {
	org                    *snapglyph.Org
	owner, admin, admin2   *snapglyph.User
	member, member2, other *snapglyph.User // other: Owner of another organisation
}

func newTeam(t *testing.T, db *testdb.DB) *team {
	t.Helper()
	ctx := context.Background()
	tm := &team{}
	tm.org, tm.owner = account(t, db, snapglyph.PlanMax)
	_, tm.other = account(t, db, snapglyph.PlanPro)
	add := func(email string, r snapglyph.Role) *snapglyph.User {
		u, err := db.AddMember(ctx, tm.org.ID, email, r)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	tm.admin, tm.admin2 = add("a1@acme.test", snapglyph.RoleAdmin), add("a2@acme.test", snapglyph.RoleAdmin)
	tm.member, tm.member2 = add("m1@acme.test", snapglyph.RoleMember), add("m2@acme.test", snapglyph.RoleMember)
	return tm
}

func as(u *snapglyph.User) snapglyph.Actor {
	return snapglyph.Actor{UserID: u.ID, Label: u.Email, IP: "203.0.113.5"}
}

// TestChangeRoleRules is product §4.3: the Owner changes anyone's role but
// not their own; an Admin switches people between Member and Admin but
// never touches the Owner; a Member changes nothing.
func TestChangeRoleRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		for _, c := range []struct {
			name   string
			actor  *snapglyph.User
			target *snapglyph.User
			role   string
			want   string // error code, "" for success
		}{
			{"OwnerPromotesMember", tm.owner, tm.member, "admin", ""},
			{"OwnerDemotesAdmin", tm.owner, tm.member, "member", ""},
			{"ErrOwnerDemotesSelf", tm.owner, tm.owner, "admin", snapglyph.EFORBIDDEN},
			{"ErrOwnerMakesOwner", tm.owner, tm.member, "owner", snapglyph.EINVALID},
			{"AdminPromotesMember", tm.admin, tm.member, "admin", ""},
			{"AdminDemotesAdmin", tm.admin, tm.member, "member", ""},
			{"AdminDemotesOtherAdmin", tm.admin, tm.admin2, "member", ""},
			{"ErrAdminTouchesOwner", tm.admin, tm.owner, "member", snapglyph.EFORBIDDEN},
			{"ErrMemberPromotesSelf", tm.member2, tm.member2, "admin", snapglyph.EFORBIDDEN},
			{"ErrMemberDemotesAdmin", tm.member2, tm.admin, "member", snapglyph.EFORBIDDEN},
			{"ErrStranger", tm.other, tm.member, "admin", snapglyph.ENOTFOUND},
			{"ErrNoChange", tm.owner, tm.admin, "admin", snapglyph.ECONFLICT},
			{"ErrNotAMember", tm.owner, tm.other, "admin", snapglyph.ENOTFOUND},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, _, err := svc.ChangeRole(ctx, as(c.actor), tm.org.ID, c.target.ID, c.role)
				if got := snapglyph.ErrorKind(err); got != c.want {
					t.Errorf("got %q (%v), want %q", got, err, c.want)
				}
			})
		}
		if r, _ := db.Role(ctx, tm.org.ID, tm.owner.ID); r != snapglyph.RoleOwner {
			t.Errorf("the Owner's role is %s", r)
		}
		if r, _ := db.Role(ctx, tm.org.ID, tm.admin2.ID); r != snapglyph.RoleMember {
			t.Errorf("admin2's role is %s", r)
		}
	})
}

func TestRemoveMemberRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		for _, c := range []struct {
			name          string
			actor, target *snapglyph.User
			want          string
		}{
			{"ErrMemberRemoves", tm.member, tm.member2, snapglyph.EFORBIDDEN},
			{"ErrAdminRemovesOwner", tm.admin, tm.owner, snapglyph.EFORBIDDEN},
			{"ErrOwnerRemovesSelf", tm.owner, tm.owner, snapglyph.EFORBIDDEN},
			{"ErrStranger", tm.other, tm.member, snapglyph.ENOTFOUND},
			{"AdminRemovesMember", tm.admin, tm.member, ""},
			{"AdminRemovesAdmin", tm.admin, tm.admin2, ""},
			{"OwnerRemovesAdmin", tm.owner, tm.admin, ""},
			{"ErrGone", tm.owner, tm.admin, snapglyph.ENOTFOUND},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := svc.RemoveMember(ctx, as(c.actor), tm.org.ID, c.target.ID)
				if got := snapglyph.ErrorKind(err); got != c.want {
					t.Errorf("got %q (%v), want %q", got, err, c.want)
				}
			})
		}
		members, _ := svc.Members(ctx, as(tm.owner), tm.org.ID)
		if len(members) != 2 {
			t.Errorf("%d members left, want the Owner and member2", len(members))
		}
	})
}

func TestInvitationFlow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		clock := testdb.NewClock(t0)
		db.Now = clock.Now
		svc := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanPro)
		member, _ := db.AddMember(ctx, org.ID, "m@acme.test", snapglyph.RoleMember)

		for _, c := range []struct {
			actor       snapglyph.Actor
			email, role string
			want        string
		}{
			{as(member), "x@acme.test", "member", snapglyph.EFORBIDDEN},
			{as(owner), "x@acme.test", "owner", snapglyph.EINVALID},
			{as(owner), "not an email", "member", snapglyph.EINVALID},
			{as(owner), "m@acme.test", "member", snapglyph.ECONFLICT},
		} {
			if _, err := svc.Invite(ctx, c.actor, org.ID, c.email, c.role); snapglyph.ErrorKind(err) != c.want {
				t.Errorf("invite %s as %s by %s: %v, want %s", c.email, c.role, c.actor.Label, err, c.want)
			}
		}
		ni, err := svc.Invite(ctx, as(owner), org.ID, " New@Acme.test ", "Admin")
		if err != nil {
			t.Fatal(err)
		}
		if ni.Email != "new@acme.test" || ni.Role != snapglyph.RoleAdmin || !ni.ExpiresAt.Equal(t0.Add(service.InvitationLifetime)) || len(ni.Token) < 43 {
			t.Errorf("invitation %+v (token %d characters)", ni.Invitation, len(ni.Token))
		}
		if _, err := db.InvitationByToken(ctx, ni.Token); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Error("the invitation token is stored in clear")
		}
		inv, exists, err := svc.Invitation(ctx, ni.Token)
		if err != nil || exists || inv.ID != ni.ID {
			t.Fatalf("invitation by token: %+v %v %v", inv, exists, err)
		}
		// Seven days less a minute: still valid; accept as a new account.
		clock.Set(t0.Add(service.InvitationLifetime - time.Minute))
		if _, err := svc.AcceptInvitation(ctx, ni.Token, service.Accept{Name: "New", Password: "short"}, web); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("short password: %v", err)
		}
		ns, err := svc.AcceptInvitation(ctx, ni.Token, service.Accept{Name: "New Person", Password: testPassword}, web)
		if err != nil {
			t.Fatal(err)
		}
		if ns.OrgID != org.ID || ns.Role != snapglyph.RoleAdmin || ns.Email != "new@acme.test" {
			t.Errorf("session after joining %+v", ns.Session)
		}
		if _, _, err := svc.Invitation(ctx, ni.Token); snapglyph.ErrorCode(err) != "invitation_used" {
			t.Errorf("used link: %v", err)
		}

		// An expired link.
		late, _ := svc.Invite(ctx, as(owner), org.ID, "late@acme.test", "member")
		clock.Set(clock.Now().Add(service.InvitationLifetime))
		if _, _, err := svc.Invitation(ctx, late.Token); snapglyph.ErrorCode(err) != "invitation_expired" {
			t.Errorf("expired link: %v", err)
		}
		if _, err := svc.AcceptInvitation(ctx, late.Token, service.Accept{Name: "Late", Password: testPassword}, web); snapglyph.ErrorCode(err) != "invitation_expired" {
			t.Errorf("accept expired: %v", err)
		}

		// An existing account must prove it is theirs.
		_, other := account(t, db, snapglyph.PlanPro)
		inv2, _ := svc.Invite(ctx, as(owner), org.ID, other.Email, "member")
		if _, exists, _ := svc.Invitation(ctx, inv2.Token); !exists {
			t.Error("the invitation page does not know the email has an account")
		}
		if _, err := svc.AcceptInvitation(ctx, inv2.Token, service.Accept{Existing: true, Password: "mallory's password"}, web); snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
			t.Errorf("take over an existing account: %v, want EUNAUTHORIZED", err)
		}
		if _, err := svc.AcceptInvitation(ctx, inv2.Token, service.Accept{Name: "Mallory", Password: "mallory's password"}, web); snapglyph.ErrorCode(err) != "account_exists" {
			t.Errorf("a new account for an existing email: %v, want account_exists", err)
		}
		ns, err = svc.AcceptInvitation(ctx, inv2.Token, service.Accept{Existing: true, Password: testPassword}, web)
		if err != nil || ns.OrgID != org.ID || ns.Role != snapglyph.RoleMember {
			t.Fatalf("existing account joins: %+v %v", ns, err)
		}
		ms, _ := svc.Memberships(ctx, other.ID)
		if len(ms) != 2 {
			t.Errorf("memberships %d, want 2", len(ms))
		}

		// Cancelled.
		c, _ := svc.Invite(ctx, as(owner), org.ID, "c@acme.test", "member")
		if _, err := svc.CancelInvitation(ctx, as(member), org.ID, c.ID); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			t.Errorf("a Member cancels: %v", err)
		}
		if _, err := svc.CancelInvitation(ctx, as(owner), org.ID, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.Invitation(ctx, c.Token); snapglyph.ErrorCode(err) != "invitation_cancelled" {
			t.Errorf("cancelled link: %v", err)
		}
		if _, _, err := svc.Invitation(ctx, strings.Repeat("A", 43)); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("unknown link: %v", err)
		}
	})
}

func TestSubscriptionAndAuditAccess(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		if _, err := svc.Subscription(ctx, as(tm.owner), tm.org.ID); err != nil {
			t.Errorf("Owner: %v", err)
		}
		for _, u := range []*snapglyph.User{tm.admin, tm.member} {
			if _, err := svc.Subscription(ctx, as(u), tm.org.ID); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
				t.Errorf("%s: subscription %v, want EFORBIDDEN", u.Email, err)
			}
		}
		if _, err := svc.AuditLog(ctx, as(tm.admin), tm.org.ID, 0, 10); err != nil {
			t.Errorf("Admin reads the audit log: %v", err)
		}
		if _, err := svc.AuditLog(ctx, as(tm.member), tm.org.ID, 0, 10); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			t.Errorf("Member reads the audit log: %v", err)
		}
		if _, err := svc.Members(ctx, as(tm.other), tm.org.ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("stranger lists members: %v", err)
		}
	})
}
