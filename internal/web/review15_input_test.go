package web_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/web"
)

// TestPathIDsRefuseInvisibleCharacters: an id in the address holding a
// control or invisible character (a right-to-left override, a zero-width
// space, a bidi isolate, a soft hyphen, an escape, DEL), on every route
// with a path value ({id}, {token}, {reveal}; from the dashboard's own mux,
// so a new one is covered), signed in and not, is refused as the API
// refuses it: 400, a page that names the value and says why with the
// character's code point, and never holds the character itself.
func TestPathIDsRefuseInvisibleCharacters(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		owner := e.browser()
		owner.signIn(email)
		anon := e.browser()
		id := owner.createQR(qrForm("Menu", "url", "url.url", "https://example.com/menu"), nil)
		patterns, err := web.RoutePatterns(web.Deps{Service: e.svc})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			char, code string
			at         int // where in the id the character is put
		}{
			{"\u202e", "U+202E", len(id)}, // right-to-left override
			{"\u200b", "U+200B", 3},       // zero-width space
			{"\u2066", "U+2066", 0},       // left-to-right isolate
			{"\u00ad", "U+00AD", 5},       // soft hyphen
			{"\x1b", "U+001B", len(id)},   // escape
			{"\x7f", "U+007F", len(id)},   // delete
		} {
			value := id[:c.at] + c.char + id[c.at:]
			tested := 0
			for _, route := range patterns {
				method, pattern, ok := strings.Cut(route, " ")
				if !ok || !wildcard.MatchString(pattern) {
					continue
				}
				for _, m := range wildcard.FindAllStringSubmatch(pattern, -1) {
					path := wildcard.ReplaceAllStringFunc(pattern, func(w string) string {
						if w == m[0] {
							return url.PathEscape(value)
						}
						return id
					})
					for _, b := range []*browser{owner, anon} {
						var p *page
						if method == "POST" {
							p = b.post(path, nil)
						} else {
							p = b.get(path)
						}
						what := route + " with " + c.code + " in {" + m[1] + "}"
						if p.StatusCode != http.StatusBadRequest {
							t.Errorf("%s: status %d, want 400: %s", what, p.StatusCode, snippet(p.Body))
							continue
						}
						says := "The “" + m[1] + "” in this address contains a control or invisible character (" + c.code + ")"
						if !strings.Contains(html.UnescapeString(p.Body), says) {
							t.Errorf("%s: the page does not say %q: %s", what, says, snippet(p.Body))
						}
						if strings.Contains(p.Body, c.char) {
							t.Errorf("%s: the page holds the character itself", what)
						}
					}
					tested++
				}
			}
			if tested < 30 {
				t.Errorf("%d path values tested; the dashboard has more", tested)
			}
		}
		// The code itself is found, and a plain id that names nothing is a 404.
		expectStatus(t, owner.get("/qr-codes/"+id), http.StatusOK)
		expectStatus(t, owner.get("/qr-codes/qr_nothing"), http.StatusNotFound)
	})
}

// TestQueryRawSemicolonRefused: a dashboard address whose query holds a
// raw ";" (which net/url drops with its pair, without a word) or a "%"
// that begins no escape is refused on every route (GET pages and posts,
// from the dashboard's own mux), signed in and not, with 400 naming the
// parameter, in the API's words, and saying how to write the character
// (%3B, %25). The same characters escaped are taken.
func TestQueryRawSemicolonRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		owner := e.browser()
		owner.signIn(email)
		anon := e.browser()
		patterns, err := web.RoutePatterns(web.Deps{Service: e.svc})
		if err != nil {
			t.Fatal(err)
		}
		semicolon := `The parameter &#34;status&#34; of this address holds a &#34;;&#34;: separate parameters with &#34;&amp;&#34;, and write a &#34;;&#34; that is part of a value as %3B.`
		percent := `The parameter &#34;status&#34; of this address has a &#34;%&#34; that does not begin an escape such as %25 or %C3%A9: write a &#34;%&#34; that is part of a value as %25.`
		tested := 0
		for _, route := range patterns {
			method, pattern, ok := strings.Cut(route, " ")
			if !ok {
				method, pattern = "GET", route
			}
			path := wildcard.ReplaceAllString(strings.TrimSuffix(pattern, "{$}"), "x_1")
			if strings.HasSuffix(path, "/") && path != "/" && !strings.HasSuffix(pattern, "{$}") {
				path += "app.css" // GET /static/
			}
			for _, c := range []struct{ query, says string }{
				{"status=401;key=x", semicolon},
				{"range=all&status=4%zz", percent},
			} {
				for _, b := range []*browser{owner, anon} {
					var p *page
					if method == "POST" {
						p = b.post(path+"?"+c.query, nil)
					} else {
						p = b.get(path + "?" + c.query)
					}
					if p.StatusCode != http.StatusBadRequest || !strings.Contains(p.Body, c.says) {
						t.Errorf("%s ?%s: status %d, want 400 saying %q: %s", route, c.query, p.StatusCode, c.says, snippet(p.Body))
					}
				}
				tested++
			}
		}
		if tested < 100 {
			t.Errorf("%d routes tested; the dashboard has more", tested)
		}

		// The filter the person meant, and the page it draws, when escaped.
		p := owner.get("/settings/logs?status=401;key=x")
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "<title>Error: Check the address")
		expectNotContains(t, p, `id="results"`)
		expectStatus(t, owner.get("/qr-codes?type=url&utm_source=a%3Bb%25"), http.StatusOK)
		// A parameter no page reads is ignored whatever it holds: a
		// marketing link still opens. One a page reads is not, even
		// after another name in the same pair.
		for _, q := range []string{"utm_source=newsletter;spring", "utm_content=50%off", "type=url&utm_source=a;b"} {
			expectStatus(t, owner.get("/qr-codes?"+q), http.StatusOK)
		}
		p = owner.get("/settings/logs?utm_x=1;status=401")
		expectStatus(t, p, http.StatusBadRequest)
		expectContains(t, p, "<title>Error: Check the address")
		p = owner.get("/settings/logs?range=all&endpoint=" + url.QueryEscape("/api/v1/qr-codes;x"))
		expectStatus(t, p, http.StatusUnprocessableEntity) // the filter got its value, and says why it is none
		expectContains(t, p, `&#34;/api/v1/qr-codes;x&#34; is not an API endpoint`)
		expectStatus(t, owner.get("/signin?next="+url.QueryEscape("/settings/logs?status=401;key=x")), http.StatusSeeOther)
	})
}
