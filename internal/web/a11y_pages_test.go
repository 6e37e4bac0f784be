package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestPageStructure checks, in the HTML as served, what WCAG 2.1 asks of
// markup on the key page, the Logs page, the notices list, the
// Subscription page's plan-change confirmation, the key reveal after its
// redirect (both the first view and a reload), the Webhooks list, an
// endpoint's page, its delete confirmation and its secret's reveal (first
// view and reload): a language and a
// title, one h1, unique ids, every aria reference and label pointing at
// an element that exists, a name for every form field, button and link.
// (The browser tests run axe-core over the same pages.)
func TestPageStructure(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		created := b.post("/settings/api/keys", url.Values{"name": {"Production-WebApp"}})
		reveal := b.reveal(created)
		again := b.get(created.Header.Get("Location"))
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		b.follow(b.post("/settings/api/keys/"+id+"/pause", url.Values{"reason": {"suspicious traffic"}}))

		// The Webhooks pages, on a Max organisation with one endpoint.
		e.svc.Webhooks.AllowInsecureLocal = true
		_, maxEmail := e.org(snapglyph.PlanMax)
		m := e.browser()
		m.signIn(maxEmail)
		hook := m.post("/settings/webhooks", url.Values{"url": {"http://127.0.0.1:9/hook"}, "event": {"qr.created", "api_key.revoked"}})
		secret := m.secretReveal(hook)
		secretAgain := m.get(hook.Header.Get("Location"))
		hookPage := strings.SplitN(hook.Header.Get("Location"), "/secret/", 2)[0]
		pages := map[string]*page{
			"reveal":         reveal,
			"reveal again":   again,
			"key page":       b.get("/settings/api/keys/" + id),
			"keys (paused)":  b.get("/settings/api"),
			"logs":           b.get("/settings/logs"),
			"notices":        b.get("/notices"),
			"subscription":   b.get("/settings/subscription"),
			"plan change":    b.get("/settings/subscription/change?plan=starter"),
			"plan upgrade":   b.get("/settings/subscription/change?plan=max"),
			"webhooks":       m.get("/settings/webhooks"),
			"webhook":        m.get(hookPage),
			"webhook delete": m.get(hookPage + "/delete"),
			"webhook secret": secret,
			"secret again":   secretAgain,
		}
		for name, p := range pages {
			if p.StatusCode != http.StatusOK {
				t.Errorf("%s: status %d", name, p.StatusCode)
				continue
			}
			for _, problem := range structureProblems(p.Body) {
				t.Errorf("%s: %s", name, problem)
			}
		}
		t.Logf("pages checked: %d", len(pages))
	})
}

var (
	idAttr     = regexp.MustCompile(`\sid="([^"]+)"`)
	refAttr    = regexp.MustCompile(`\s(aria-labelledby|aria-describedby|for|aria-controls)="([^"]+)"`)
	fieldTag   = regexp.MustCompile(`<(input|select|textarea)\b([^>]*)>`)
	namedTag   = regexp.MustCompile(`(?s)<(button|a)\b([^>]*)>(.*?)</(?:button|a)>`)
	labelBlock = regexp.MustCompile(`(?s)<label\b[^>]*>.*?</label>`)
	markupTag  = regexp.MustCompile(`(?s)<[^>]+>`)
)

// structureProblems lists what is wrong with a page's markup.
func structureProblems(body string) []string {
	var out []string
	if !regexp.MustCompile(`<html lang="[a-z]{2}`).MatchString(body) {
		out = append(out, "no <html lang>")
	}
	if m := regexp.MustCompile(`(?s)<title>(.*?)</title>`).FindStringSubmatch(body); m == nil || strings.TrimSpace(m[1]) == "" {
		out = append(out, "no title")
	}
	if n := strings.Count(body, "<h1"); n != 1 {
		out = append(out, "h1 count "+string(rune('0'+n)))
	}
	ids := map[string]int{}
	for _, m := range idAttr.FindAllStringSubmatch(body, -1) {
		ids[m[1]]++
	}
	for id, n := range ids {
		if n > 1 {
			out = append(out, `duplicate id "`+id+`"`)
		}
	}
	for _, m := range refAttr.FindAllStringSubmatch(body, -1) {
		for _, ref := range strings.Fields(m[2]) {
			if ids[ref] == 0 {
				out = append(out, m[1]+` names a missing id "`+ref+`"`)
			}
		}
	}
	labelled := map[string]bool{}
	for _, m := range regexp.MustCompile(`<label\b[^>]*\sfor="([^"]+)"`).FindAllStringSubmatch(body, -1) {
		labelled[m[1]] = true
	}
	inLabel := labelBlock.FindAllStringIndex(body, -1)
	for _, loc := range fieldTag.FindAllStringSubmatchIndex(body, -1) {
		attrs := body[loc[4]:loc[5]]
		if strings.Contains(attrs, `type="hidden"`) || strings.Contains(attrs, `type="submit"`) {
			continue
		}
		if strings.Contains(attrs, "aria-label=") || strings.Contains(attrs, "aria-labelledby=") {
			continue
		}
		if m := idAttr.FindStringSubmatch(attrs); m != nil && labelled[m[1]] {
			continue
		}
		wrapped := false
		for _, l := range inLabel {
			wrapped = wrapped || l[0] < loc[0] && loc[1] <= l[1]
		}
		if !wrapped {
			out = append(out, "a field without a label: "+body[loc[0]:loc[1]])
		}
	}
	for _, m := range namedTag.FindAllStringSubmatch(body, -1) {
		if strings.Contains(m[2], "aria-label=") || strings.Contains(m[2], "aria-labelledby=") {
			continue
		}
		if strings.TrimSpace(markupTag.ReplaceAllString(m[3], "")) == "" {
			out = append(out, "a "+m[1]+" without a name: "+m[0][:min(len(m[0]), 120)])
		}
	}
	return out
}

// TestStructureProblemsCatches: the checker finds what it looks for.
func TestStructureProblemsCatches(t *testing.T) {
	bad := `<html><head></head><body><h1>A</h1><h1>B</h1><p id="x"></p><p id="x"></p><input id="f" type="text">` +
		`<label class="check"><input type="checkbox"> ok</label><div aria-describedby="gone"></div><button type="submit"><svg></svg></button><a href="/">Home</a></body></html>`
	got := strings.Join(structureProblems(bad), "\n")
	for _, want := range []string{"no <html lang>", "no title", "h1 count 2", `duplicate id "x"`, `aria-describedby names a missing id "gone"`,
		`a field without a label: <input id="f"`, "a button without a name"} {
		if !strings.Contains(got, want) {
			t.Errorf("not caught: %s\n(got %s)", want, got)
		}
	}
	if strings.Contains(got, "checkbox") || strings.Contains(got, "a a without") {
		t.Errorf("false alarms:\n%s", got)
	}
}
