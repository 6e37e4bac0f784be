package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// signInFrom signs the browser in with the user agent ua (the harness's
// requests send their own).
func (b *browser) signInFrom(email, ua string) {
	b.t.Helper()
	form := url.Values{"email": {email}, "password": {password}}
	req, _ := http.NewRequest("POST", b.e.srv.URL+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("User-Agent", ua)
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in %s: status %d", email, resp.StatusCode)
	}
}

// sessionButton finds the Sign out button of the listed session on
// device, and returns the reference it posts.
func sessionButton(t *testing.T, p *page, device string) string {
	t.Helper()
	re := regexp.MustCompile(`name="session" value="([0-9a-f]{32})"><button class="btn btn-sm" type="submit">Sign out<span class="sr-only"> the session on ` + regexp.QuoteMeta(device) + ` in`)
	m := re.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no Sign out button for %s:\n%s", device, snippet(p.Body))
	}
	return m[1]
}

// TestProfileSessions is the profile's list of the person's sessions
// (GitHub's "Sessions"): each with its device from the user agent (the
// agent itself escaped, whatever it holds), address and times, this one
// marked; a button ends one other session and says which; another
// person's session, or one already ended, is refused and nothing changes.
func TestProfileSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		here, chrome, hostile, huge := e.browser(), e.browser(), e.browser(), e.browser()
		here.signIn(email)
		chrome.signInFrom(email, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
		hostile.signInFrom(email, "<script>alert(1)</script>\xff\xfe\" onmouseover=\"x")
		// No HTTP request carries a NUL in a header (Go's server answers
		// 400): the service is given one as the handler would pass it.
		nul, err := e.svc.SignIn(context.Background(), email, password, service.Client{IP: "192.0.2.7", UserAgent: "Mozilla/5.0 (Macintosh) Firefox/133.0\x00<b>"}, "")
		if err != nil {
			t.Fatal(err)
		}
		huge.signInFrom(email, "Mozilla/5.0 (Windows NT 10.0) "+strings.Repeat("A", 10<<10))

		p := here.get("/settings/profile")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, `<h2 id="sessions-title">Your sessions</h2>`, "This session", "Chrome on Linux", "Unknown browser on Windows", "Firefox on macOS",
			"Mozilla/5.0 (Macintosh) Firefox/133.0&lt;b&gt;",
			"Unknown browser", "<td data-label=\"Organisation\">Acme</td>",
			"&lt;script&gt;alert(1)&lt;/script&gt;\uFFFD\uFFFD&#34; onmouseover=&#34;x", "You are also signed in in 4 other sessions")
		expectNotContains(t, p, "<script>alert(1)", "\x00", `" onmouseover="x`, strings.Repeat("A", 600))
		if !utf8.ValidString(p.Body) {
			t.Error("the page is not valid UTF-8")
		}
		if n := strings.Count(p.Body, `name="session"`); n != 4 {
			t.Errorf("%d Sign out buttons, want 4 (not this session's)", n)
		}
		// Neither a cookie's token nor the id it is found by is on the
		// page.
		for _, b := range []*browser{here, chrome, hostile, huge} {
			token := b.cookie("snapglyph_session").Value
			sum := sha256.Sum256([]byte(token))
			expectNotContains(t, p, token, hex.EncodeToString(sum[:]))
		}
		expectNotContains(t, p, nul.Token, nul.Session.ID)

		ref := sessionButton(t, p, "Chrome on Linux")
		memberEmail := e.member(org, snapglyph.RoleMember)
		member, member2 := e.browser(), e.browser()
		member.signIn(memberEmail)
		member2.signInFrom(memberEmail, "curl/8.5.0")
		theirs := sessionButton(t, member.get("/settings/profile"), "curl")

		t.Run("ErrOthersSession", func(t *testing.T) {
			p := here.post("/settings/profile/sessions/end", url.Values{"session": {theirs}})
			expectStatus(t, p, http.StatusSeeOther)
			expectContains(t, here.follow(p), "That session was not found: it has already ended (signed out or expired), or it is not one of yours.")
			expectStatus(t, member2.get("/qr-codes"), http.StatusOK)
			expectStatus(t, chrome.get("/qr-codes"), http.StatusOK)
			// The member cannot end the Owner's either.
			expectContains(t, member.follow(member.post("/settings/profile/sessions/end", url.Values{"session": {ref}})), "not one of yours")
			expectStatus(t, chrome.get("/qr-codes"), http.StatusOK)
		})
		t.Run("ErrNotAReference", func(t *testing.T) {
			token := chrome.cookie("snapglyph_session").Value
			sum := sha256.Sum256([]byte(token))
			for _, v := range []string{"", "nope", token, hex.EncodeToString(sum[:])} {
				p := here.follow(here.post("/settings/profile/sessions/end", url.Values{"session": {v}}))
				expectContains(t, p, "That session was not found")
			}
			// Hostile values: refused as the form's other text is (NUL,
			// invalid UTF-8) or not found (a huge one), never a 500, and
			// no session ends.
			for _, v := range []string{ref[:31] + "\x00", strings.Repeat("\xff", 32), strings.Repeat("a", 100<<10)} {
				p := here.post("/settings/profile/sessions/end", url.Values{"session": {v}})
				if p.StatusCode >= 500 || p.StatusCode == http.StatusOK {
					t.Errorf("session=%.40q: status %d", v, p.StatusCode)
				}
			}
			expectStatus(t, chrome.get("/qr-codes"), http.StatusOK)
		})
		t.Run("OK", func(t *testing.T) {
			p := here.post("/settings/profile/sessions/end", url.Values{"session": {ref}})
			expectStatus(t, p, http.StatusSeeOther)
			if loc := p.Header.Get("Location"); strings.Contains(loc, ref) {
				t.Errorf("the redirect %q carries the reference", loc)
			}
			p = here.follow(p)
			expectContains(t, p, "You signed out the session on Chrome on Linux in Acme from ", "It has ended; this session goes on.",
				"You are also signed in in 3 other sessions")
			expectNotContains(t, p, ref)
			if p := chrome.get("/qr-codes"); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/signin") {
				t.Errorf("the ended session goes on: %d %s", p.StatusCode, p.Header.Get("Location"))
			}
			for _, b := range []*browser{here, hostile, huge, member, member2} {
				expectStatus(t, b.get("/qr-codes"), http.StatusOK)
			}
			p = here.follow(here.post("/settings/profile/sessions/end", url.Values{"session": {ref}}))
			expectContains(t, p, "it has already ended")
		})
	})
}
