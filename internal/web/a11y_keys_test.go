package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// getFrom gets a page as a link on another page of the site does: with
// that page as the Referer.
func (b *browser) getFrom(path, referer string) *page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if referer != "" {
		req.Header.Set("Referer", referer)
	}
	return b.do(req)
}

// TestFullAccessWithPermissionsRefused: permissions ticked while "Full
// access" stays chosen (a keyboard reaches the boxes from it without
// passing "Restricted to:") are refused on the permissions' group, in the
// create dialog and on the key's page, and change nothing; the boxes come
// back ticked, as sent. The reveal says what access the new key has.
func TestFullAccessWithPermissionsRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		const refused = "Full access is chosen, but permissions are ticked: choose Restricted to give the key only the permissions ticked, or untick them all for full access."

		p := b.post("/settings/api/keys", url.Values{"name": {"Mobile-Android-App"}, "access": {"full"}, "scope": {"qr_codes:read"}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, "<dialog open", `<p class="field-error" id="scopes-error">`+refused+`</p>`,
			`<fieldset class="field options" aria-describedby="scopes-help scopes-error">`,
			`<input type="radio" name="access" value="full" checked>`,
			`<input type="checkbox" name="scope" value="qr_codes:read" checked aria-invalid="true" autofocus>`)
		expectFocus(t, "full access with a permission", p, `value="qr_codes:read"`)
		if keys, _ := db.Keys(ctx, org.ID, true); len(keys) != 0 {
			t.Fatalf("a refused form made %d keys", len(keys))
		}
		for _, problem := range structureProblems(p.Body) {
			t.Errorf("the refused create dialog: %s", problem)
		}

		// The reveal says the access: full, or the permissions in words
		// with their ids, and the allowlist.
		p = b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Mobile-Android-App"}, "access": {"full"}}))
		expectContains(t, p, `aria-describedby="reveal-summary reveal-warning"`,
			"is ready to use.\n      It has <strong>full access</strong>.\n      It works from every address.</p>")
		p = b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Reporting"}, "access": {"restricted"},
			"scope": {"usage:read", "qr_codes:read"}, "allowed_ips": {"127.0.0.1, 2001:db8::/32"}}))
		expectContains(t, p, `It has only these permissions: <strong>Read QR codes</strong> <code class="scope-id">(qr_codes:read)</code>, <strong>Read usage</strong> <code class="scope-id">(usage:read)</code>.`,
			"It works only from <code>127.0.0.1, 2001:db8::/32</code>.")
		p = b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Images"}, "access": {"restricted"}, "scope": {"images:read"}}))
		expectContains(t, p, `It has only this permission: <strong>Download QR-code images</strong> <code class="scope-id">(images:read)</code>.`)

		// The key's page: the same refusal, and the key keeps its
		// restriction.
		id := keyID(t, b.get("/settings/api").Body, "Reporting")
		p = b.post("/settings/api/keys/"+id+"/restrict", url.Values{"access": {"full"}, "scope": {"usage:read"}, "allowed_ips": {""}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `<p class="field-error" id="scopes-error" role="alert">`+refused+`</p>`,
			`<input type="radio" name="access" value="full" checked>`, `<input type="checkbox" name="scope" value="usage:read" checked aria-invalid="true">`)
		if k, err := db.Key(ctx, id); err != nil || k.Scopes.String() != "qr_codes:read,usage:read" || len(k.AllowedIPs) != 2 {
			t.Fatalf("after a refused form the key is %+v (%v)", k, err)
		}
		// Full access without boxes is full access.
		b.follow(b.post("/settings/api/keys/"+id+"/restrict", url.Values{"access": {"full"}, "allowed_ips": {""}}))
		if k, _ := db.Key(ctx, id); !k.Scopes.Full() || len(k.AllowedIPs) != 0 {
			t.Errorf("full access from every address made %+v", k)
		}
	})
}

// TestKeyPageRestrictionsForm: the key page's permissions read as the
// create dialog's (words, with the id), with the same help tied to the
// group; saving what the key has already is refused on the key's page,
// where the form is, not on the list.
func TestKeyPageRestrictionsForm(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k, err := e.svc.CreateKeyWith(context.Background(), snapglyph.Operator, org.ID, service.KeySpec{Name: "Billing", Scopes: snapglyph.Scopes(snapglyph.ScopeUsageRead)})
		if err != nil {
			t.Fatal(err)
		}
		path := "/settings/api/keys/" + k.ID
		p := b.get(path)
		expectContains(t, p, `<fieldset class="field options" aria-describedby="scopes-help">`,
			`<p class="help" id="scopes-help">A request outside a restricted key's permissions is refused with <code>403 insufficient_scope</code> and costs no call.</p>`,
			`<input type="checkbox" name="scope" value="qr_codes:read"> <span>Read QR codes <code class="scope-id">(qr_codes:read)</code></span>`,
			`<input type="checkbox" name="scope" value="usage:read" checked> <span>Read usage <code class="scope-id">(usage:read)</code></span>`)
		for _, problem := range structureProblems(p.Body) {
			t.Errorf("the key's page: %s", problem)
		}

		p = b.post(path+"/restrict", url.Values{"access": {"restricted"}, "scope": {"usage:read"}, "allowed_ips": {""}})
		if loc := p.Header.Get("Location"); p.StatusCode != http.StatusSeeOther || loc != path {
			t.Fatalf("saving the same restrictions: %d to %q, want the key's page", p.StatusCode, loc)
		}
		expectContains(t, b.follow(p), "flash-error", "already has these permissions", "<h1>Billing</h1>")
	})
}

// TestRevokeDialogReturns: the revoke dialog opened from a key's page is
// drawn over that page, and Cancel and Escape (data-close) lead back to
// its Revoke button; opened from a request's page in the Logs, they lead
// back to the request, filters kept. From the list, from anywhere else,
// and for an address that names another key's page or another site, they
// lead to the list.
func TestRevokeDialogReturns(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		b.createKey("Dev-Testing")
		list := b.get("/settings/api").Body
		id, other := keyID(t, list, "Production-WebApp"), keyID(t, list, "Dev-Testing")
		reqID, _ := e.call("GET", "/api/v1/usage", secret, "curl/8")
		e.waitLogged(org.ID, 1)
		revoke := "/settings/api/keys/" + id + "/revoke"

		// From the key's page: its Revoke button says so, and the dialog
		// is drawn over the page.
		keyPage := "/settings/api/keys/" + id
		expectContains(t, b.get(keyPage), `id="revoke-key" href="/settings/api/keys/`+id+`/revoke?from=/settings/api/keys/`+id+`"`)
		for _, p := range []*page{b.get(revoke + "?from=" + url.QueryEscape(keyPage)), b.getFrom(revoke, e.srv.URL+keyPage)} {
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, "<h1>Production-WebApp</h1>", `id="details-title"`, "Revoke Production-WebApp?",
				`data-close="/settings/api/keys/`+id+`#revoke-key"`, `<a class="btn" href="/settings/api/keys/`+id+`#revoke-key" autofocus>Cancel</a>`,
				`<form method="post" action="/settings/api/keys/`+id+`/revoke">`)
			expectFocus(t, "the revoke dialog over the key's page", p, `<a class="btn" href="/settings/api/keys/`+id+`#revoke-key" autofocus>`)
			for _, problem := range structureProblems(p.Body) {
				t.Errorf("the revoke dialog over the key's page: %s", problem)
			}
		}

		// From a request's page: back to it, with its filters.
		entry := "/settings/logs/" + reqID + "?key=" + id + "&range=all"
		want := "/settings/logs/" + reqID + "?key=" + id + "&amp;range=all#revoke-key"
		for _, p := range []*page{b.get(revoke + "?from=" + url.QueryEscape(entry)), b.getFrom(revoke, e.srv.URL+entry)} {
			expectStatus(t, p, http.StatusOK)
			expectContains(t, p, "Revoke Production-WebApp?", `data-close="`+want+`"`, `<a class="btn" href="`+want+`" autofocus>Cancel</a>`)
		}

		// Anywhere else: the list.
		toList := `<a class="btn" href="/settings/api#revoke-` + id + `" autofocus>Cancel</a>`
		for _, tc := range []struct{ from, referer string }{
			{"", ""},
			{"", e.srv.URL + "/settings/api"},
			{"", e.srv.URL + "/settings/logs?key=" + id},
			{"", "https://elsewhere.example" + keyPage},
			{"", "https://elsewhere.example/settings/logs/" + reqID},
			{"/settings/api/keys/" + other, ""},
			{"https://elsewhere.example/settings/logs/" + reqID, ""},
			{"//elsewhere.example/settings/logs/" + reqID, ""},
			{"/settings/logs/export.csv", ""},
			{"/settings/logs/" + reqID + "/../../api", ""},
			{"javascript:alert(1)", ""},
		} {
			path := revoke
			if tc.from != "" {
				path += "?from=" + url.QueryEscape(tc.from)
			}
			p := b.getFrom(path, tc.referer)
			expectStatus(t, p, http.StatusOK)
			if !strings.Contains(p.Body, toList) || !strings.Contains(p.Body, `data-close="/settings/api#revoke-`+id+`"`) || strings.Contains(p.Body, "elsewhere") {
				t.Errorf("from %q, Referer %q: Cancel does not lead to the list:\n%s", tc.from, tc.referer, regexp.MustCompile(`<a class="btn" href="[^"]*" autofocus>`).FindString(p.Body))
			}
		}

		// The revoke itself names the key by its prefix too: after a roll
		// two keys share the name.
		k, _ := db.Key(context.Background(), id)
		p := b.follow(b.post(revoke, nil))
		expectContains(t, p, "Production-WebApp is revoked: applications still using "+k.Prefix+"... now receive 401 Unauthorized.")
		// A revoked key has no dialog, from its page either.
		expectStatus(t, b.get(revoke+"?from="+url.QueryEscape(keyPage)), http.StatusNotFound)
	})
}

// TestKeyLinksNameWhatTheySay: a link's accessible name starts with its
// visible words (speech input users say what they see), the context
// following in hidden text; the rolled reveal's description names the
// old key's fate; the revealed key is in a text area that wraps.
func TestKeyLinksNameWhatTheySay(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	org, email := e.org(snapglyph.PlanPro)
	b := e.browser()
	b.signIn(email)
	secret := b.createKey("Zapier-Integration")
	id := keyID(t, b.get("/settings/api").Body, "Zapier-Integration")
	k, _ := e.db.Key(context.Background(), id)
	b.follow(b.post("/settings/api/keys/"+id+"/revoke", nil))
	expectAPI(t, e, secret, http.StatusUnauthorized, "api_key_revoked")
	e.waitLogged(org.ID, 1)
	p := b.get("/settings/api")
	expectContains(t, p, `">Its requests<span class="sr-only"> (Zapier-Integration, `+k.Prefix+`...)</span></a>`,
		`">see requests<span class="sr-only"> refused for Zapier-Integration (`+k.Prefix+`...)</span></a>`)
	expectNotContains(t, p, `aria-label="Requests of`, `aria-label="Refused requests of`)

	b.createKey("Production-WebApp")
	id = keyID(t, b.get("/settings/api").Body, "Production-WebApp")
	p = b.reveal(b.post("/settings/api/keys/"+id+"/roll", url.Values{"overlap": {"1h0m0s"}}))
	expectContains(t, p, `aria-describedby="reveal-summary rolled-note reveal-warning"`, `<p class="note" id="rolled-note">`,
		`<textarea id="new-key" class="mono" rows="2" readonly spellcheck="false" autocomplete="off" data-select>qr_live_`)
	if n := strings.Count(p.Body, keyPattern.FindString(p.Body)); n != 1 {
		t.Errorf("the reveal holds the key %d times, want once", n)
	}
	for _, problem := range structureProblems(p.Body) {
		t.Errorf("the rolled reveal: %s", problem)
	}
}
