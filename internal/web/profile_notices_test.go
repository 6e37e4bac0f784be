package web_test

import (
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestProfileSaysWhoGetsNotices: notifications go to Owners and Admins,
// so the profile of a person who is a Member everywhere says they receive
// none (it offered six mail topics as if they applied); an Admin's does
// not say so.
func TestProfileSaysWhoGetsNotices(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	org, _ := e.org(snapglyph.PlanPro)
	const note = "You are a Member in each of your organisations, so you receive none"
	m := e.browser()
	m.signIn(e.member(org, snapglyph.RoleMember))
	expectContains(t, m.get("/settings/profile"), note)
	a := e.browser()
	a.signIn(e.member(org, snapglyph.RoleAdmin))
	expectNotContains(t, a.get("/settings/profile"), note)
}

// TestStarterLogsSayWhy: the Logs page of an organisation without API
// access says why it is empty (it showed every filter and "No requests
// match these filters."), and the Owner is pointed to Subscription.
func TestStarterLogsSayWhy(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	_, owner := e.org(snapglyph.PlanStarter)
	b := e.browser()
	b.signIn(owner)
	expectContains(t, b.get("/settings/logs"), "The Starter plan does not include API access, so no request is logged", `href="/settings/subscription"`)
	_, proOwner := e.org(snapglyph.PlanPro)
	p := e.browser()
	p.signIn(proOwner)
	expectContains(t, p.get("/settings/logs"), "No requests match these filters.")
}
