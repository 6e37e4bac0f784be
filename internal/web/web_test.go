package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

func TestSignUpSignInSignOut(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		b := e.browser()

		p := b.get("/signup")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Create your account", `name="password"`)

		t.Run("ErrInvalid", func(t *testing.T) {
			p := b.post("/signup", url.Values{"name": {""}, "org": {"Acme"}, "email": {"not-an-email"}, "password": {"short"}})
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, "Enter your name", "Enter an email address", "at least 10 characters", `value="Acme"`)
			if b.cookie("snapglyph_session") != nil {
				t.Error("a refused sign-up set a session cookie")
			}
		})

		p = b.post("/signup", url.Values{"name": {"Ada Lovelace"}, "org": {"Analytical Engines"}, "email": {"Ada@Engines.test"}, "password": {password}})
		expectStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/qr-codes" {
			t.Errorf("after sign-up: Location %q", loc)
		}
		var c *http.Cookie
		for _, sc := range p.Cookies() {
			if sc.Name == "snapglyph_session" {
				c = sc
			}
		}
		if c == nil {
			t.Fatal("no session cookie after sign-up")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" || c.MaxAge <= 0 {
			t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP, Path=/, a Max-Age", c)
		}
		if len(c.Value) < 22 { // 128 bits in base64
			t.Errorf("session token %d characters: too short", len(c.Value))
		}
		p = b.follow(p)
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Analytical Engines", "Ada Lovelace", "14-day trial")

		user, _, err := db.UserByEmail(ctx, "ada@engines.test")
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := db.Memberships(ctx, user.ID)
		if len(ms) != 1 || ms[0].Role != snapglyph.RoleOwner {
			t.Fatalf("memberships %+v, want Owner of one organisation", ms)
		}
		org, _ := db.Org(ctx, ms[0].OrgID)
		if org.Plan != snapglyph.PlanTrial || !org.TrialEndsAt.Equal(start.Add(snapglyph.TrialLength)) {
			t.Errorf("new organisation: plan %s, trial ends %s; want a 14-day trial", org.Plan, org.TrialEndsAt)
		}
		// The database holds a digest of the token, never the token.
		if n, _ := db.SessionCount(ctx, user.ID, org.ID); n != 1 {
			t.Errorf("%d sessions, want 1", n)
		}
		if strings.Contains(e.logs.String(), c.Value) {
			t.Error("the session token is in the log")
		}

		t.Run("ErrEmailTaken", func(t *testing.T) {
			p := e.browser().post("/signup", url.Values{"name": {"Eve"}, "org": {"Evil"}, "email": {"ada@engines.test"}, "password": {"another password"}})
			expectStatus(t, p, http.StatusConflict)
			expectContains(t, p, "already exists")
		})

		// Sign out ends the session on the server: the old cookie is dead.
		p = b.post("/signout", nil)
		expectStatus(t, p, http.StatusSeeOther)
		if n, _ := db.SessionCount(ctx, user.ID, org.ID); n != 0 {
			t.Errorf("%d sessions after sign-out, want 0", n)
		}
		replay := e.browser()
		u, _ := url.Parse(e.srv.URL)
		replay.client.Jar.SetCookies(u, []*http.Cookie{{Name: "snapglyph_session", Value: c.Value, Path: "/"}})
		p = replay.get("/settings/api")
		expectStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); !strings.HasPrefix(loc, "/signin") {
			t.Errorf("the signed-out cookie leads to %q, want the sign-in page", loc)
		}

		t.Run("ErrWrongPassword", func(t *testing.T) {
			p := b.post("/signin", url.Values{"email": {"ada@engines.test"}, "password": {"not the password"}})
			expectStatus(t, p, http.StatusUnauthorized)
			expectContains(t, p, "The email or password is not right")
		})
		p = b.post("/signin", url.Values{"email": {"ADA@engines.test"}, "password": {password}, "next": {"/settings/company"}})
		expectStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/settings/company" {
			t.Errorf("after sign-in: Location %q, want the page asked for", loc)
		}
		t.Run("ErrOpenRedirect", func(t *testing.T) {
			// Each leads a browser to another site, as typed or once the
			// redirect has cleaned its path (/./\x → /\x, which browsers
			// read as //x).
			for _, next := range []string{"//evil.example/x", "/\\evil.example", "/./\\evil.example", "/x/../\\evil.example",
				"/.\\/evil.example", "/qr-codes/..\\..\\evil.example", "https://evil.example/", "/\t/evil.example", "javascript:alert(1)"} {
				p := e.browser().post("/signin", url.Values{"email": {"ada@engines.test"}, "password": {password}, "next": {next}})
				if loc := p.Header.Get("Location"); loc != "/qr-codes" {
					t.Errorf("sign-in with next=%q: Location %q", next, loc)
				}
				p = b.get("/signin?next=" + url.QueryEscape(next)) // signed in already
				if loc := p.Header.Get("Location"); loc != "/qr-codes" {
					t.Errorf("signed in, /signin?next=%q: Location %q", next, loc)
				}
			}
			// NUL, bytes that are not UTF-8 and a huge next are refused
			// with the request (4xx) or dropped: never followed, never a 500.
			for _, next := range []string{"/qr-codes\x00", "/qr-codes/\xff\xfe", "/qr-codes?q=" + strings.Repeat("x", 100_000)} {
				for _, p := range []*page{
					e.browser().post("/signin", url.Values{"email": {"ada@engines.test"}, "password": {password}, "next": {next}}),
					b.get("/signin?next=" + url.QueryEscape(next)),
				} {
					if loc := p.Header.Get("Location"); p.StatusCode >= 500 || (loc != "" && loc != "/qr-codes") || (loc == "" && p.StatusCode/100 != 4) {
						t.Errorf("next=%.40q: %d, Location %q", next, p.StatusCode, loc)
					}
				}
			}
			// A backslash in a query is no way out: such a next is kept.
			next := "/logs?ua=C:\\Users"
			if loc := b.get("/signin?next=" + url.QueryEscape(next)).Header.Get("Location"); loc != next {
				t.Errorf("signed in, /signin?next=%q: Location %q, want it kept", next, loc)
			}
		})
	})
}

// TestCLIOwnerSignsIn: an Owner created by "snapglyph org create
// --password-stdin" (service.CreateOrg with a password) can sign in.
func TestCLIOwnerSignsIn(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	_, _, err := e.svc.CreateOrg(context.Background(), service.NewOrg{Name: "Acme", OwnerEmail: "owner@acme.test", Plan: "pro", Password: "a long dashboard password"})
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	p := b.post("/signin", url.Values{"email": {"owner@acme.test"}, "password": {"a long dashboard password"}})
	expectStatus(t, p, http.StatusSeeOther)
	p = b.get("/settings/api")
	expectStatus(t, p, http.StatusOK)
	expectContains(t, p, "API Keys", "Create API Key")
}

func TestSignupClosed(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"), signupClosed)
	b := e.browser()
	p := b.get("/signup")
	expectStatus(t, p, http.StatusForbidden)
	expectContains(t, p, "Sign-up is closed")
	p = b.post("/signup", url.Values{"name": {"Eve"}, "org": {"Evil"}, "email": {"eve@evil.test"}, "password": {password}})
	expectStatus(t, p, http.StatusForbidden)
	if _, _, err := e.db.UserByEmail(context.Background(), "eve@evil.test"); snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
		t.Errorf("closed sign-up created a user: %v", err)
	}
	p = b.get("/signin")
	expectNotContains(t, p, `href="/signup"`)
	// Owners made by the CLI still sign in.
	_, email := e.org(snapglyph.PlanPro)
	b.signIn(email)
}

// TestSessionCookieUnderTLS: under TLS the cookie is Secure (and takes the
// __Host- prefix), and the page says Strict-Transport-Security.
func TestSessionCookieUnderTLS(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	_, email := e.org(snapglyph.PlanPro)
	req := httptest.NewRequest("POST", "https://dash.example/signin", strings.NewReader(url.Values{"email": {email}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://dash.example")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if req.TLS == nil {
		t.Fatal("httptest did not mark the request as TLS")
	}
	w := httptest.NewRecorder()
	e.dash.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("sign in over TLS: %d\n%s", w.Code, snippet(w.Body.String()))
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "__Host-snapglyph_session" || !cookies[0].Secure || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookies over TLS: %+v", cookies)
	}
	if w.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no Strict-Transport-Security under TLS")
	}
	// The cookie works over TLS.
	req = httptest.NewRequest("GET", "https://dash.example/settings/api", nil)
	req.AddCookie(cookies[0])
	w = httptest.NewRecorder()
	e.dash.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("GET /settings/api over TLS with the cookie: %d", w.Code)
	}
}

// TestSessionRotation: every sign-in issues a new token and ends the
// session the browser had, so a planted cookie is worth nothing.
func TestSessionRotation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		u, _ := url.Parse(e.srv.URL)
		b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "snapglyph_session", Value: planted, Path: "/"}})
		b.signIn(email)
		first := b.cookie("snapglyph_session").Value
		if first == planted {
			t.Fatal("sign-in kept the planted token")
		}
		b.signIn(email)
		second := b.cookie("snapglyph_session").Value
		if second == first {
			t.Fatal("signing in again kept the token")
		}
		user, _, _ := db.UserByEmail(ctx, email)
		if n, _ := db.SessionCount(ctx, user.ID, org.ID); n != 1 {
			t.Errorf("%d sessions after signing in twice in one browser, want 1 (the old one ended)", n)
		}
		old := e.browser()
		old.client.Jar.SetCookies(u, []*http.Cookie{{Name: "snapglyph_session", Value: first, Path: "/"}})
		expectStatus(t, old.get("/qr-codes"), http.StatusSeeOther)
		expectStatus(t, b.get("/qr-codes"), http.StatusOK)
	})
}

func TestSessionTimeouts(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)

		t.Run("idle", func(t *testing.T) {
			b := e.browser()
			b.signIn(email)
			for i := 0; i < 3; i++ { // active every 11 hours: still signed in
				e.advance(11 * time.Hour)
				expectStatus(t, b.get("/qr-codes"), http.StatusOK)
			}
			e.advance(service.SessionIdleTimeout)
			p := b.get("/qr-codes")
			expectStatus(t, p, http.StatusSeeOther)
			if loc := p.Header.Get("Location"); loc != "/signin?next=%2Fqr-codes" {
				t.Errorf("after 12 idle hours: Location %q", loc)
			}
		})
		t.Run("absolute", func(t *testing.T) {
			b := e.browser()
			b.signIn(email)
			signedIn := e.clock.Now()
			for e.clock.Now().Sub(signedIn) < service.SessionMaxAge-6*time.Hour {
				e.advance(6 * time.Hour)
				expectStatus(t, b.get("/qr-codes"), http.StatusOK)
			}
			e.advance(6 * time.Hour)
			expectStatus(t, b.get("/qr-codes"), http.StatusSeeOther)
		})
	})
}

// TestCrossOriginRefused: a state-changing request from another site is
// refused before it reaches a handler, even with the victim's cookie.
func TestCrossOriginRefused(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	org, email := e.org(snapglyph.PlanPro)
	b := e.browser()
	b.signIn(email)
	for name, headers := range map[string]map[string]string{
		"Origin":         {"Origin": "https://evil.example"},
		"Sec-Fetch-Site": {"Sec-Fetch-Site": "cross-site"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, path := range []string{"/settings/api/keys", "/signout", "/settings/company/invitations", "/signin"} {
				req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(url.Values{"name": {"Evil"}, "email": {"x@evil.example"}, "role": {"admin"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				for k, v := range headers {
					req.Header.Set(k, v)
				}
				p := b.do(req)
				expectStatus(t, p, http.StatusForbidden)
				expectContains(t, p, "sent from another website")
				if p.Header.Get("Content-Security-Policy") != csp {
					t.Error("the refusal has no Content-Security-Policy")
				}
			}
		})
	}
	if keys, _ := e.db.Keys(context.Background(), org.ID, true); len(keys) != 0 {
		t.Errorf("cross-site posts created %d keys", len(keys))
	}
	if invs, _ := e.db.Invitations(context.Background(), org.ID); len(invs) != 0 {
		t.Errorf("cross-site posts created %d invitations", len(invs))
	}
	expectStatus(t, b.get("/qr-codes"), http.StatusOK) // still signed in
}

func TestSigninThrottle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		wrong := url.Values{"email": {email}, "password": {"guess guess guess"}}
		for i := 1; i < service.ThrottleAccountFree; i++ {
			expectStatus(t, b.post("/signin", wrong), http.StatusUnauthorized)
		}
		p := b.post("/signin", wrong) // the 5th failure starts a wait
		expectStatus(t, p, http.StatusUnauthorized)
		expectContains(t, p, "Too many failed attempts: wait 30 seconds")

		// While it lasts even the right password is refused, unchecked.
		p = b.post("/signin", url.Values{"email": {email}, "password": {password}})
		expectStatus(t, p, http.StatusTooManyRequests)
		expectContains(t, p, "Too many failed sign-in attempts for this account", "wait 30 seconds")
		if ra := p.Header.Get("Retry-After"); ra != "30" {
			t.Errorf("Retry-After %q, want 30", ra)
		}
		// Another account from the same network is not affected.
		_, other := e.org(snapglyph.PlanPro)
		e.browser().signIn(other)

		// The next failure after the wait doubles it; the owner is never
		// kept out for more than ThrottleMaxWait.
		e.advance(31 * time.Second)
		p = b.post("/signin", wrong)
		expectContains(t, p, "wait 1 minute")
		e.advance(61 * time.Second)
		b.signIn(email) // and success clears the count
		p = e.browser().post("/signin", wrong)
		expectStatus(t, p, http.StatusUnauthorized)
		expectNotContains(t, p, "Too many")

		// Per network: a larger budget, across accounts.
		ctx := context.Background()
		for i := 0; i < service.ThrottleNetworkFree-1; i++ {
			if _, err := db.CountAttempt(ctx, "ip:127.0.0.1", service.ThrottleWindow, func(int64) time.Duration { return 0 }); err != nil {
				t.Fatal(err)
			}
		}
		p = e.browser().post("/signin", url.Values{"email": {"nobody@acme.test"}, "password": {"guess guess guess"}})
		expectContains(t, p, "Too many failed attempts")
		p = e.browser().post("/signin", url.Values{"email": {other}, "password": {password}})
		expectStatus(t, p, http.StatusTooManyRequests)
		expectContains(t, p, "from your network")
		e.advance(service.ThrottleWindow + time.Minute)
		e.browser().signIn(other)
	})
}

// TestSecurityHeaders: every response of the dashboard, whatever its
// status, carries the policy headers, and no page has inline script or
// style (which the policy would block).
func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	org, email := e.org(snapglyph.PlanPro)
	member := e.member(org, snapglyph.RoleMember)
	owner := e.browser()
	owner.signIn(email)
	owner.createKey("Production-WebApp")
	id := keyID(t, owner.get("/settings/api").Body, "Production-WebApp")
	mb := e.browser()
	mb.signIn(member)
	anon := e.browser()

	pages := map[string]*page{
		"signin":         anon.get("/signin"),
		"signup":         anon.get("/signup"),
		"redirect":       anon.get("/settings/api"),
		"not found":      anon.get("/no/such/page"),
		"static css":     anon.get(staticPath(t, anon.get("/signin").Body, "app.css")),
		"static js":      anon.get(staticPath(t, anon.get("/signin").Body, "app.js")),
		"bad invitation": anon.get("/invite/nope"),
		"api settings":   owner.get("/settings/api"),
		"create dialog":  owner.get("/settings/api/keys/new"),
		"revoke dialog":  owner.get("/settings/api/keys/" + id + "/revoke"),
		"company":        owner.get("/settings/company"),
		"invite dialog":  owner.get("/settings/company/invite"),
		"subscription":   owner.get("/settings/subscription"),
		"audit":          owner.get("/settings/audit"),
		"profile":        owner.get("/settings/profile"),
		"qr codes":       owner.get("/qr-codes"),
		"forbidden":      mb.get("/settings/api"),
		"key created":    owner.reveal(owner.post("/settings/api/keys", url.Values{"name": {"Dev-Testing"}})),
	}
	inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>[^<]|<script>|\sstyle=|<style|\son[a-z]+=|javascript:`)
	for name, p := range pages {
		h := p.Header
		if h.Get("Content-Security-Policy") != csp || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s (%d): CSP %q, X-Content-Type-Options %q, Referrer-Policy %q", name, p.StatusCode,
				h.Get("Content-Security-Policy"), h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			if m := inline.FindString(p.Body); m != "" {
				t.Errorf("%s: inline script or style %q", name, m)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Cache-Control %q, want no-store", name, h.Get("Cache-Control"))
			}
		}
	}
	if pages["forbidden"].StatusCode != http.StatusForbidden || pages["not found"].StatusCode != http.StatusNotFound {
		t.Error("unexpected statuses")
	}
}

func staticPath(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`"(/static/` + regexp.QuoteMeta(name) + `\?v=[0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no link to %s", name)
	}
	return m[1]
}
