package web_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/web"
)

// hostileRaw are values as they arrive once decoded: a NUL, bytes that
// are not UTF-8, an id with a NUL inside, a truncated sequence.
var hostileRaw = []string{"\x00", "\xff", "qr_\x00abc", "caf\xc3", "\xff\xfe\x00"}

// formFields are the fields the dashboard's forms and pages read.
var formFields = []string{"email", "password", "name", "org", "next", "role", "nonce", "confirm", "type", "url", "text", "id", "margin", "logoName"}

var wildcard = regexp.MustCompile(`\{([A-Za-z]+)(\.\.\.)?\}`)

// expectBadText checks a 422 page that names the field and does not
// repeat what was sent.
func expectBadText(t *testing.T, what string, p *page, field, sent string) {
	t.Helper()
	expectRefusedPage(t, what, p, http.StatusUnprocessableEntity, "“"+field+"”", sent)
}

// expectBadPath checks a 400 page that names the path value (an id, as
// the API answers it) and does not repeat what was sent.
func expectBadPath(t *testing.T, what string, p *page, name, sent string) {
	t.Helper()
	expectRefusedPage(t, what, p, http.StatusBadRequest, "The “"+name+"” in this address", sent)
}

// expectRefusedPage checks an error page of status that says names and
// does not repeat sent.
func expectRefusedPage(t *testing.T, what string, p *page, status int, names, sent string) {
	t.Helper()
	if p.StatusCode != status {
		t.Errorf("%s: status %d, want %d: %s", what, p.StatusCode, status, snippet(p.Body))
		return
	}
	if !strings.Contains(p.Body, names) {
		t.Errorf("%s: the page does not say %q: %s", what, names, snippet(p.Body))
	}
	if len(sent) > 1 && strings.Contains(p.Body, sent) {
		t.Errorf("%s: the page repeats the value", what)
	}
}

// TestHostileInputDashboard sends NUL and invalid UTF-8 in every path
// value of every dashboard route (from the dashboard's own mux, so a new
// route is covered), in query parameters, and in every form field, signed
// in and not (POST /signin and /signup included), urlencoded and
// multipart, on both stores. Each answer is a page naming the field (400
// for a path value, an id, as the API answers it; 422 for a field); none
// is a 500, nothing is logged as an error, and nothing is stored.
func TestHostileInputDashboard(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		patterns, err := web.RoutePatterns(web.Deps{Service: e.svc})
		if err != nil {
			t.Fatal(err)
		}
		owner := e.browser()
		owner.signIn(email)
		anon := e.browser()
		send := func(b *browser, method, path string, form url.Values) *page {
			req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(form.Encode()))
			if method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", e.srv.URL)
			}
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			return b.do(req)
		}
		escaped := func(s string) string { return url.PathEscape(s) }
		tested := 0
		for _, route := range patterns {
			method, pattern, ok := strings.Cut(route, " ")
			if !ok {
				method, pattern = "GET", route
			}
			pattern = strings.TrimSuffix(pattern, "{$}")
			for _, b := range []*browser{owner, anon} {
				for _, m := range wildcard.FindAllStringSubmatch(pattern, -1) {
					for _, v := range hostileRaw {
						path := wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
							if w == m[0] {
								return escaped(v)
							}
							return "qr_1"
						})
						expectBadPath(t, route+" "+path, send(b, method, path, nil), m[1], v)
						tested++
					}
				}
				path := wildcard.ReplaceAllString(pattern, "x")
				for _, q := range []string{"next", "type", "cursor"} {
					v := hostileRaw[tested%len(hostileRaw)]
					expectBadText(t, route+" ?"+q, send(b, method, path+"?"+q+"="+url.QueryEscape(v), nil), q, v)
					tested++
				}
				if method == "POST" {
					for _, f := range formFields {
						v := hostileRaw[tested%len(hostileRaw)]
						form := url.Values{"email": {email}, "password": {password}, "name": {"Ada"}, "org": {"Acme"}}
						form.Set(f, v)
						expectBadText(t, route+" form "+f, send(b, method, path, form), f, v)
						tested++
					}
				}
			}
		}
		// The QR-code form also comes as multipart (with a logo).
		for _, f := range []string{"name", "url", "type"} {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			mw.WriteField("type", "url")
			mw.WriteField("name", "Menu")
			mw.WriteField("url", "https://example.com/menu")
			mw.WriteField(f, "bad\x00\xff")
			mw.Close()
			req, _ := http.NewRequest("POST", e.srv.URL+"/qr-codes/new", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Origin", e.srv.URL)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			expectBadText(t, "multipart "+f, owner.do(req), f, "bad\x00\xff")
			tested++
		}
		if tested < 300 {
			t.Fatalf("only %d hostile requests: the routes were not enumerated", tested)
		}
		for _, s := range []string{"POST /signin", "POST /signup", "GET /qr-codes/{id}", "POST /settings/api/keys/{id}/revoke", "POST /invite/{token}"} {
			found := false
			for _, p := range patterns {
				found = found || p == s
			}
			if !found {
				t.Errorf("route %s was not enumerated", s)
			}
		}
		if n, err := db.CountQRCodes(t.Context(), org.ID); err != nil || n != 0 {
			t.Errorf("%d QR codes stored (err %v)", n, err)
		}
		if logs := e.logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "status=500") {
			t.Errorf("errors logged:\n%s", logs)
		}
	})
}
