package service_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// signIn starts a session of the user (password testPassword) from a
// client of its own.
func signIn(t *testing.T, svc *service.Service, email string, ip string) *service.NewSession {
	t.Helper()
	ns, err := svc.SignIn(context.Background(), email, testPassword, service.Client{IP: ip, UserAgent: "test"}, "")
	if err != nil {
		t.Fatalf("sign in %s: %v", email, err)
	}
	return ns
}

func sessionLive(svc *service.Service, token string) bool {
	_, err := svc.Session(context.Background(), token)
	return err == nil
}

// TestChangePassword is review 5 #1: a person changes their password with
// the current one; every other session ends, this one goes on with a new
// token; the old password no longer signs in.
func TestChangePassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		here := signIn(t, svc, tm.owner.Email, "203.0.113.5")
		laptop := signIn(t, svc, tm.owner.Email, "198.51.100.7")
		if _, err := svc.SwitchOrg(ctx, laptop.Session, laptop.Token, tm.org.ID, web); err != nil {
			t.Fatal(err)
		}
		other, _ := svc.Invite(ctx, snapglyph.Operator, tm.org.ID, tm.other.Email, "member")
		if _, err := svc.AcceptInvitation(ctx, other.Token, service.Accept{Existing: true, Password: testPassword}, web); err != nil {
			t.Fatal(err)
		}
		phone := signIn(t, svc, tm.owner.Email, "192.0.2.1")
		strangers := signIn(t, svc, tm.other.Email, "192.0.2.2")
		if n, err := svc.OtherSessions(ctx, here.Session); err != nil || n != 2 {
			t.Errorf("other sessions %d %v, want 2 (the switch replaced the laptop's token)", n, err)
		}

		for _, c := range []struct {
			name, current, next, field string
		}{
			{"ErrNoCurrent", "", "a new long password", "current_password"},
			{"ErrShort", testPassword, "short", "new_password"},
			{"ErrSpaces", testPassword, strings.Repeat(" ", 12), "new_password"},
			{"ErrRepeated", testPassword, strings.Repeat("a", 12), "new_password"},
			{"ErrThreeChars", testPassword, "abcabcabcabc", "new_password"},
			{"ErrSame", testPassword, testPassword, "new_password"},
			{"ErrInvalidUTF8", testPassword, "long password \xff\xfe", "new_password"},
			{"ErrNUL", testPassword, "long pass\x00word", "new_password"},
			{"ErrHuge", testPassword, strings.Repeat("abcd", 300), "new_password"},
			{"ErrHugeCurrent", strings.Repeat("x", 2000), "a new long password", "current_password"},
			{"ErrWrongCurrent", "not the password", "a new long password", "current_password"},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := svc.ChangePassword(ctx, here.Session, here.Token, c.current, c.next, web)
				var e *snapglyph.Error
				if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != c.field {
					t.Fatalf("got %v, want an error on %s", err, c.field)
				}
			})
		}
		if !sessionLive(svc, phone.Token) || !sessionLive(svc, here.Token) {
			t.Fatal("a refused change ended sessions")
		}

		// A session past its end, not yet pruned: ended too, not counted.
		stale := signIn(t, svc, tm.owner.Email, "192.0.2.9")
		q := `UPDATE sessions SET expires_at = 1 WHERE id = ?`
		if db.Dialect == "postgres" {
			q = `UPDATE sessions SET expires_at = 1 WHERE id = $1`
		}
		if _, err := db.SQL().ExecContext(ctx, q, stale.Session.ID); err != nil {
			t.Fatal(err)
		}
		ch, err := svc.ChangePassword(ctx, here.Session, here.Token, testPassword, "a new long password", web)
		if err != nil {
			t.Fatal(err)
		}
		if ch.Ended != 2 || ch.Token == here.Token || ch.OrgID != here.OrgID || !ch.ExpiresAt.Equal(here.ExpiresAt) {
			t.Errorf("changed: ended %d, session %+v", ch.Ended, ch.Session)
		}
		if sessionLive(svc, here.Token) || sessionLive(svc, phone.Token) {
			t.Error("the old token or another session still works")
		}
		if !sessionLive(svc, ch.Token) || !sessionLive(svc, strangers.Token) {
			t.Error("the new session, or someone else's, ended")
		}
		if _, err := svc.SignIn(ctx, tm.owner.Email, testPassword, web, ""); snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
			t.Errorf("old password signs in: %v", err)
		}
		if _, err := svc.SignIn(ctx, tm.owner.Email, "a new long password", web, ""); err != nil {
			t.Errorf("new password: %v", err)
		}
		ev, _ := db.AuditEvents(ctx, tm.org.ID, 0, 1)
		if len(ev) != 1 || ev[0].Action != "user.password_changed" || ev[0].Actor != "user:"+tm.owner.ID || ev[0].IP != web.IP {
			t.Errorf("audit %+v", ev[0])
		}
	})
}

// TestChangePasswordThrottled: the current password is checked as a
// sign-in checks it; from the 6th failure the account waits, and while
// it waits even the right password is not checked.
func TestChangePasswordThrottled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)
		_, owner := account(t, db, snapglyph.PlanPro)
		ns := signIn(t, svc, owner.Email, web.IP)
		for i := 0; i < service.ThrottleAccountFree; i++ {
			if _, err := svc.ChangePassword(ctx, ns.Session, ns.Token, "wrong password", "a new long password", web); snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
				t.Fatalf("try %d: %v", i, err)
			}
		}
		_, err := svc.ChangePassword(ctx, ns.Session, ns.Token, testPassword, "a new long password", web)
		var te *service.ThrottledError
		if !errors.As(err, &te) || te.RetryAfter <= 0 {
			t.Fatalf("after %d failures: %v, want ERATELIMIT", service.ThrottleAccountFree, err)
		}
	})
}

// TestSignOutOthers is "sign out everywhere else": every other session of
// the person ends, in every organisation; this one goes on.
func TestSignOutOthers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		a := signIn(t, svc, tm.owner.Email, "203.0.113.5")
		b := signIn(t, svc, tm.owner.Email, "198.51.100.7")
		c := signIn(t, svc, tm.owner.Email, "192.0.2.1")
		m := signIn(t, svc, tm.other.Email, "192.0.2.1")
		n, err := svc.SignOutOthers(ctx, a.Session)
		if err != nil || n != 2 {
			t.Fatalf("ended %d %v, want 2", n, err)
		}
		if !sessionLive(svc, a.Token) || sessionLive(svc, b.Token) || sessionLive(svc, c.Token) || !sessionLive(svc, m.Token) {
			t.Error("wrong sessions ended")
		}
		if n, _ := svc.OtherSessions(ctx, a.Session); n != 0 {
			t.Errorf("other sessions %d after", n)
		}
	})
}

// TestOperatorSetsPassword is the CLI's reset of a forgotten password:
// every session ends, the throttle is cleared, each organisation's audit
// log says the operator did it; people cannot.
func TestOperatorSetsPassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		s := signIn(t, svc, tm.owner.Email, web.IP)
		for i := 0; i <= service.ThrottleAccountFree; i++ {
			svc.SignIn(ctx, tm.owner.Email, "forgotten password", web, "")
		}
		if _, _, err := svc.SetPassword(ctx, as(tm.admin), tm.owner.Email, "a new long password"); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			t.Errorf("an Admin sets the Owner's password: %v", err)
		}
		for _, c := range []struct{ name, email, password, want string }{
			{"ErrUnknown", "nobody@acme.test", "a new long password", snapglyph.ENOTFOUND},
			{"ErrEmail", "not an email", "a new long password", snapglyph.EINVALID},
			{"ErrEmailNUL", "a\x00@acme.test", "a new long password", snapglyph.EINVALID},
			{"ErrEmailUTF8", "a\xff@acme.test", "a new long password", snapglyph.EINVALID},
			{"ErrEmailHuge", strings.Repeat("a", 100000) + "@acme.test", "a new long password", snapglyph.EINVALID},
			{"ErrWeak", tm.owner.Email, "aaaaaaaaaaaa", snapglyph.EINVALID},
		} {
			if _, _, err := svc.SetPassword(ctx, snapglyph.Operator, c.email, c.password); snapglyph.ErrorKind(err) != c.want {
				t.Errorf("%s: %v, want %s", c.name, err, c.want)
			}
		}
		u, ended, err := svc.SetPassword(ctx, snapglyph.Operator, " "+strings.ToUpper(tm.owner.Email)+" ", "a new long password")
		if err != nil || u.ID != tm.owner.ID || ended != 1 {
			t.Fatalf("set: %+v %d %v", u, ended, err)
		}
		if sessionLive(svc, s.Token) {
			t.Error("the session goes on")
		}
		if _, err := svc.SignIn(ctx, tm.owner.Email, "a new long password", web, ""); err != nil {
			t.Errorf("sign in with the new password at once: %v", err)
		}
		ev, _ := db.AuditEvents(ctx, tm.org.ID, 0, 1)
		if len(ev) != 1 || ev[0].Action != "user.password_reset" || ev[0].Actor != "operator" || ev[0].TargetID != tm.owner.ID {
			t.Errorf("audit %+v", ev[0])
		}
	})
}

// TestTransferOwnership is review 5 #2: the Owner makes an Admin the
// Owner and becomes an Admin; nobody else may; a Member cannot be made
// Owner from the dashboard; the operator may make any member the Owner.
func TestTransferOwnership(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		for _, c := range []struct {
			name          string
			actor, target *snapglyph.User
			want          string
		}{
			{"ErrAdmin", tm.admin, tm.admin2, snapglyph.EFORBIDDEN},
			{"ErrMember", tm.member, tm.admin, snapglyph.EFORBIDDEN},
			{"ErrStranger", tm.other, tm.admin, snapglyph.ENOTFOUND},
			{"ErrToMember", tm.owner, tm.member, snapglyph.ECONFLICT},
			{"ErrToSelf", tm.owner, tm.owner, snapglyph.ECONFLICT},
			{"ErrNotAMember", tm.owner, tm.other, snapglyph.ENOTFOUND},
		} {
			if _, _, err := svc.TransferOwnership(ctx, as(c.actor), tm.org.ID, c.target.ID); snapglyph.ErrorKind(err) != c.want {
				t.Errorf("%s: %v, want %s", c.name, err, c.want)
			}
		}
		from, to, err := svc.TransferOwnership(ctx, as(tm.owner), tm.org.ID, tm.admin.ID)
		if err != nil || from != tm.owner.Email || to != tm.admin.Email {
			t.Fatalf("transfer: %s %s %v", from, to, err)
		}
		roles := func() map[string]snapglyph.Role {
			ms, _ := db.Members(ctx, tm.org.ID)
			out := map[string]snapglyph.Role{}
			for _, m := range ms {
				out[m.ID] = m.Role
			}
			return out
		}
		if r := roles(); r[tm.admin.ID] != snapglyph.RoleOwner || r[tm.owner.ID] != snapglyph.RoleAdmin {
			t.Errorf("roles after %v", r)
		}
		// The old Owner, now an Admin, can be removed; the new one cannot.
		if _, err := svc.RemoveMember(ctx, as(tm.admin), tm.org.ID, tm.admin.ID); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			t.Errorf("the new Owner removed: %v", err)
		}
		if _, _, err := svc.TransferOwnership(ctx, as(tm.owner), tm.org.ID, tm.admin2.ID); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			t.Errorf("the old Owner transfers again: %v", err)
		}
		// The operator, by email, to a Member.
		if _, _, err := svc.SetOwner(ctx, as(tm.admin), tm.org.ID, tm.member.Email); snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			t.Errorf("a person uses SetOwner: %v", err)
		}
		if _, _, err := svc.SetOwner(ctx, snapglyph.Operator, tm.org.ID, tm.other.Email); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("the owner of another organisation: %v", err)
		}
		if _, _, err := svc.SetOwner(ctx, snapglyph.Operator, "org_nope", tm.member.Email); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("unknown organisation: %v", err)
		}
		if _, _, err := svc.SetOwner(ctx, snapglyph.Operator, tm.org.ID, " "+strings.ToUpper(tm.member.Email)); err != nil {
			t.Fatal(err)
		}
		if r := roles(); r[tm.member.ID] != snapglyph.RoleOwner || r[tm.admin.ID] != snapglyph.RoleAdmin {
			t.Errorf("roles after the operator %v", r)
		}
		ev, _ := db.AuditEvents(ctx, tm.org.ID, 0, 1)
		if len(ev) != 1 || ev[0].Action != "org.owner_transferred" || ev[0].Actor != "operator" {
			t.Errorf("audit %+v", ev)
		}
	})
}

// TestTransferOwnershipRace: concurrent transfers (and role changes of
// the people involved) leave exactly one Owner.
func TestTransferOwnershipRace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(3)
			go func() { defer wg.Done(); svc.TransferOwnership(ctx, as(tm.owner), tm.org.ID, tm.admin.ID) }()
			go func() { defer wg.Done(); svc.TransferOwnership(ctx, as(tm.owner), tm.org.ID, tm.admin2.ID) }()
			go func() { defer wg.Done(); svc.SetOwner(ctx, snapglyph.Operator, tm.org.ID, tm.member.Email) }()
		}
		wg.Wait()
		ms, err := db.Members(ctx, tm.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, m := range ms {
			if m.Role == snapglyph.RoleOwner {
				owners++
			}
		}
		if owners != 1 || len(ms) != 5 {
			t.Errorf("%d Owners among %d members, want 1 among 5", owners, len(ms))
		}
	})
}

// TestRemovalCancelsInvitations is review 5 #4: an Admin's pending
// invitations are cancelled (audited) when they are removed or made a
// Member; others' stay.
func TestRemovalCancelsInvitations(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		door, err := svc.Invite(ctx, as(tm.admin), tm.org.ID, "alt@evil.test", "admin")
		if err != nil {
			t.Fatal(err)
		}
		door2, _ := svc.Invite(ctx, as(tm.admin2), tm.org.ID, "alt2@evil.test", "admin")
		kept, _ := svc.Invite(ctx, as(tm.owner), tm.org.ID, "kept@acme.test", "member")
		if _, err := svc.RemoveMember(ctx, as(tm.owner), tm.org.ID, tm.admin.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AcceptInvitation(ctx, door.Token, service.Accept{Name: "Alt", Password: testPassword}, web); snapglyph.ErrorCode(err) != "invitation_cancelled" {
			t.Errorf("the removed Admin's invitation: %v, want invitation_cancelled", err)
		}
		if _, _, err := svc.ChangeRole(ctx, as(tm.owner), tm.org.ID, tm.admin2.ID, "member"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AcceptInvitation(ctx, door2.Token, service.Accept{Name: "Alt", Password: testPassword}, web); snapglyph.ErrorCode(err) != "invitation_cancelled" {
			t.Errorf("the demoted Admin's invitation: %v, want invitation_cancelled", err)
		}
		if _, _, err := svc.Invitation(ctx, kept.Token); err != nil {
			t.Errorf("the Owner's invitation: %v", err)
		}
		ev, _ := db.AuditEvents(ctx, tm.org.ID, 0, 10)
		var cancelled []string
		for _, e := range ev {
			if e.Action == "invitation.cancelled" && e.Actor == "user:"+tm.owner.ID {
				cancelled = append(cancelled, e.TargetName)
			}
		}
		if strings.Join(cancelled, ",") != "alt2@evil.test,alt@evil.test" {
			t.Errorf("audited cancellations %v", cancelled)
		}
	})
}

// TestInviteThrottled is review 5 #3: invitations made by people count per
// network, as sign-ups do; the operator's do not.
func TestInviteThrottled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)
		org, owner := account(t, db, snapglyph.PlanMax)
		for i := 0; i < service.InviteFree; i++ {
			ni, err := svc.Invite(ctx, as(owner), org.ID, "p"+string(rune('a'+i))+"@x.test", "member")
			if err != nil {
				t.Fatalf("invitation %d: %v", i, err)
			}
			if _, err := svc.CancelInvitation(ctx, as(owner), org.ID, ni.ID); err != nil {
				t.Fatal(err)
			}
		}
		_, err := svc.Invite(ctx, as(owner), org.ID, "one-more@x.test", "member")
		var te *service.ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("invitation %d: %v, want ERATELIMIT", service.InviteFree+1, err)
		}
		other := as(owner)
		other.IP = "198.51.100.9"
		if _, err := svc.Invite(ctx, other, org.ID, "elsewhere@x.test", "member"); err != nil {
			t.Errorf("another network: %v", err)
		}
		if _, err := svc.Invite(ctx, snapglyph.Operator, org.ID, "op@x.test", "member"); err != nil {
			t.Errorf("the operator: %v", err)
		}
	})
}

// TestInvitationNewAccountThrottled: creating the account from an
// invitation counts against the sign-up throttle, so "this email has an
// account" costs what it costs on the sign-up page.
func TestInvitationNewAccountThrottled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)
		org, _ := account(t, db, snapglyph.PlanMax)
		_, taken := account(t, db, snapglyph.PlanPro)
		ni, err := svc.Invite(ctx, snapglyph.Operator, org.ID, taken.Email, "member")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < service.SignupFree; i++ {
			if _, err := svc.AcceptInvitation(ctx, ni.Token, service.Accept{Name: "Probe", Password: "probe password"}, web); snapglyph.ErrorCode(err) != "account_exists" {
				t.Fatalf("probe %d: %v", i, err)
			}
		}
		_, err = svc.AcceptInvitation(ctx, ni.Token, service.Accept{Name: "Probe", Password: "probe password"}, web)
		var te *service.ThrottledError
		if !errors.As(err, &te) {
			t.Fatalf("probe %d: %v, want ERATELIMIT", service.SignupFree+1, err)
		}
	})
}

// TestMemberSeesNoNotices is review 5 #7: notices told to an Admin are
// not shown once the Admin is made a Member (the role is read when the
// notices are).
func TestMemberSeesNoNotices(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		svc := service.New(db.DB)
		tm := newTeam(t, db)
		n := []*snapglyph.Notice{{UserID: tm.admin.ID, OrgID: tm.org.ID, Kind: snapglyph.EventKeyPaused, Title: "paused", Link: "/settings/api", Mail: snapglyph.MailNone}}
		ev := &snapglyph.Event{Kind: snapglyph.EventKeyPaused, OrgID: tm.org.ID}
		if ok, err := db.Emit(ctx, ev, ""); err != nil || !ok {
			t.Fatal(err)
		}
		added, err := db.AddNotices(ctx, ev.ID, n)
		if err != nil || len(added) != 1 {
			t.Fatalf("add notices: %v", err)
		}
		if ns, _ := svc.Notices(ctx, as(tm.admin), tm.org.ID, 0, 10); len(ns) != 1 {
			t.Fatalf("as Admin: %d notices", len(ns))
		}
		if _, _, err := svc.ChangeRole(ctx, as(tm.owner), tm.org.ID, tm.admin.ID, "member"); err != nil {
			t.Fatal(err)
		}
		if ns, err := svc.Notices(ctx, as(tm.admin), tm.org.ID, 0, 10); err != nil || len(ns) != 0 {
			t.Errorf("as Member: %d notices %v", len(ns), err)
		}
		if u, err := svc.UnreadNotices(ctx, as(tm.admin), tm.org.ID); err != nil || u != 0 {
			t.Errorf("as Member: %d unread %v", u, err)
		}
		if _, err := svc.ReadNotice(ctx, as(tm.admin), tm.org.ID, added[0].ID); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			t.Errorf("as Member, read: %v", err)
		}
	})
}

// TestEmailsNormalised is review 5 #5: an address typed with a composed é
// and with e and a combining accent is one account, for sign-up, sign-in
// and invitations.
func TestEmailsNormalised(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		ctx := context.Background()
		db.Now = testdb.NewClock(t0).Now
		svc := service.New(db.DB)
		nfc, nfd := "jos\u00e9@x.test", "JOSE\u0301@x.test"
		ns, err := svc.SignUp(ctx, service.SignUp{Name: "José", OrgName: "J1", Email: nfd, Password: testPassword}, web)
		if err != nil {
			t.Fatal(err)
		}
		if ns.Email != nfc {
			t.Errorf("stored %q, want %q", ns.Email, nfc)
		}
		if _, err := svc.SignUp(ctx, service.SignUp{Name: "José", OrgName: "J2", Email: nfc, Password: testPassword}, web); snapglyph.ErrorCode(err) != "account_exists" {
			t.Errorf("second spelling: %v, want account_exists", err)
		}
		if _, err := svc.SignIn(ctx, nfc, testPassword, web, ""); err != nil {
			t.Errorf("sign in NFC: %v", err)
		}
		org, _ := account(t, db, snapglyph.PlanPro)
		ni, err := svc.Invite(ctx, snapglyph.Operator, org.ID, nfd, "member")
		if err != nil || ni.Email != nfc {
			t.Fatalf("invite %v %v", ni, err)
		}
		if _, err := svc.AcceptInvitation(ctx, ni.Token, service.Accept{Session: ns.Session, Token: ns.Token}, web); err != nil {
			t.Errorf("accept signed in as the other spelling: %v", err)
		}
	})
}

// TestTrivialPasswords is review 5 #6, for every way a password is set.
func TestTrivialPasswords(t *testing.T) {
	for _, pw := range []string{strings.Repeat(" ", 10), "\t\t\t\t\t \u00a0\u3000   ", "aaaaaaaaaa", "ababababab", "1212121212", "abcabcabca"} {
		if service.PasswordProblem(pw) == "" {
			t.Errorf("%q accepted", pw)
		}
		if _, err := service.HashPassword(pw); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("hash %q: %v", pw, err)
		}
	}
	for _, pw := range []string{"abcdabcdab", "correct horse battery", "  spaced out password  ", "пароль-длинный"} {
		if msg := service.PasswordProblem(pw); msg != "" {
			t.Errorf("%q refused: %s", pw, msg)
		}
	}
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		svc := service.New(db.DB)
		_, err := svc.SignUp(context.Background(), service.SignUp{Name: "A", OrgName: "A", Email: "a@x.test", Password: "aaaaaaaaaaaa"}, web)
		var e *snapglyph.Error
		if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "password" || !strings.Contains(e.Message, "different characters") {
			t.Errorf("sign-up: %v", err)
		}
		if _, _, err := svc.CreateOrg(context.Background(), service.NewOrg{Name: "B", OwnerEmail: "b@x.test", Password: "          "}); snapglyph.ErrorKind(err) != snapglyph.EINVALID {
			t.Errorf("org create: %v", err)
		}
	})
}
