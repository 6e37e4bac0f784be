package web_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/web"
)

// TestRoleGating: the sidebar shows each role its entries, and the server
// refuses every other page and key action with 403.
func TestRoleGating(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, ownerEmail := e.org(snapglyph.PlanPro)
		admin, member := e.browser(), e.browser()
		admin.signIn(e.member(org, snapglyph.RoleAdmin))
		member.signIn(e.member(org, snapglyph.RoleMember))
		owner := e.browser()
		owner.signIn(ownerEmail)
		k, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Production-WebApp")
		if err != nil {
			t.Fatal(err)
		}

		entries := map[string]string{"API Settings": "/settings/api", "Company": "/settings/company", "Subscription": "/settings/subscription", "Audit log": "/settings/audit"}
		for _, c := range []struct {
			name    string
			b       *browser
			visible []string
		}{
			{"owner", owner, []string{"API Settings", "Company", "Subscription", "Audit log"}},
			{"admin", admin, []string{"API Settings", "Company", "Audit log"}},
			{"member", member, nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				p := c.b.get("/qr-codes")
				expectStatus(t, p, http.StatusOK)
				expectContains(t, p, `href="/qr-codes"`, `href="/settings/profile"`)
				for entry, path := range entries {
					shown := strings.Contains(p.Body, `href="`+path+`"`)
					want := false
					for _, v := range c.visible {
						want = want || v == entry
					}
					if shown != want {
						t.Errorf("sidebar entry %s shown: %v, want %v", entry, shown, want)
					}
					status := c.b.get(path).StatusCode
					if want && status != http.StatusOK || !want && status != http.StatusForbidden {
						t.Errorf("GET %s: %d, want %s", path, status, map[bool]string{true: "200", false: "403"}[want])
					}
				}
			})
		}

		t.Run("member key actions", func(t *testing.T) {
			for _, path := range []string{
				"/settings/api/keys/new",
				"/settings/api/keys/" + k.ID + "/revoke",
				"/settings/company/invite",
				"/settings/company/members/x/remove",
			} {
				p := member.get(path)
				expectStatus(t, p, http.StatusForbidden)
				expectContains(t, p, "You don&#39;t have access to this page", "Your role in this organisation is Member")
			}
			for _, path := range []string{
				"/settings/api/keys",
				"/settings/api/keys/" + k.ID + "/pause",
				"/settings/api/keys/" + k.ID + "/resume",
				"/settings/api/keys/" + k.ID + "/revoke",
				"/settings/company/invitations",
			} {
				// Each form with its own fields: a field a form does not
				// have is refused with 400 before the role is looked at.
				form := url.Values{}
				switch path {
				case "/settings/api/keys":
					form.Set("name", "Mobile-iOS-App")
				case "/settings/company/invitations":
					form = url.Values{"email": {"x@acme.test"}, "role": {"admin"}}
				}
				p := member.post(path, form)
				expectStatus(t, p, http.StatusForbidden)
			}
			if got, _ := db.Key(ctx, k.ID); got.Status != snapglyph.KeyActive {
				t.Errorf("key status %s after a Member's actions", got.Status)
			}
			if keys, _ := db.Keys(ctx, org.ID, true); len(keys) != 1 {
				t.Errorf("%d keys after a Member's create", len(keys))
			}
		})

		t.Run("other organisation's key", func(t *testing.T) {
			_, otherEmail := e.org(snapglyph.PlanPro)
			stranger := e.browser()
			stranger.signIn(otherEmail)
			p := stranger.post("/settings/api/keys/"+k.ID+"/revoke", nil)
			expectStatus(t, p, http.StatusNotFound)
			expectStatus(t, stranger.get("/settings/api/keys/"+k.ID+"/revoke"), http.StatusNotFound)
			if got, _ := db.Key(ctx, k.ID); got.Status != snapglyph.KeyActive {
				t.Error("a stranger revoked the key")
			}
		})
	})
}

func TestStarterUpgradeNotice(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	_, email := e.org(snapglyph.PlanStarter)
	b := e.browser()
	b.signIn(email)
	p := b.get("/settings/api")
	expectStatus(t, p, http.StatusOK)
	expectContains(t, p, "API access is available on the Pro and Max plans", "Starter plan", `href="/settings/subscription"`)
	expectNotContains(t, p, "Create API Key", "Usage this month", "<table")
	p = b.post("/settings/api/keys", url.Values{"name": {"Production-WebApp"}})
	expectStatus(t, p, http.StatusForbidden)
	expectContains(t, p, "upgrade to Pro or Max")

	// An ended trial shows the same notice, with the date.
	_, trialEmail := e.org(snapglyph.PlanTrial)
	tb := e.browser()
	tb.signIn(trialEmail)
	expectContains(t, tb.get("/settings/api"), "Create API Key", "Usage this month")
	e.advance(snapglyph.TrialLength + time.Hour)
	tb.signIn(trialEmail)
	p = tb.get("/settings/api")
	expectContains(t, p, "14-day Pro trial ended on 29 Nov 2026")
	expectNotContains(t, p, "Create API Key")
	expectContains(t, tb.get("/settings/subscription"), "Trial ended")
}

// TestCreateKey: the dialog shows the naming advice; a generic name gets a
// warning (and is still accepted); the key is shown once, in the response
// that creates it, and never again.
func TestCreateKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)

		p := b.get("/settings/api/keys/new")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "<dialog open", "Create API Key", "Naming best practices",
			"Production-WebApp", "Dev-Testing", "Mobile-iOS-App", "Zapier-Integration", "Key 1", "<td>Test</td>", "<td>API</td>", "<td>Key</td>")

		t.Run("generic name warning", func(t *testing.T) {
			for _, name := range []string{"Key 1", "Test", "API", "key"} {
				p := b.post("/settings/api/keys", url.Values{"name": {name}})
				expectStatus(t, p, http.StatusOK)
				expectContains(t, p, "This name is generic", "does not say where the key is used", "Create anyway", `name="confirm" value="generic"`)
				if keyPattern.MatchString(p.Body) {
					t.Fatalf("%q: a key was created before the warning was confirmed", name)
				}
			}
			if keys, _ := db.Keys(ctx, org.ID, true); len(keys) != 0 {
				t.Fatalf("%d keys after warnings", len(keys))
			}
			p := b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Key 1"}, "confirm": {"generic"}}))
			if !keyPattern.MatchString(p.Body) {
				t.Fatal("Create anyway did not create the key")
			}
			expectContains(t, p, "a name like Production-WebApp")
		})
		t.Run("ErrEmptyName", func(t *testing.T) {
			p := b.post("/settings/api/keys", url.Values{"name": {"   "}})
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, "<dialog open", "The key name is required")
		})

		created := b.post("/settings/api/keys", url.Values{"name": {"Production-WebApp"}})
		p = b.reveal(created)
		secret := keyPattern.FindString(p.Body)
		if secret == "" {
			t.Fatalf("no key revealed:\n%s", snippet(p.Body))
		}
		expectContains(t, p, "API key created", "Copy your key now", "won't be able to see it again", "gone for good", `data-copy="new-key"`)
		if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("the reveal page's Cache-Control %q, want no-store", cc)
		}
		if strings.Contains(p.Header.Get("Location"), secret) || len(p.Cookies()) > 0 && strings.Contains(p.Header.Values("Set-Cookie")[0], secret) {
			t.Error("the key is in a header")
		}

		// Reload and Back (the reveal's address again) are calm: the page
		// says which key it was, without its value.
		again := b.get(created.Header.Get("Location"))
		expectStatus(t, again, http.StatusOK)
		expectContains(t, again, "The key Production-WebApp was created; its full value cannot be shown again.", secret[:12]+"...")
		expectNotContains(t, again, secret, "flash-error")
		// Another session (even the same user's) cannot open it.
		other := e.browser()
		other.signIn(email)
		expectStatus(t, other.get(created.Header.Get("Location")), http.StatusNotFound)

		// Afterwards the page shows the prefix only.
		p = b.get("/settings/api")
		expectNotContains(t, p, secret)
		expectContains(t, p, secret[:12]+"...", "Production-WebApp", "Never", "Active")
		// The key works, and its use shows up as Last Used: a link to the
		// key's page, with the time, address and user agent in its title.
		if resp := e.apiGet("/api/v1/usage", secret); resp.StatusCode != http.StatusOK {
			t.Fatalf("the new key: %d", resp.StatusCode)
		}
		p = b.get("/settings/api")
		id := keyID(t, p.Body, "Production-WebApp")
		if !regexp.MustCompile(`<a class="last-used" href="/settings/api/keys/` + id + `#used-title" title="[^"]*127\.0\.0\.1 · Go-http-client[^"]*"><time datetime="[^"]+">just now</time></a>`).MatchString(p.Body) {
			t.Errorf("Last Used is not a link to the key's page:\n%s", snippet(p.Body))
		}
		expectNotContains(t, p, `<details class="last-used"`)

		// Neither the log nor the database holds the key.
		e.node.Recorder.Flush(ctx)
		if strings.Contains(e.logs.String(), secret) {
			t.Error("the key is in the log")
		}
		if db.Dialect == "sqlite" {
			for _, f := range []string{db.Path, db.Path + "-wal"} {
				if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), secret) {
					t.Errorf("the key is in %s", filepath.Base(f))
				}
			}
		}
	})
}

func TestPauseResumeRevoke(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		p := b.get("/settings/api")
		id := keyID(t, p.Body, "Production-WebApp")
		expectContains(t, p, `aria-label="Pause Production-WebApp"`, `aria-label="Revoke Production-WebApp"`)

		p = b.follow(b.post("/settings/api/keys/"+id+"/pause", nil))
		expectContains(t, p, "Production-WebApp is paused", "until you re-enable it", `aria-label="Re-enable Production-WebApp"`, `<span class="pill pill-paused">`, `Paused</span>`, "until re-enabled")
		expectNotContains(t, p, "Inactive")
		expectAPI(t, e, secret, http.StatusUnauthorized, "api_key_paused")
		// Pausing twice is a conflict, said on the page.
		p = b.follow(b.post("/settings/api/keys/"+id+"/pause", nil))
		expectContains(t, p, "flash-error", "already paused")

		p = b.follow(b.post("/settings/api/keys/"+id+"/resume", nil))
		expectContains(t, p, "Production-WebApp is active again", `aria-label="Pause Production-WebApp"`)
		expectAPI(t, e, secret, http.StatusOK, "")

		p = b.get("/settings/api/keys/" + id + "/revoke")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, `role="alertdialog"`, "Revoke Production-WebApp?", "immediately", "401 Unauthorized", "This cannot be undone", `action="/settings/api/keys/`+id+`/revoke"`)
		p = b.follow(b.post("/settings/api/keys/"+id+"/revoke", nil))
		expectContains(t, p, "Production-WebApp is revoked")
		expectNotContains(t, p, `id="key-`+id+`"`)
		expectAPI(t, e, secret, http.StatusUnauthorized, "api_key_revoked")
		expectStatus(t, b.get("/settings/api/keys/"+id+"/revoke"), http.StatusNotFound)
	})
}

// TestUsageCard: used = stored + not yet flushed, against the plan's
// limits (or the operator's), with the reset date.
func TestUsageCard(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanMax)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		for i := 0; i < 3; i++ {
			e.apiGet("/api/v1/usage", secret)
		}
		p := b.get("/settings/api")
		expectContains(t, p, "<strong>3</strong> / 10,000", "<strong>0</strong> / 2,000", "Limits refresh on", "1 Dec 2026", `max="10000" value="3"`)
		e.node.Recorder.Flush(ctx)
		expectContains(t, b.get("/settings/api"), "<strong>3</strong> / 10,000")
		calls := int64(4)
		if err := e.svc.SetLimits(ctx, snapglyph.Operator, org.ID, &calls, nil); err != nil {
			t.Fatal(err)
		}
		e.apiGet("/api/v1/usage", secret)
		expectContains(t, b.get("/settings/api"), "<strong>4</strong> / 4", "Limit reached", `class="full"`)
		// Dashboard pages cost nothing.
		e.node.Recorder.Flush(ctx)
		before, _ := db.Usage(ctx, org.ID, "2026-11")
		for i := 0; i < 3; i++ {
			b.get("/settings/api")
		}
		e.node.Recorder.Flush(ctx)
		if after, _ := db.Usage(ctx, org.ID, "2026-11"); after.Used != before.Used {
			t.Errorf("dashboard pages changed usage from %+v to %+v", before.Used, after.Used)
		}
	})
}

var inviteLinkRe = regexp.MustCompile(`value="(https?://[^"]+/invite/[A-Za-z0-9_-]+)"`)

// invite creates an invitation through the Company page and returns the
// link's path.
func (b *browser) invite(email, role string) string {
	b.t.Helper()
	p := b.post("/settings/company/invitations", url.Values{"email": {email}, "role": {role}})
	expectStatus(b.t, p, http.StatusOK)
	m := inviteLinkRe.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("no invitation link:\n%s", snippet(p.Body))
	}
	u, _ := url.Parse(m[1])
	return u.Path
}

func TestInvitations(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		owner := e.browser()
		owner.signIn(email)

		p := owner.get("/settings/company/invite")
		expectContains(t, p, "<dialog open", "Invite Member", "Send Invitation", `<option value="admin"`)

		t.Run("OK new account", func(t *testing.T) {
			link := owner.invite("Grace@Navy.test", "admin")
			p := owner.get("/settings/company")
			expectContains(t, p, "Pending Invitations", "grace@navy.test", "Cancel")
			g := e.browser()
			e.advance(7*24*time.Hour - time.Minute) // valid for 7 days
			p = g.get(link)
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, "Join Acme", "as an <strong>Admin</strong>", "grace@navy.test", "Create account and join")
			p = g.post(link, url.Values{"name": {"Grace Hopper"}, "password": {"short"}})
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, "at least 10 characters")
			p = g.post(link, url.Values{"name": {"Grace Hopper"}, "password": {"a compiler of one's own"}})
			expectStatus(t, p, http.StatusSeeOther)
			p = g.follow(p)
			expectContains(t, p, "Welcome to Acme! You joined as Admin.", "Grace Hopper", `href="/settings/api"`)
			expectNotContains(t, p, `href="/settings/subscription"`)
			// The link is used up.
			p = e.browser().get(link)
			expectStatus(t, p, http.StatusGone)
			expectContains(t, p, "already accepted")
			if strings.Contains(e.logs.String(), strings.TrimPrefix(link, "/invite/")) {
				t.Error("the invitation token is in the log")
			}
			owner.signIn(email) // 7 days later the Owner's session has ended
			expectContains(t, owner.get("/settings/company"), "Grace Hopper", "No pending invitations")
		})
		t.Run("ErrExpired", func(t *testing.T) {
			link := owner.invite("late@acme.test", "member")
			e.advance(7*24*time.Hour + time.Minute)
			p := e.browser().get(link)
			expectStatus(t, p, http.StatusGone)
			expectContains(t, p, "expired", "valid for 7 days")
			p = e.browser().post(link, url.Values{"name": {"Late"}, "password": {password}})
			expectStatus(t, p, http.StatusGone)
			if _, _, err := db.UserByEmail(ctx, "late@acme.test"); err == nil {
				t.Error("an expired invitation created an account")
			}
			owner.signIn(email)
			expectNotContains(t, owner.get("/settings/company"), "late@acme.test")
		})
		t.Run("ErrCancelled", func(t *testing.T) {
			link := owner.invite("cancel@acme.test", "member")
			invs, _ := db.Invitations(ctx, org.ID)
			if len(invs) != 1 {
				t.Fatalf("%d pending invitations", len(invs))
			}
			p := owner.follow(owner.post("/settings/company/invitations/"+invs[0].ID+"/cancel", nil))
			expectContains(t, p, "The invitation for cancel@acme.test is cancelled")
			p = e.browser().get(link)
			expectStatus(t, p, http.StatusGone)
			expectContains(t, p, "cancelled")
			expectStatus(t, e.browser().post(link, url.Values{"name": {"X"}, "password": {password}}), http.StatusGone)
		})
		t.Run("ErrBadLink", func(t *testing.T) {
			expectStatus(t, e.browser().get("/invite/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), http.StatusNotFound)
		})
		t.Run("OK existing account signs in", func(t *testing.T) {
			_, otherOwner := e.org(snapglyph.PlanPro) // owns another organisation
			link := owner.invite(otherOwner, "member")
			g := e.browser()
			p := g.get(link)
			// The page is the one a new address gets (review 5 #3): it
			// does not say whether the email has an account.
			expectContains(t, p, "Sign in and join", "Create account and join")
			expectNotContains(t, p, "You already have a SnapGlyph account")
			// Neither form takes over the existing account.
			p = g.post(link, url.Values{"account": {"existing"}, "password": {"not the password"}})
			expectStatus(t, p, http.StatusUnauthorized)
			expectContains(t, p, "The email or password is not right")
			p = g.post(link, url.Values{"account": {"new"}, "name": {"Mallory"}, "password": {"not the password"}})
			expectStatus(t, p, http.StatusConflict)
			expectContains(t, p, "An account with this email already exists. Sign in with it below")
			p = g.post(link, url.Values{"account": {"existing"}, "password": {password}})
			expectStatus(t, p, http.StatusSeeOther)
			p = g.follow(p)
			expectContains(t, p, "Welcome to Acme! You joined as Member.")
			// Now in both organisations; the profile switches between them.
			p = g.get("/settings/profile")
			expectContains(t, p, "Your organisations", "Switch")
		})
		t.Run("OK signed in as the invitee", func(t *testing.T) {
			_, otherEmail := e.org(snapglyph.PlanPro)
			g := e.browser()
			g.signIn(otherEmail)
			link := owner.invite(otherEmail, "admin")
			p := g.get(link)
			expectContains(t, p, "Join Acme")
			expectNotContains(t, p, `name="password"`)
			p = g.follow(g.post(link, nil))
			expectContains(t, p, "You joined as Admin")
		})
	})
}

func TestSeatLimits(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		for _, c := range []struct {
			plan  snapglyph.Plan
			seats int
		}{{snapglyph.PlanStarter, 1}, {snapglyph.PlanPro, 5}, {snapglyph.PlanTrial, 5}} {
			t.Run(string(c.plan), func(t *testing.T) {
				_, email := e.org(c.plan)
				b := e.browser()
				b.signIn(email)
				for i := 1; i < c.seats; i++ {
					b.invite(snapglyph.NewID("p")+"@acme.test", "member")
				}
				p := b.get("/settings/company")
				expectContains(t, p, "All seats of your plan are taken")
				expectNotContains(t, p, `href="/settings/company/invite"`)
				p = b.post("/settings/company/invitations", url.Values{"email": {"one.too.many@acme.test"}, "role": {"member"}})
				expectStatus(t, p, http.StatusConflict)
				expectContains(t, p, "seats of the plan are taken")
			})
		}
		t.Run("max", func(t *testing.T) {
			_, email := e.org(snapglyph.PlanMax)
			b := e.browser()
			b.signIn(email)
			for i := 0; i < 6; i++ {
				b.invite(snapglyph.NewID("p")+"@acme.test", "member")
			}
			expectContains(t, b.get("/settings/company"), "7 seats used · unlimited")
		})
		t.Run("accept after a downgrade", func(t *testing.T) {
			org, email := e.org(snapglyph.PlanPro)
			b := e.browser()
			b.signIn(email)
			link := b.invite("late@acme.test", "member")
			if err := e.svc.SetPlan(ctx, snapglyph.Operator, org.ID, "starter"); err != nil {
				t.Fatal(err)
			}
			p := e.browser().post(link, url.Values{"name": {"Late"}, "password": {password}})
			expectStatus(t, p, http.StatusConflict)
			expectContains(t, p, "seats")
		})
	})
}

// TestMembers: role changes and removals under §4.3, and a removed member
// is signed out at once.
func TestMembers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, ownerEmail := e.org(snapglyph.PlanPro)
		adminEmail, memberEmail := e.member(org, snapglyph.RoleAdmin), e.member(org, snapglyph.RoleMember)
		owner, admin, member := e.browser(), e.browser(), e.browser()
		owner.signIn(ownerEmail)
		admin.signIn(adminEmail)
		member.signIn(memberEmail)
		id := func(email string) string {
			u, _, err := db.UserByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			return u.ID
		}
		ownerID, adminID, memberID := id(ownerEmail), id(adminEmail), id(memberEmail)

		p := owner.get("/settings/company")
		expectContains(t, p, "Change Role", `aria-label="Remove `+memberEmail+`"`, `aria-label="Remove `+adminEmail+`"`)
		expectNotContains(t, p, `aria-label="Remove `+ownerEmail+`"`, `action="/settings/company/members/`+ownerID+`/role"`)

		role := func(b *browser, userID, r string) *page {
			return b.post("/settings/company/members/"+userID+"/role", url.Values{"role": {r}})
		}
		// An Admin switches people between Member and Admin…
		p = admin.follow(role(admin, memberID, "admin"))
		expectContains(t, p, memberEmail+" is now an Admin")
		if r, _ := db.Role(ctx, org.ID, memberID); r != snapglyph.RoleAdmin {
			t.Fatalf("role %s", r)
		}
		// …and the promoted member sees API Settings on the next request.
		expectStatus(t, member.get("/settings/api"), http.StatusOK)
		p = admin.follow(role(admin, memberID, "member"))
		expectContains(t, p, memberEmail+" is now a Member")
		expectStatus(t, member.get("/settings/api"), http.StatusForbidden)
		// …but cannot touch the Owner, or make anyone Owner.
		expectStatus(t, role(admin, ownerID, "member"), http.StatusForbidden)
		expectStatus(t, role(admin, memberID, "owner"), http.StatusUnprocessableEntity)
		// The Owner cannot stop being Owner; a Member changes nothing.
		p = role(owner, ownerID, "admin")
		expectStatus(t, p, http.StatusForbidden)
		expectContains(t, p, "You are the Owner; to hand over, make an Admin the Owner")
		expectStatus(t, role(member, adminID, "member"), http.StatusForbidden)
		if r, _ := db.Role(ctx, org.ID, adminID); r != snapglyph.RoleAdmin {
			t.Errorf("a Member changed a role: %s", r)
		}
		// The Owner cannot be removed, by anyone.
		expectStatus(t, admin.post("/settings/company/members/"+ownerID+"/remove", nil), http.StatusForbidden)
		expectStatus(t, owner.get("/settings/company/members/"+ownerID+"/remove"), http.StatusNotFound)
		expectStatus(t, member.post("/settings/company/members/"+adminID+"/remove", nil), http.StatusForbidden)

		// Removing: a confirmation, then the member is out and signed out.
		p = admin.get("/settings/company/members/" + memberID + "/remove")
		expectContains(t, p, `role="alertdialog"`, "Remove Test Member?", "signed out")
		expectStatus(t, member.get("/qr-codes"), http.StatusOK)
		p = admin.follow(admin.post("/settings/company/members/"+memberID+"/remove", nil))
		expectContains(t, p, memberEmail+" was removed from the organisation and signed out")
		if n, _ := db.SessionCount(ctx, memberID, org.ID); n != 0 {
			t.Errorf("%d sessions of the removed member", n)
		}
		p = member.get("/qr-codes")
		expectStatus(t, p, http.StatusSeeOther)
		if !strings.HasPrefix(p.Header.Get("Location"), "/signin") {
			t.Errorf("the removed member is sent to %q", p.Header.Get("Location"))
		}
		p = member.post("/signin", url.Values{"email": {memberEmail}, "password": {password}})
		expectStatus(t, p, http.StatusForbidden)
		expectContains(t, p, "not a member of any organisation")
		// The Owner removes an Admin.
		owner.follow(owner.post("/settings/company/members/"+adminID+"/remove", nil))
		expectStatus(t, admin.get("/settings/company"), http.StatusSeeOther)
	})
}

// TestAuditLog: key and member events, newest first, with actor, time and
// IP; Owners and Admins only.
func TestAuditLog(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		owner := e.browser()
		owner.signIn(email)

		// A page that cannot exist is said to be so, not shown as the first.
		for _, before := range []string{"abc", "-1", "0", "99999999999999999999"} {
			expectStatus(t, owner.get("/settings/audit?before="+before), http.StatusBadRequest)
		}
		owner.createKey("Production-WebApp")
		e.advance(time.Minute)
		id := keyID(t, owner.get("/settings/api").Body, "Production-WebApp")
		owner.post("/settings/api/keys/"+id+"/pause", nil)
		e.advance(time.Minute)
		link := owner.invite("grace@navy.test", "member")
		e.advance(time.Minute)
		g := e.browser()
		g.follow(g.post(link, url.Values{"name": {"Grace"}, "password": {password}}))
		grace, _, _ := db.UserByEmail(ctx, "grace@navy.test")
		e.advance(time.Minute)
		owner.post("/settings/company/members/"+grace.ID+"/role", url.Values{"role": {"admin"}})
		owner.invite("bob@acme.test", "member")
		invs, _ := db.Invitations(ctx, org.ID)
		owner.post("/settings/company/invitations/"+invs[0].ID+"/cancel", nil)
		e.advance(time.Minute)
		owner.post("/settings/company/members/"+grace.ID+"/remove", nil)
		owner.post("/settings/api/keys/"+id+"/revoke", nil)

		p := owner.get("/settings/audit")
		expectStatus(t, p, http.StatusOK)
		actions := regexp.MustCompile(`data-action="([a-z_.]+)"`).FindAllStringSubmatch(p.Body, -1)
		var got []string
		for _, a := range actions {
			got = append(got, a[1])
		}
		want := []string{"key.revoked", "member.removed", "invitation.cancelled", "member.invited", "member.role_changed", "member.joined", "member.invited", "key.paused", "key.created"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("audit actions\n got %v\nwant %v", got, want)
		}
		expectContains(t, p, "Revoked API key", "Production-WebApp", "Removed member", "grace@navy.test",
			"Changed role", "grace@navy.test: Member → Admin", "Cancelled invitation", "bob@acme.test", "Joined",
			"15 Nov 2026, 12:04 UTC", "15 Nov 2026, 12:00 UTC", "<code>127.0.0.1</code>", email)
		// The joiner is the actor of member.joined.
		if !regexp.MustCompile(`<td data-label="Actor">grace@navy.test</td>\s*<td data-label="Action"><span><span class="event" data-action="member.joined">`).MatchString(p.Body) {
			t.Error("member.joined is not attributed to the member who joined")
		}
	})
}

func TestProfileAndSwitch(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	ctx := context.Background()
	first, email := e.org(snapglyph.PlanPro)
	second, otherOwner := e.org(snapglyph.PlanMax)
	b := e.browser()
	link := func() string {
		ob := e.browser()
		ob.signIn(otherOwner)
		return ob.invite(email, "member")
	}()
	b.signIn(email)
	b.follow(b.post(link, nil))
	p := b.get("/settings/profile")
	expectContains(t, p, "Your organisations", "Session ends at the latest", "Current")
	token := b.cookie("snapglyph_session").Value
	p = b.follow(b.post("/settings/profile/org", url.Values{"org": {first.ID}}))
	expectContains(t, p, "You are now in Acme as Owner.")
	if b.cookie("snapglyph_session").Value == token {
		t.Error("switching organisation kept the session token")
	}
	u, _, _ := e.db.UserByEmail(ctx, email)
	if n, _ := e.db.SessionCount(ctx, u.ID, second.ID); n != 0 {
		t.Errorf("%d sessions left in the organisation switched from", n)
	}
	expectStatus(t, b.post("/settings/profile/org", url.Values{"org": {"org_nope"}}), http.StatusNotFound)
}

// TestInvitationLinkPublicURL: behind a proxy, invitation links are made
// under the configured public URL, not the host the request came to.
func TestInvitationLinkPublicURL(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	e := newEnv(t, db, func(d *web.Deps) { d.PublicURL = "https://qr.example.com/" })
	_, email := e.org(snapglyph.PlanPro)
	owner := e.browser()
	owner.signIn(email)
	p := owner.post("/settings/company/invitations", url.Values{"email": {"ada@example.com"}, "role": {"member"}})
	expectStatus(t, p, http.StatusOK)
	m := inviteLinkRe.FindStringSubmatch(p.Body)
	if m == nil || !strings.HasPrefix(m[1], "https://qr.example.com/invite/") {
		t.Fatalf("invitation link %v, want it under https://qr.example.com/", m)
	}
}

var nonceRe = regexp.MustCompile(`name="nonce" value="([0-9a-f]+)"`)

// TestCreateKeyRefresh: sending the create form again (a page refresh on
// the reveal page re-posts it) creates no second key.
func TestCreateKeyRefresh(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		m := nonceRe.FindStringSubmatch(b.get("/settings/api/keys/new").Body)
		if m == nil {
			t.Fatal("the create form has no nonce")
		}
		form := url.Values{"name": {"Production-WebApp"}, "nonce": {m[1]}}
		p := b.reveal(b.post("/settings/api/keys", form))
		expectContains(t, p, "API key created")
		p = b.follow(b.post("/settings/api/keys", form))
		expectContains(t, p, "already created its key")
		keys, err := db.Keys(context.Background(), org.ID, true)
		if err != nil || len(keys) != 1 {
			t.Fatalf("%d keys after the form was sent twice (%v), want 1", len(keys), err)
		}
		// A new form (a new nonce) creates a new key.
		m = nonceRe.FindStringSubmatch(b.get("/settings/api/keys/new").Body)
		b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Zapier-Integration"}, "nonce": {m[1]}}))
		if keys, _ := db.Keys(context.Background(), org.ID, true); len(keys) != 2 {
			t.Fatalf("%d keys, want 2", len(keys))
		}
	})
}
