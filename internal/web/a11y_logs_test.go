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

// TestLogsFromToOnlyWithCustom: the Logs' From and To count only with the
// time range Custom. Otherwise they are disabled (out of the tab order,
// not sent), and a request that sends them with another range is refused
// on the Time field, by the page and by the exports, rather than listing
// the range while the fields still show the dates typed. Without a
// range, From and To make a custom one, as before.
func TestLogsFromToOnlyWithCustom(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k := b.createKey("Production-WebApp")
		e.advance(time.Millisecond)
		e.call("GET", "/api/v1/usage", k, "acme-sdk/1.0")
		e.waitLogged(org.ID, 1)

		disabled := func(p *page, id string) bool {
			t.Helper()
			m := regexp.MustCompile(`<input id="` + id + `"[^>]*>`).FindString(p.Body)
			if m == "" {
				t.Fatalf("no #%s:\n%s", id, snippet(p.Body))
			}
			return strings.Contains(m, " disabled")
		}
		for _, q := range []string{"", "?range=24h", "?range=all&status=2xx"} {
			p := b.get("/settings/logs" + q)
			expectStatus(t, p, http.StatusOK)
			if !disabled(p, "f-from") || !disabled(p, "f-to") {
				t.Errorf("%q: From and To are enabled while Time is not Custom", q)
			}
		}
		p := b.get("/settings/logs?range=custom&from=2026-11-15T11:00")
		expectStatus(t, p, http.StatusOK)
		if disabled(p, "f-from") || disabled(p, "f-to") {
			t.Error("From and To are disabled with Custom")
		}

		for _, q := range []string{"range=24h&from=2026-11-01T00:00&to=2026-11-02T00:00", "range=7d&to=2026-11-02T00:00", "range=all&from=2026-11-01T00:00"} {
			p := b.get("/settings/logs?" + q)
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, `<select id="f-range" name="range" aria-invalid="true" aria-describedby="f-range-error">`,
				`<p class="field-error" id="f-range-error">`, "does not use From and To: choose Custom (UTC) to list the requests between them.",
				"From and To are used only with the time range Custom (UTC).", "<title>Error: Logs · SnapGlyph</title>")
			if len(rows(p)) != 0 {
				t.Errorf("%s: requests listed for filters refused", q)
			}
			// Sent again as it now stands, the form sends no dates.
			if !disabled(p, "f-from") || !disabled(p, "f-to") {
				t.Errorf("%s: the page refusing them leaves From and To enabled", q)
			}
			for _, format := range []string{"csv", "ndjson"} {
				if x := b.get("/settings/logs/export." + format + "?" + q); x.StatusCode != http.StatusUnprocessableEntity {
					t.Errorf("export.%s?%s: status %d, want 422", format, q, x.StatusCode)
				}
			}
		}
		expectContains(t, b.get("/settings/logs?range=24h&from=2026-11-01T00:00"), "Last 24 hours does not use From and To")

		// Custom, and no range at all, use them.
		for _, q := range []string{"range=custom&from=2026-11-15T11:00&to=2026-11-15T13:00", "from=2026-11-15T11:00&to=2026-11-15T13:00"} {
			p := b.get("/settings/logs?" + q)
			expectStatus(t, p, http.StatusOK)
			if len(rows(p)) != 1 {
				t.Errorf("%s: %d rows, want 1", q, len(rows(p)))
			}
		}
		if p := b.get("/settings/logs?range=custom&from=2026-11-15T12:30"); len(rows(p)) != 0 {
			t.Error("From after the request still lists it")
		}
	})
}

// TestResultsHeadingAnnounced: after a filter on the Logs and on the QR
// code list, the results' heading says how many match and which, and
// takes focus: it has tabindex -1 and the id the filter form's address
// ends with (#results), which the browser focuses. Without filters the
// heading is as before; refused filters draw no #results, so focus stays
// on the field in error.
func TestResultsHeadingAnnounced(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k1 := b.createKey("Production-WebApp")
		k2 := b.createKey("Zapier-Integration")
		id1 := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		for _, c := range []struct{ path, key string }{
			{"/api/v1/usage", k1}, {"/api/v1/usage", k1}, {"/api/v1/qr-codes/qr_nope", k1}, {"/api/v1/usage", k2},
		} {
			e.advance(time.Millisecond)
			e.call("GET", c.path, c.key, "acme-sdk/1.0")
		}
		e.waitLogged(org.ID, 4)

		p := b.get("/settings/logs")
		expectContains(t, p, `<form class="filters log-filters" method="get" action="/settings/logs#results"`,
			`<section class="card card-flush" aria-labelledby="requests-title">`, `<h2 id="requests-title">Requests</h2>`)
		expectNotContains(t, p, `id="results"`)
		for _, tc := range []struct{ query, heading string }{
			{"key=" + id1 + "&status=4xx&range=24h", "1 request of Production-WebApp, status 4xx, last 24 hours"},
			{"key=" + id1 + "&range=all", "3 requests of Production-WebApp, everything kept"},
			{"status=2xx&code=&endpoint=&ip=&range=24h", "3 requests, status 2xx, last 24 hours"},
			{"ip=127.0.0.1&endpoint=" + url.QueryEscape("GET /api/v1/usage") + "&range=1h", "3 requests, GET /api/v1/usage, from 127.0.0.1, last hour"},
			{"status=5xx&range=24h", "0 requests, status 5xx, last 24 hours"},
			{"range=custom&from=2026-11-15T11:00&to=2026-11-15T13:00", "4 requests, 15 Nov 2026 11:00 to 15 Nov 2026 12:00 UTC"},
		} {
			p := b.get("/settings/logs?" + tc.query)
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, `<section class="card card-flush" aria-labelledby="results">`,
				`<h2 id="results" tabindex="-1">`+tc.heading+`</h2>`)
			for _, problem := range structureProblems(p.Body) {
				t.Errorf("%s: %s", tc.query, problem)
			}
		}
		// Refused: no #results; the field in error takes focus.
		p = b.get("/settings/logs?status=bad")
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `<h2 id="requests-title">Requests</h2>`, `aria-invalid="true"`)
		expectNotContains(t, p, `id="results"`)

		// The QR code list.
		for _, f := range []url.Values{
			qrForm("Spring Menu", "url", "url.url", "https://example.com/menu"),
			qrForm("Summer Menu", "url", "url.url", "https://example.com/summer"),
			qrForm("Guest Wi-Fi", "wifi", "wifi.ssid", "Guests", "wifi.password", "a long passphrase", "wifi.security", "WPA"),
		} {
			b.createQR(f, nil)
		}
		p = b.get("/qr-codes")
		expectContains(t, p, `<form class="filters" method="get" action="/qr-codes#results"`,
			`<section class="card card-flush" aria-labelledby="codes-title">`, `<h2 id="codes-title">All QR codes</h2>`)
		expectNotContains(t, p, `id="results"`)
		for _, tc := range []struct{ query, heading string }{
			{"type=url", "2 QR codes, type Website address"},
			{"type=wifi", "1 QR code, type Wi-Fi network"},
			{"type=sms", "0 QR codes, type Text message (SMS)"},
		} {
			p := b.get("/qr-codes?" + tc.query)
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, `<section class="card card-flush" aria-labelledby="results">`, `<h2 id="results" tabindex="-1">`+tc.heading+`</h2>`)
			for _, problem := range structureProblems(p.Body) {
				t.Errorf("%s: %s", tc.query, problem)
			}
		}
	})
}

// TestLogsLinksNamed: each Logs row's link names its request, not only
// its time, for a screen reader's list of links; on a request's page
// "Revoke this key" is named by its words (the key in sr-only text, not
// an aria-label that drops them), and "what it means" says which code.
func TestLogsLinksNamed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k := b.createKey("Production-WebApp")
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		expectStatus(t, b.post("/settings/api/keys/"+id+"/pause", nil), http.StatusSeeOther)
		e.advance(time.Millisecond)
		reqID, _ := e.call("GET", "/api/v1/usage", k, "curl/8")
		e.waitLogged(org.ID, 1)

		p := b.get("/settings/logs")
		if !regexp.MustCompile(`<a href="/settings/logs/` + reqID + `\?range=24h"><time datetime="[^"]+">15 Nov 12:00:00.001</time><span class="sr-only"> GET /api/v1/usage, 401 api_key_paused, Production-WebApp</span></a>`).MatchString(p.Body) {
			t.Errorf("the row's link is not named by its request:\n%s", snippet(p.Body))
		}
		p = b.get("/settings/logs/" + reqID)
		expectContains(t, p, `<a class="btn btn-danger-quiet" id="revoke-key" href="/settings/api/keys/`+id+`/revoke">`,
			`<span>Revoke this key</span><span class="sr-only"> (Production-WebApp)</span></a>`,
			`<a href="/problems/api_key_paused">what it means<span class="sr-only"> (api_key_paused)</span></a>`)
		expectNotContains(t, p, `aria-label="Revoke Production-WebApp"`)
	})
}

// TestDialogsReturnToOpener: a QR code's Delete, Make Owner and Remove
// member lead back, on Cancel or Escape, to the control that opened them
// (an id, and the address's fragment naming it, which the browser
// focuses): the code's Delete on its page or on the list (on the list's
// page and filters), the member's Make Owner or Remove. The invitation
// link's Done leads to Invite Member, or with every seat taken to the new
// invitation's Cancel. The link's dialog is described by its warning
// that it is shown once. Dialogs and a failed invitation name themselves
// in the page's title.
func TestDialogsReturnToOpener(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)

		// A QR code's Delete, from its page and from the list.
		id := b.createQR(qrForm("Spring Menu", "url", "url.url", "https://example.com/menu"), nil)
		expectContains(t, b.get("/qr-codes/"+id), `<a class="btn btn-danger-quiet" id="delete-code" href="/qr-codes/`+id+`/delete">`)
		p := b.get("/qr-codes/" + id + "/delete")
		expectContains(t, p, `data-close="/qr-codes/`+id+`#delete-code"`, `<a class="btn" href="/qr-codes/`+id+`#delete-code" autofocus>Cancel</a>`,
			"<title>Delete Spring Menu? · SnapGlyph</title>")
		expectContains(t, b.get("/qr-codes"), `id="delete-`+id+`" href="/qr-codes/`+id+`/delete?from=list"`)
		expectContains(t, b.get("/qr-codes?type=url"), `id="delete-`+id+`" href="/qr-codes/`+id+`/delete?from=list&amp;type=url"`)
		for _, tc := range []struct{ query, back string }{
			{"from=list", "/qr-codes#delete-" + id},
			{"from=list&type=url", "/qr-codes?type=url#delete-" + id},
			{"from=list&type=url&createdByKey=key_x&cursor=abc", "/qr-codes?createdByKey=key_x&amp;cursor=abc&amp;type=url#delete-" + id},
			// Only the list's own parameters come along, never another place.
			{"from=list&next=https://elsewhere.example/", "/qr-codes#delete-" + id},
			{"from=https://elsewhere.example/", "/qr-codes/" + id + "#delete-code"},
		} {
			p := b.get("/qr-codes/" + id + "/delete?" + tc.query)
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, `data-close="`+tc.back+`"`, `<a class="btn" href="`+tc.back+`" autofocus>Cancel</a>`)
			for _, problem := range structureProblems(p.Body) {
				t.Errorf("delete?%s: %s", tc.query, problem)
			}
		}

		// Make Owner and Remove.
		admin := e.member(org, snapglyph.RoleAdmin)
		p = b.get("/settings/company")
		m := regexp.MustCompile(`<tr id="member-([^"]+)">\s*<th scope="row" class="member-cell" data-label="Name"><div class="person">\s*<span class="avatar" aria-hidden="true">TA</span>`).FindStringSubmatch(p.Body)
		if m == nil {
			t.Fatalf("no row for the Admin:\n%s", snippet(p.Body))
		}
		adminID := m[1]
		expectContains(t, p, `<a class="btn btn-sm" id="owner-`+adminID+`" href="/settings/company/members/`+adminID+`/owner">Make Owner<span class="sr-only"> (`+admin+`)</span></a>`,
			`<a class="icon-btn danger" id="remove-`+adminID+`" href="/settings/company/members/`+adminID+`/remove"`)
		p = b.get("/settings/company/members/" + adminID + "/owner")
		expectContains(t, p, `data-close="/settings/company#owner-`+adminID+`"`, `<a class="btn" href="/settings/company#owner-`+adminID+`" autofocus>Cancel</a>`,
			"<title>Make Test Admin the Owner? · SnapGlyph</title>")
		p = b.get("/settings/company/members/" + adminID + "/remove")
		expectContains(t, p, `data-close="/settings/company#remove-`+adminID+`"`, `<a class="btn" href="/settings/company#remove-`+adminID+`" autofocus>Cancel</a>`,
			"<title>Remove Test Admin? · SnapGlyph</title>")

		// Invitations: Done, the warning, the titles. Pro has five seats:
		// the Owner, the Admin, and three invitations.
		expectContains(t, b.get("/settings/company/invite"), "<title>Invite Member · SnapGlyph</title>")
		p = b.post("/settings/company/invitations", url.Values{"email": {"not an email"}, "role": {"member"}})
		expectContains(t, p, "<title>Error: Invite Member · SnapGlyph</title>")
		for i, invitee := range []string{"grace@acme.test", "alan@acme.test", "ada@acme.test"} {
			p := b.post("/settings/company/invitations", url.Values{"email": {invitee}, "role": {"member"}})
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, `<dialog open class="modal" aria-labelledby="link-title" aria-describedby="link-warning" data-modal>`,
				`<div class="warning" id="link-warning">`, "<title>Invitation created · SnapGlyph</title>")
			for _, problem := range structureProblems(p.Body) {
				t.Errorf("the invitation link: %s", problem)
			}
			done := regexp.MustCompile(`<a class="btn btn-primary" href="([^"]+)">Done</a>`).FindStringSubmatch(p.Body)
			if done == nil {
				t.Fatalf("no Done:\n%s", snippet(p.Body))
			}
			inv := regexp.MustCompile(`<tr id="invitation-([^"]+)">\s*<th scope="row" data-label="Email">` + regexp.QuoteMeta(invitee)).FindStringSubmatch(p.Body)
			if inv == nil {
				t.Fatalf("no row for %s:\n%s", invitee, snippet(p.Body))
			}
			// Done says which invitation it leaves (the page then says
			// it is pending).
			if i < 2 {
				if want := "/settings/company?invited=" + inv[1] + "#invite-member"; done[1] != want {
					t.Errorf("Done after invitation %d leads to %s, want Invite Member (%s)", i+1, done[1], want)
				}
				continue
			}
			// The last seat: no Invite Member; Done goes to the new
			// invitation's Cancel.
			if want := "/settings/company?invited=" + inv[1] + "#cancel-invitation-" + inv[1]; done[1] != want {
				t.Errorf("Done with every seat taken leads to %s, want %s", done[1], want)
			}
			expectContains(t, p, `<button class="btn btn-sm" id="cancel-invitation-`+inv[1]+`" type="submit">Cancel`)
			expectNotContains(t, p, `id="invite-member"`)
		}
	})
}

// TestFactsShownAsText: what was only in a title, which neither the
// keyboard nor touch can show, is text: who sent an invitation and when,
// and the time of day a QR code was created. Names read without a space
// before punctuation ("Make Owner (…)", not "Make Owner : …"), and each
// session's user agent disclosure says whose it is.
func TestFactsShownAsText(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		expectStatus(t, b.post("/settings/company/invitations", url.Values{"email": {"grace@acme.test"}, "role": {"member"}}), http.StatusOK)
		p := b.get("/settings/company")
		if !regexp.MustCompile(`<td data-label="Sent"><span><time datetime="[^"]+">just now</time><span class="exact">15 Nov 2026, 12:00 UTC</span><span class="exact sent-by">by [^<]*` + regexp.QuoteMeta(email) + `[^<]*</span></span></td>`).MatchString(p.Body) {
			t.Errorf("the invitation does not show who sent it and when as text:\n%s", snippet(p.Body))
		}
		expectNotContains(t, p, `title="15 Nov 2026, 12:00 UTC by`)

		b.createQR(qrForm("Spring Menu", "url", "url.url", "https://example.com/menu"), nil)
		p = b.get("/qr-codes")
		expectContains(t, p, `<td data-label="Created"><span><time datetime="2026-11-15T12:00:00Z">15 Nov 2026</time><span class="exact">12:00 UTC</span></span></td>`)

		p = b.get("/settings/profile")
		if !regexp.MustCompile(`<summary>User agent<span class="sr-only"> of the session on [^<]+ in Acme from 127\.0\.0\.1</span></summary>`).MatchString(p.Body) {
			t.Errorf("the user agent disclosure does not name its session:\n%s", snippet(p.Body))
		}
	})
}
