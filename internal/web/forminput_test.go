package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// postRaw posts body as it is, as a same-origin urlencoded form.
func (b *browser) postRaw(path, body string) *page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// TestLogsFilterInput: a Logs filter given twice, or Suspicious with a
// value it does not take, is refused as the page refuses a bad status
// (422, the message naming the parameter, an error title), in the page
// and in its exports; an unknown parameter (utm_source) is ignored; and
// every Logs link the page draws (pages, request pages, Show all)
// answers 200.
func TestLogsFilterInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k := b.createKey("Production-WebApp")
		n := 0
		for range logPageSizeForTest + 3 {
			e.advance(time.Millisecond)
			e.call("GET", "/api/v1/usage", k, "acme-sdk/1.0")
			n++
		}
		e.waitLogged(org.ID, n)

		for _, tt := range []struct{ query, says string }{
			{"status=401&status=200", `The address gives &#34;status&#34; more than once`},
			{"key=a&key=b", `The address gives &#34;key&#34; more than once`},
			{"range=all&range=1h", `The address gives &#34;range&#34; more than once`},
			{"cursor=a&cursor=b", `The address gives &#34;cursor&#34; more than once`},
			{"suspicious=maybe", `&#34;suspicious&#34; takes 1`},
			{"suspicious=1&suspicious=1", `The address gives &#34;suspicious&#34; more than once`},
			{"status=abc", "These filters cannot be used."},
		} {
			p := b.get("/settings/logs?" + tt.query)
			if p.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("?%s: status %d, want 422", tt.query, p.StatusCode)
				continue
			}
			expectContains(t, p, "<title>Error: Logs", "These filters cannot be used.", tt.says)
			expectNotContains(t, p, `id="results"`)
			if ex := b.get("/settings/logs/export.csv?" + tt.query); ex.StatusCode < 400 {
				t.Errorf("export.csv?%s: status %d, want it refused", tt.query, ex.StatusCode)
			}
		}
		p := b.get("/settings/logs?suspicious=maybe")
		expectContains(t, p, `aria-describedby="f-suspicious-error"`, `id="f-suspicious-error"`)

		// Parameters the page does not take are ignored.
		p = b.get("/settings/logs?utm_source=mail&before=abc&range=all")
		expectStatus(t, p, http.StatusOK)
		if len(rows(p)) == 0 {
			t.Fatal("no requests listed")
		}
		// Every Logs link the page draws works.
		links := regexp.MustCompile(`href="(/settings/logs[^"]*)"`).FindAllStringSubmatch(p.Body, -1)
		older := false
		for _, m := range links {
			link := strings.ReplaceAll(m[1], "&amp;", "&")
			link, _, _ = strings.Cut(link, "#")
			older = older || strings.Contains(link, "cursor=")
			if got := b.get(link); got.StatusCode != http.StatusOK {
				t.Errorf("the link %s answers %d", link, got.StatusCode)
			}
		}
		if !older {
			t.Error("no link to older requests")
		}
	})
}

// logPageSizeForTest is the Logs page's page size (logPageSize).
const logPageSizeForTest = 50

// TestQRListFilterInput: a QR list filter given twice is refused as an
// unknown type is (back to the list, saying why); other parameters are
// ignored.
func TestQRListFilterInput(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		p := b.get("/qr-codes?type=url&type=wifi")
		expectStatus(t, p, http.StatusSeeOther)
		if loc := p.Header.Get("Location"); loc != "/qr-codes" {
			t.Errorf("redirect to %q", loc)
		}
		expectContains(t, b.follow(p), "The address gives &#34;type&#34; more than once")
		expectStatus(t, b.get("/qr-codes?createdByKey=a&createdByKey=b"), http.StatusSeeOther)
		expectStatus(t, b.get("/qr-codes?utm_source=mail&type=url"), http.StatusOK)
	})
}

// TestFormUnknownField: the key forms, and every other form read by
// readForm, refuse a field they do not have with 400 naming it, as they
// refuse a field sent twice; the fields they do have pass.
func TestFormUnknownField(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		b.createKey("Production-WebApp")
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")

		p := b.post("/settings/api/keys", url.Values{"name": {"Staging-WebApp"}, "unknown_field": {"1"}})
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "This form has no field &#34;unknown_field&#34;")
		if strings.Contains(b.get("/settings/api").Body, "Staging-WebApp") {
			t.Error("the key was created")
		}
		key := "/settings/api/keys/" + id
		for path, form := range map[string]url.Values{
			key + "/pause":           {"reason": {"x"}, "return": {"key"}, "unknown_field": {"1"}},
			key + "/resume":          {"return": {"key"}, "unknown_field": {"1"}},
			key + "/rename":          {"name": {"Renamed"}, "unknown_field": {"1"}},
			key + "/restrict":        {"access": {"full"}, "unknown_field": {"1"}},
			key + "/roll":            {"overlap": {"0s"}, "unknown_field": {"1"}},
			key + "/end-overlap":     {"unknown_field": {"1"}},
			key + "/revoke":          {"unknown_field": {"1"}},
			"/settings/profile/mail": {"topic": {"usage"}, "unknown_field": {"1"}},
		} {
			p := b.post(path, form)
			if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.Body, "This form has no field &#34;unknown_field&#34;") {
				t.Errorf("POST %s with an unknown field: status %d, want 400 naming it", path, p.StatusCode)
			}
		}
		// The key is as it was: not renamed, paused or revoked.
		kp := b.get(key)
		expectContains(t, kp, "Production-WebApp")
		expectNotContains(t, kp, "Renamed")
		// The forms' own fields pass.
		expectStatus(t, b.post(key+"/rename", url.Values{"name": {"Renamed-WebApp"}}), http.StatusSeeOther)
		expectStatus(t, b.post(key+"/pause", url.Values{"reason": {"checking"}, "until": {""}, "return": {"key"}}), http.StatusSeeOther)
		expectStatus(t, b.post(key+"/resume", url.Values{"return": {"key"}}), http.StatusSeeOther)
		p = b.post("/settings/api/keys", url.Values{"nonce": {"n1"}, "name": {"Staging-WebApp"}, "confirm": {"generic"}, "expires": {"never"},
			"expires_on": {""}, "access": {"restricted"}, "scope": {"qr_codes:read", "qr_codes:write"}, "allowed_ips": {"10.0.0.1"}})
		b.reveal(p)
	})
}

// TestFormUnreadable: a form the parser refuses says why: a raw ";", a
// "%" that begins no escape, a body over the bound (413).
func TestFormUnreadable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		p := b.postRaw("/settings/api/keys", "name=Staging&allowed_ips=10.0.0.1;10.0.0.5")
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "a semicolon must be sent encoded, as %3B")
		p = b.postRaw("/settings/api/keys", "name=Staging%zz")
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "a % itself must be sent encoded, as %25")
		p = b.post("/settings/api/keys", url.Values{"name": {strings.Repeat("x", 1<<20)}})
		expectStatus(t, p, http.StatusRequestEntityTooLarge)
		expectContains(t, p, "The form is larger than 64 KiB")
		expectNotContains(t, b.get("/settings/api"), "Staging")
		// The QR form says why too.
		p = b.postRaw("/qr-codes/new", "name=A;B&type=url")
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "a semicolon must be sent encoded, as %3B")
	})
}
