package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPasswordChange is review 5 #1 in the dashboard: the profile page
// changes the password with the current one; the other sessions end, this
// one goes on with a new cookie.
func TestPasswordChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		here, there := e.browser(), e.browser()
		here.signIn(email)
		there.signIn(email)
		p := here.get("/settings/profile")
		expectContains(t, p, `action="/settings/profile/password"`, `name="current_password"`, `name="new_password"`,
			"You are also signed in in 1 other session", "Sign out everywhere else")

		change := func(current, next string) *page {
			return here.post("/settings/profile/password", url.Values{"current_password": {current}, "new_password": {next}})
		}
		for _, c := range []struct{ name, current, next, want string }{
			{"ErrWrongCurrent", "not the password", "a new long password", "The current password is not right"},
			{"ErrEmptyCurrent", "", "a new long password", "Enter your current password"},
			{"ErrShort", password, "short", "at least 10 characters"},
			{"ErrSpaces", password, "            ", "cannot be only spaces"},
			{"ErrRepeated", password, "zzzzzzzzzzzz", "4 different characters"},
			{"ErrHuge", password, strings.Repeat("abcd", 1000), "A password has at most 1024 bytes; this one has 4000"},
		} {
			t.Run(c.name, func(t *testing.T) {
				p := change(c.current, c.next)
				expectStatus(t, p, http.StatusUnprocessableEntity)
				expectContains(t, p, c.want, `aria-invalid="true"`)
			})
		}
		for _, bad := range []string{"a new pass\x00word", "a new \xff password"} {
			expectStatus(t, change(password, bad), http.StatusUnprocessableEntity)
			expectStatus(t, change(bad, "a new long password"), http.StatusUnprocessableEntity)
		}
		expectStatus(t, there.get("/qr-codes"), http.StatusOK)

		old := here.cookie("snapglyph_session").Value
		p = change(password, "a new long password")
		expectStatus(t, p, http.StatusSeeOther)
		if c := here.cookie("snapglyph_session"); c == nil || c.Value == old {
			t.Error("the session cookie was not replaced")
		}
		p = here.follow(p)
		expectContains(t, p, "Your password is changed. You were signed out of 1 other session.", "You are signed in nowhere else")
		if p := there.get("/qr-codes"); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/signin") {
			t.Errorf("the other session goes on: %d %s", p.StatusCode, p.Header.Get("Location"))
		}
		expectStatus(t, e.browser().post("/signin", url.Values{"email": {email}, "password": {password}}), http.StatusUnauthorized)
		expectStatus(t, e.browser().post("/signin", url.Values{"email": {email}, "password": {"a new long password"}}), http.StatusSeeOther)
	})
}

// TestSignOutEverywhereElse: the profile's button ends every other
// session of the person, not this one nor anyone else's.
func TestSignOutEverywhereElse(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		memberEmail := e.member(org, snapglyph.RoleMember)
		here, there, member := e.browser(), e.browser(), e.browser()
		here.signIn(email)
		there.signIn(email)
		member.signIn(memberEmail)
		p := here.follow(here.post("/settings/profile/sessions/end", nil))
		expectContains(t, p, "You were signed out of 1 other session; this one goes on.")
		expectStatus(t, here.get("/qr-codes"), http.StatusOK)
		expectStatus(t, member.get("/qr-codes"), http.StatusOK)
		expectStatus(t, there.get("/qr-codes"), http.StatusSeeOther)
		p = here.follow(here.post("/settings/profile/sessions/end", nil))
		expectContains(t, p, "You were signed in nowhere else")
	})
}

// TestOwnershipTransfer is review 5 #2 in the dashboard: the Owner makes
// an Admin the Owner from the Company page, after a confirmation.
func TestOwnershipTransfer(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, ownerEmail := e.org(snapglyph.PlanPro)
		adminEmail, memberEmail := e.member(org, snapglyph.RoleAdmin), e.member(org, snapglyph.RoleMember)
		id := func(email string) string {
			u, _, err := db.UserByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			return u.ID
		}
		ownerID, adminID, memberID := id(ownerEmail), id(adminEmail), id(memberEmail)
		owner, admin := e.browser(), e.browser()
		owner.signIn(ownerEmail)
		admin.signIn(adminEmail)

		p := owner.get("/settings/company")
		expectContains(t, p, `href="/settings/company/members/`+adminID+`/owner"`, "Make Owner")
		expectNotContains(t, p, `href="/settings/company/members/`+memberID+`/owner"`, `href="/settings/company/members/`+ownerID+`/owner"`)
		expectNotContains(t, admin.get("/settings/company"), `/owner"`)
		expectStatus(t, admin.get("/settings/company/members/"+adminID+"/owner"), http.StatusForbidden)
		expectStatus(t, admin.post("/settings/company/members/"+adminID+"/owner", nil), http.StatusForbidden)
		expectStatus(t, owner.get("/settings/company/members/"+memberID+"/owner"), http.StatusNotFound)
		p = owner.post("/settings/company/members/"+memberID+"/owner", nil)
		expectStatus(t, p, http.StatusSeeOther)
		expectContains(t, owner.follow(p), "Ownership can only be transferred to an Admin; make "+memberEmail+" an Admin first.")
		for _, bad := range []string{"usr_nope", strings.Repeat("x", 5000), "%00", "%FF"} {
			if p := owner.post("/settings/company/members/"+bad+"/owner", nil); p.StatusCode < 400 && p.StatusCode != http.StatusSeeOther || p.StatusCode >= 500 {
				t.Errorf("id %.20q: %d", bad, p.StatusCode)
			}
		}

		p = owner.get("/settings/company/members/" + adminID + "/owner")
		expectContains(t, p, `role="alertdialog"`, "Make Test Admin the Owner?", "You become an Admin")
		p = owner.follow(owner.post("/settings/company/members/"+adminID+"/owner", nil))
		expectContains(t, p, adminEmail+" is now the Owner, and you are an Admin.")
		if r, _ := db.Role(ctx, org.ID, adminID); r != snapglyph.RoleOwner {
			t.Errorf("new Owner's role %s", r)
		}
		if r, _ := db.Role(ctx, org.ID, ownerID); r != snapglyph.RoleAdmin {
			t.Errorf("old Owner's role %s", r)
		}
		expectStatus(t, owner.get("/settings/subscription"), http.StatusForbidden)
		expectStatus(t, admin.get("/settings/subscription"), http.StatusOK)
		// The messages that pointed to a transfer now name it.
		p = admin.post("/settings/company/members/"+adminID+"/role", url.Values{"role": {"admin"}})
		expectContains(t, p, "Make Owner on the Company page")
	})
}

// TestRoleChangeMessage is review 5 #8: the message names the role as
// stored, whatever the form sent.
func TestRoleChangeMessage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, ownerEmail := e.org(snapglyph.PlanPro)
		memberEmail := e.member(org, snapglyph.RoleMember)
		u, _, _ := db.UserByEmail(context.Background(), memberEmail)
		owner := e.browser()
		owner.signIn(ownerEmail)
		p := owner.follow(owner.post("/settings/company/members/"+u.ID+"/role", url.Values{"role": {" ADMIN "}}))
		expectContains(t, p, memberEmail+" is now an Admin.")
		p = owner.follow(owner.post("/settings/company/members/"+u.ID+"/role", url.Values{"role": {"Member"}}))
		expectContains(t, p, memberEmail+" is now a Member.")
	})
}

// TestSigninNextKeepsQuery is review 5 #9: a signed-out visit to a
// filtered page comes back to it, query and all, after signing in.
func TestSigninNextKeepsQuery(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		p := b.get("/settings/logs?range=24h&status=4xx")
		expectStatus(t, p, http.StatusSeeOther)
		loc, _ := url.Parse(p.Header.Get("Location"))
		next := loc.Query().Get("next")
		if loc.Path != "/signin" || next != "/settings/logs?range=24h&status=4xx" {
			t.Fatalf("sent to %s", p.Header.Get("Location"))
		}
		p = b.get(loc.String())
		expectContains(t, p, `value="/settings/logs?range=24h&amp;status=4xx"`)
		p = b.post("/signin", url.Values{"email": {email}, "password": {password}, "next": {next}})
		if p.Header.Get("Location") != "/settings/logs?range=24h&status=4xx" {
			t.Errorf("after sign-in: %s", p.Header.Get("Location"))
		}
	})
}

// TestInvitationPageSaysNothingOfAccounts is review 5 #3: the page of an
// invitation for an address with an account is the page of one without,
// for anyone not signed in as the invitee.
func TestInvitationPageSaysNothingOfAccounts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, ownerEmail := e.org(snapglyph.PlanMax)
		_, taken := e.org(snapglyph.PlanPro)
		owner := e.browser()
		owner.signIn(ownerEmail)
		free := "nobody-" + strings.TrimSuffix(taken, "@acme.test") + "@acme.test"
		anon := e.browser()
		pages := map[*browser][]string{}
		for _, addr := range []string{taken, free} {
			link := owner.invite(addr, "member")
			for _, b := range []*browser{anon, owner} {
				p := b.get(link)
				expectStatus(t, p, http.StatusOK)
				pages[b] = append(pages[b], strings.ReplaceAll(strings.ReplaceAll(p.Body, addr, "EMAIL"), strings.TrimPrefix(link, "/invite/"), "TOKEN"))
			}
		}
		for b, ps := range pages {
			if ps[0] != ps[1] {
				t.Errorf("signed in: %v: the page for an address with an account differs from the page for one without", b == owner)
			}
		}
		expectContains(t, &page{Body: pages[anon][0]}, "Create account and join", "Sign in and join")
	})
}
