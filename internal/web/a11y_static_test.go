package web_test

import (
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

func readStatic(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cssBlock returns the body of the first block of css that opens with
// head (an at-rule or a selector list), up to its matching brace.
func cssBlock(t *testing.T, css, head string) string {
	t.Helper()
	i := strings.Index(css, head)
	if i < 0 {
		t.Fatalf("app.css has no %q", head)
	}
	i += strings.Index(css[i:], "{") + 1
	depth := 1
	for j := i; j < len(css); j++ {
		switch css[j] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				return css[i:j]
			}
		}
	}
	t.Fatalf("app.css: %q is not closed", head)
	return ""
}

// TestOneTimeSecretsLeaveWithThePage: Chrome keeps even a no-store page
// in its back/forward cache, so Back after Done would show a new key (or
// a webhook's signing secret) again. app.js blanks both fields when the
// page is left, and loads a restored page again (the server then says the
// value cannot be shown again). The browser test TestBrowserOneTimeSecrets
// checks the behaviour.
func TestOneTimeSecretsLeaveWithThePage(t *testing.T) {
	js := readStatic(t, "static/app.js")
	hide := regexp.MustCompile(`(?s)addEventListener\("pagehide", function \(\) \{(.*?)\n  \}\);`).FindStringSubmatch(js)
	if hide == nil {
		t.Fatal("app.js has no pagehide handler")
	}
	if !strings.Contains(js, `var secrets = ["new-key", "new-secret"];`) || !strings.Contains(hide[1], `secrets.forEach`) || !strings.Contains(hide[1], `field.value = ""`) {
		t.Errorf("the pagehide handler does not blank #new-key and #new-secret:%s", hide[1])
	}
	if !strings.Contains(hide[1], `status.textContent = ""`) {
		t.Error("the pagehide handler leaves the copy status (\"Copied to the clipboard.\")")
	}
	if !regexp.MustCompile(`addEventListener\("pageshow", function \(event\) \{\s*if \(event\.persisted && hasSecret\(\)\) window\.location\.reload\(\);`).MatchString(js) {
		t.Error("app.js does not reload a reveal restored from the back/forward cache")
	}
}

// TestForcedColors: in forced colours (Windows High Contrast) the
// browser drops backgrounds; the chosen QR type, the current page in the
// sidebar, the usage bars and the chart's legend were shown by a
// background alone and vanished.
func TestForcedColors(t *testing.T) {
	block := cssBlock(t, readStatic(t, "static/app.css"), "@media (forced-colors: active)")
	for _, want := range []struct{ selector, decl string }{
		{`.chips input:checked + label`, "Highlight"},
		{`.chips input:checked + label`, "border:"},
		{`.nav a[aria-current="page"]`, "border: 2px solid Highlight"},
		{`progress {`, "forced-color-adjust: none"},
		{`progress {`, "border: 1px solid CanvasText"},
		{`progress::-webkit-progress-value`, "background: Highlight"},
		{`progress::-moz-progress-bar`, "background: Highlight"},
		{`.swatch-box`, "forced-color-adjust: none"},
		{`.swatch-box`, "border: 1px solid CanvasText"},
	} {
		i := strings.Index(block, want.selector)
		if i < 0 {
			t.Errorf("the forced-colors block does not style %s", want.selector)
			continue
		}
		rule := block[i:]
		rule = rule[:strings.Index(rule, "}")]
		if !strings.Contains(rule, want.decl) {
			t.Errorf("forced colours: %s lacks %q: %s", want.selector, want.decl, rule)
		}
	}
}

// TestReflowRules: what keeps pages from scrolling sideways at 320 px
// (400 % zoom); the browser test (TestAccessibility, every page at 320
// px) checks the result.
func TestReflowRules(t *testing.T) {
	css := readStatic(t, "static/app.css")
	if rule := cssBlock(t, css, ".role-form {"); !strings.Contains(rule, "flex-wrap: wrap") {
		t.Errorf(".role-form does not wrap: %s", rule)
	}
	phone := cssBlock(t, css, "@media (max-width: 820px) {\n  .shell")
	for _, want := range []string{
		"dialog code { white-space: normal; overflow-wrap: anywhere; }",
		".org-name { margin: 0; padding: 3px 8px; font-size: 0.8rem; max-width: 100%; white-space: normal;",
	} {
		if !strings.Contains(phone, want) {
			t.Errorf("the phone layout lacks %q", want)
		}
	}
	// Tables are one card per row wherever the sidebar leaves them too
	// little room (up to 1180 px), phones included.
	narrow := cssBlock(t, css, "@media (max-width: 1180px) {")
	for _, want := range []string{
		".table.keys .key-access { overflow-wrap: normal; }",
		".table.chart-table tr > [data-label]::before",
	} {
		if !strings.Contains(narrow, want) {
			t.Errorf("the narrow table layout lacks %q", want)
		}
	}
	// The webhook events are 24 px apart at least (WCAG 2.2 2.5.8).
	if !strings.Contains(css, "fieldset.events label.check { margin: 4px 0; }") {
		t.Error("the webhook events' boxes are not spaced")
	}
	// Chart labels are never stretched: an SVG drawn with
	// preserveAspectRatio="none" holds no text. The Logs page and a
	// key's page draw their charts with layout.html's "chart-plot".
	charts := readStatic(t, "templates/layout.html")
	for _, m := range regexp.MustCompile(`(?s)<svg[^>]*preserveAspectRatio="none"[^>]*>(.*?)</svg>`).FindAllStringSubmatch(charts, -1) {
		if strings.Contains(m[1], "<text") {
			t.Errorf("a stretched SVG holds text: %s", m[1])
		}
	}
	for _, page := range []string{"templates/logs.html", "templates/key.html"} {
		if strings.Contains(readStatic(t, page), "<svg") {
			t.Errorf("%s draws an SVG of its own rather than the template chart-plot", page)
		}
	}
	if !strings.Contains(charts, `x="{{$.Percent .X}}%"`) {
		t.Error("the time axis's labels are not placed in percent outside the stretched SVG")
	}
}

// TestDialogsReturnFocus: closing a dialog (Cancel, the close button,
// Escape, Done) leads to an address whose fragment names the control
// that opened it, which the browser focuses; the reveal's Done names the
// new key's link. And times say UTC and show their exact value as text.
func TestDialogsReturnFocus(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		create := b.get("/settings/api/keys/new")
		expectContains(t, create, `data-close="/settings/api#create-key"`, `<a class="btn" href="/settings/api#create-key">Cancel</a>`,
			`<a class="icon-btn" href="/settings/api#create-key" aria-label="Close"`)
		reveal := b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Production-WebApp"}}))
		list := b.get("/settings/api")
		id := keyID(t, list.Body, "Production-WebApp")
		expectContains(t, reveal, `<a class="btn btn-primary" href="/settings/api#key-link-`+id+`">Done</a>`)
		expectContains(t, list, `id="create-key" href="/settings/api/keys/new"`, `<a id="key-link-`+id+`" href=`, `id="revoke-`+id+`" href="/settings/api/keys/`+id+`/revoke"`)
		expectContains(t, b.get("/settings/api/keys/"+id+"/revoke"), `data-close="/settings/api#revoke-`+id+`"`, `<a class="btn" href="/settings/api#revoke-`+id+`" autofocus>Cancel</a>`)
		expectContains(t, b.get("/settings/api/keys/"+id+"/roll"), `data-close="/settings/api/keys/`+id+`#roll-key"`)
		expectContains(t, b.get("/settings/api/keys/"+id), `id="roll-key" href="/settings/api/keys/`+id+`/roll"`)

		// Times: the list's dates are UTC and say so; a last use shows
		// its exact UTC time as text, not only in a title.
		key := keyPattern.FindString(reveal.Body)
		expectAPI(t, e, key, 200, "")
		e.node.Recorder.Flush(t.Context())
		list = b.get("/settings/api")
		expectContains(t, list, `<th scope="col">Created (UTC)</th>`, `<td data-label="Created (UTC)">`)
		if !regexp.MustCompile(`<time datetime="[^"]+">just now</time></a><span class="exact">\d+ \w+ \d{4}, \d\d:\d\d UTC</span>`).MatchString(list.Body) {
			t.Errorf("the list's last use shows no exact time:\n%s", snippet(list.Body))
		}
		if !regexp.MustCompile(`Last used <time [^>]+>just now</time> \(\d+ \w+ \d{4}, \d\d:\d\d UTC\) from`).MatchString(b.get("/settings/api/keys/" + id).Body) {
			t.Error("the key page's last use shows no exact time")
		}
	})
}
