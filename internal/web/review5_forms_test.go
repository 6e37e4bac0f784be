package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestWebhookFormAllErrors: a webhook form wrong in both its URL and its
// events says so at once, each message with its field (the URL's marked
// invalid and tied to it, the events' in their group), in the style the
// dashboard gives errors; the empty list says what webhooks are for.
func TestWebhookFormAllErrors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		e.svc.Webhooks.AllowInsecureLocal = false
		_, ownerEmail := e.org(snapglyph.PlanMax)
		owner := e.browser()
		owner.signIn(ownerEmail)
		p := owner.get("/settings/webhooks")
		expectContains(t, p, "No endpoints yet. An endpoint is a URL on your server that SnapGlyph calls")

		p = owner.post("/settings/webhooks", url.Values{"url": {"http://example.com/hook"}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p,
			`aria-invalid="true" aria-describedby="hook-error"`, `id="hook-error"`, "https://",
			`<fieldset class="field events" aria-describedby="events-error">`, `id="events-error"`, "at least one event")

		// The events wrong, the URL right: only the events are marked.
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer recv.Close()
		e.svc.Webhooks.AllowInsecureLocal = true
		p = owner.post("/settings/webhooks", url.Values{"url": {recv.URL + "/hook"}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `id="events-error"`)
		expectNotContains(t, p, `id="hook-error"`)
	})
	css, err := os.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^[^{]*\.form-error[^{]*\{[^}]*color: var\(--red\)`).Match(css) {
		t.Error("app.css gives .form-error (the webhook URL's error) no error colour")
	}
}

// TestLogsFilterDisclosure: the Logs filters sit in a disclosure that
// says how many are set, closed with none set (app.js opens it on a wide
// screen) and open with one; the text inputs are typed text, so they are
// styled like every other input.
func TestLogsFilterDisclosure(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, ownerEmail := e.org(snapglyph.PlanPro)
		owner := e.browser()
		owner.signIn(ownerEmail)
		p := owner.get("/settings/logs")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, `<details class="filter-box" data-open-wide>`, `<summary>Filters</summary>`,
			`<input id="f-status" name="status" type="text"`, `<input id="f-code" name="code" type="text"`, `<input id="f-ip" name="ip" type="text"`)
		p = owner.get("/settings/logs?status=4xx&suspicious=1")
		expectContains(t, p, `<details class="filter-box" data-open-wide open>`, `(2 active)`)
		p = owner.get("/settings/logs?status=bad")
		if !strings.Contains(p.Body, `data-open-wide open>`) {
			t.Error("the filters are folded away while one of them is in error")
		}
	})
}
