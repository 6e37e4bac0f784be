package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestWebhooksPage: Owners and Admins of a Max organisation add an
// endpoint and see its secret once (not on the list, not on its page
// afterwards: shown after a redirect, a reload names the endpoint), rotate
// it (a new one, shown once the same way), see the delivery log with a
// Resend button, and delete it after a confirmation that names it; bad input is redrawn with the
// reason and stores nothing; a Member gets 403 and no sidebar entry; a
// Pro organisation sees that webhooks are on Max.
func TestWebhooksPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.svc.Webhooks.AllowInsecureLocal = true
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer recv.Close()

		pro, proOwner := e.org(snapglyph.PlanPro)
		_ = pro
		b := e.browser()
		b.signIn(proOwner)
		p := b.get("/settings/webhooks")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Webhooks are part of the Max plan")
		expectNotContains(t, p, "Create Webhook</button>")
		p = b.post("/settings/webhooks", url.Values{"url": {recv.URL}, "event": {"qr.created"}})
		expectStatus(t, p, http.StatusForbidden)

		org, ownerEmail := e.org(snapglyph.PlanMax)
		memberEmail := e.member(org, snapglyph.RoleMember)
		owner, member := e.browser(), e.browser()
		owner.signIn(ownerEmail)
		member.signIn(memberEmail)
		expectStatus(t, member.get("/settings/webhooks"), http.StatusForbidden)
		expectNotContains(t, member.get("/qr-codes"), `href="/settings/webhooks"`)
		expectContains(t, owner.get("/qr-codes"), `href="/settings/webhooks"`)

		for _, bad := range []url.Values{
			{"url": {"http://hooks.example.com/x"}, "event": {"qr.created"}},
			{"url": {"https://10.0.0.1/x"}, "event": {"qr.created"}},
			{"url": {recv.URL}, "event": {"qr.scanned"}},
			{"url": {recv.URL + "/\x00"}, "event": {"qr.created"}},
			{"url": {recv.URL}},
		} {
			p := owner.post("/settings/webhooks", bad)
			expectStatus(t, p, http.StatusUnprocessableEntity)
			switch {
			case strings.Contains(bad.Get("url"), "\x00"):
				expectContains(t, p, "NUL character") // refused for every form
			case bad.Get("event") != "qr.created":
				// The events are wrong: the message is theirs, in their
				// group, and the URL is not marked.
				expectContains(t, p, `<fieldset class="field events" aria-describedby="events-error">`, `class="field-error" role="alert" id="events-error"`,
					`value="qr.created" aria-invalid="true" aria-describedby="events-error">`)
				expectNotContains(t, p, `aria-describedby="hook-error"`, `id="hook-error"`)
			default:
				expectContains(t, p, `class="form-error"`, `id="hook-url" name="url"`, `aria-invalid="true" aria-describedby="hook-error"`)
				expectNotContains(t, p, `id="events-error"`, `type="checkbox" name="event" value="qr.created" aria-invalid`)
			}
		}
		e.svc.Webhooks.AllowInsecureLocal = false
		expectContains(t, owner.post("/settings/webhooks", url.Values{"url": {"https://127.0.0.1/x"}, "event": {"qr.created"}}), "loopback address")
		e.svc.Webhooks.AllowInsecureLocal = true
		if ws, _ := db.Webhooks(ctx, org.ID); len(ws) != 0 {
			t.Fatalf("refused forms stored %d endpoints", len(ws))
		}

		// Created: a redirect (POST-redirect-GET) to the secret's one-time
		// reveal; the secret is not in the redirect.
		created := owner.post("/settings/webhooks", url.Values{"url": {recv.URL + "/hook"}, "event": {"qr.created", "api_key.revoked"}})
		p = owner.secretReveal(created)
		secret := secretPattern.FindString(p.Body)
		if secret == "" {
			t.Fatalf("no secret shown: %s", snippet(p.Body))
		}
		expectContains(t, p, "Endpoint created", recv.URL+"/hook")
		ws, _ := db.Webhooks(ctx, org.ID)
		if len(ws) != 1 {
			t.Fatalf("%d endpoints", len(ws))
		}
		w := ws[0]
		if !strings.HasPrefix(created.Header.Get("Location"), "/settings/webhooks/"+w.ID+"/secret/rvl_") {
			t.Fatalf("redirected to %q", created.Header.Get("Location"))
		}
		// Reload and Back are calm: they name the endpoint, show no
		// secret and make no second endpoint.
		again := owner.get(created.Header.Get("Location"))
		expectStatus(t, again, http.StatusOK)
		expectContains(t, again, "Endpoint created", "was shown once when the endpoint was created", "<code class=\"endpoint-url\">"+recv.URL+"/hook</code>")
		expectNotContains(t, again, "whsec_")
		if ws, _ := db.Webhooks(ctx, org.ID); len(ws) != 1 {
			t.Fatalf("a reload made %d endpoints", len(ws))
		}
		// Another session of the same Owner, or another endpoint's
		// address, gets nothing.
		other := e.browser()
		other.signIn(ownerEmail)
		expectStatus(t, other.get(created.Header.Get("Location")), http.StatusNotFound)
		expectStatus(t, owner.get(strings.Replace(created.Header.Get("Location"), w.ID, "wh_other", 1)), http.StatusNotFound)
		list := owner.get("/settings/webhooks")
		expectContains(t, list, recv.URL+"/hook", "qr.created")
		expectNotContains(t, list, "whsec_")
		expectNotContains(t, owner.get("/settings/webhooks/"+w.ID), "whsec_")

		rotate := owner.post("/settings/webhooks/"+w.ID+"/rotate", nil)
		p = owner.secretReveal(rotate)
		rotated := secretPattern.FindString(p.Body)
		if rotated == "" || rotated == secret {
			t.Fatalf("rotate showed %q", rotated)
		}
		expectContains(t, p, "Signing secret rotated")
		if got, _ := db.WebhookWithSecret(ctx, w.ID); got.Secret != rotated {
			t.Fatal("the secret shown is not the one that signs")
		}
		p = owner.get(rotate.Header.Get("Location"))
		expectContains(t, p, "was shown once when it was rotated")
		expectNotContains(t, p, "whsec_")
		if got, _ := db.WebhookWithSecret(ctx, w.ID); got.Secret != rotated {
			t.Fatal("a reload rotated the secret again")
		}

		// An entry of the delivery log, and its Resend button.
		ev := &snapglyph.Event{Kind: snapglyph.EventQRCreated, OrgID: org.ID, Data: map[string]any{"qrCodeId": "qr_x"}}
		if _, err := db.Emit(ctx, ev, ""); err != nil {
			t.Fatal(err)
		}
		if err := db.AddWebhookAttempt(ctx, &snapglyph.WebhookAttempt{WebhookID: w.ID, EventID: ev.ID, Event: ev.Kind, Attempt: 2, At: e.clock.Now(), Status: 502, Response: "<b>bad gateway</b>"}); err != nil {
			t.Fatal(err)
		}
		p = owner.get("/settings/webhooks/" + w.ID)
		expectContains(t, p, "Delivery log", "<strong>502</strong>", "&lt;b&gt;bad gateway&lt;/b&gt;", `name="event" value="`+strconv.FormatInt(ev.ID, 10)+`"`)
		p = owner.follow(owner.post("/settings/webhooks/"+w.ID+"/resend", url.Values{"event": {strconv.FormatInt(ev.ID, 10)}}))
		expectContains(t, p, "The event is sent again")
		p = owner.follow(owner.post("/settings/webhooks/"+w.ID+"/resend", url.Values{"event": {"abc"}}))
		expectContains(t, p, "Choose a delivery of the log to resend")
		// Enabled again, it is told what can be resent: what failed
		// before, not the events of while it was disabled.
		if _, err := db.DisableWebhook(ctx, w.ID, "answered 503"); err != nil {
			t.Fatal(err)
		}
		p = owner.follow(owner.post("/settings/webhooks/"+w.ID+"/enable", nil))
		expectContains(t, p, "Events that failed before it was disabled can be resent from its log", "those that happened while it was disabled are not sent")
		p = owner.follow(owner.post("/settings/webhooks/"+w.ID+"/enable", nil))
		expectContains(t, p, "already enabled")
		expectStatus(t, member.post("/settings/webhooks/"+w.ID+"/delete", nil), http.StatusForbidden)
		expectStatus(t, member.get("/settings/webhooks/"+w.ID+"/delete"), http.StatusForbidden)

		// Delete asks first, naming the endpoint, without JavaScript: the
		// button is a link to the confirmation, which posts.
		expectContains(t, owner.get("/settings/webhooks/"+w.ID), `href="/settings/webhooks/`+w.ID+`/delete"`)
		p = owner.get("/settings/webhooks/" + w.ID + "/delete")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Delete the endpoint <code>"+recv.URL+"/hook</code>?", `<form method="post" action="/settings/webhooks/`+w.ID+`/delete">`, "cannot be undone")
		if ws, _ := db.Webhooks(ctx, org.ID); len(ws) != 1 {
			t.Fatal("the confirmation deleted the endpoint")
		}

		p = owner.follow(owner.post("/settings/webhooks/"+w.ID+"/delete", nil))
		expectContains(t, p, "is deleted")
		if ws, _ := db.Webhooks(ctx, org.ID); len(ws) != 0 {
			t.Fatal("not deleted")
		}
		expectStatus(t, owner.get("/settings/webhooks/"+w.ID), http.StatusNotFound)
		expectStatus(t, owner.get("/settings/webhooks/"+w.ID+"/delete"), http.StatusNotFound)
		expectStatus(t, owner.get(rotate.Header.Get("Location")), http.StatusNotFound)
		if strings.Contains(e.logs.String(), "whsec_") {
			t.Error("a secret in the log")
		}
	})
}

var secretPattern = regexp.MustCompile(`whsec_[A-Za-z0-9_-]{43}`)

// secretReveal follows a webhook create or rotate form's redirect to the
// secret's one-time reveal; the redirect itself must not carry it.
func (b *browser) secretReveal(p *page) *page {
	b.t.Helper()
	if p.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`^/settings/webhooks/wh_[A-Za-z0-9]+/secret/rvl_`).MatchString(p.Header.Get("Location")) {
		b.t.Fatalf("status %d to %q, want a redirect to the secret's reveal; body:\n%s", p.StatusCode, p.Header.Get("Location"), snippet(p.Body))
	}
	if strings.Contains(p.Body+strings.Join(p.Header.Values("Location"), " ")+strings.Join(p.Header.Values("Set-Cookie"), " "), "whsec_") {
		b.t.Fatal("the secret is in the redirect")
	}
	r := b.follow(p)
	expectStatus(b.t, r, http.StatusOK)
	return r
}

// TestWebhookFormOnce: the Create Webhook form carries a one-time value.
// Sent twice (Back, then Create again; or a resend after a lost answer)
// it adds one endpoint, and the second time says the secret was shown
// already; a refused form, corrected and sent again, still adds one; a
// new visit to the page gives a new form.
func TestWebhookFormOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		e.svc.Webhooks.AllowInsecureLocal = true
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		defer recv.Close()
		org, ownerEmail := e.org(snapglyph.PlanMax)
		b := e.browser()
		b.signIn(ownerEmail)
		nonceOf := func(p *page) string {
			t.Helper()
			m := regexp.MustCompile(`<input type="hidden" name="nonce" value="([0-9a-f]{32})">`).FindStringSubmatch(p.Body)
			if m == nil {
				t.Fatalf("no one-time value in the form:\n%s", snippet(p.Body))
			}
			return m[1]
		}
		count := func() int {
			t.Helper()
			ws, err := db.Webhooks(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			return len(ws)
		}

		nonce := nonceOf(b.get("/settings/webhooks"))
		form := url.Values{"url": {recv.URL + "/hook"}, "event": {"qr.created"}, "nonce": {nonce}}
		first := b.post("/settings/webhooks", form)
		expectStatus(t, first, http.StatusSeeOther)
		b.secretReveal(first)
		again := b.post("/settings/webhooks", form)
		expectStatus(t, again, http.StatusSeeOther)
		if loc := again.Header.Get("Location"); loc != "/settings/webhooks" {
			t.Fatalf("the second send went to %q", loc)
		}
		expectContains(t, b.follow(again), "That form already created its endpoint", "rotate the secret")
		if n := count(); n != 1 {
			t.Fatalf("one form sent twice made %d endpoints", n)
		}

		// Refused, then corrected: the redrawn form keeps its value.
		p := b.get("/settings/webhooks")
		nonce = nonceOf(p)
		if form.Get("nonce") == nonce {
			t.Fatal("a new visit gave the same one-time value")
		}
		bad := b.post("/settings/webhooks", url.Values{"url": {"http://hooks.example.com/x"}, "event": {"qr.created"}, "nonce": {nonce}})
		expectStatus(t, bad, http.StatusUnprocessableEntity)
		if got := nonceOf(bad); got != nonce {
			t.Fatalf("the redrawn form has %q, sent %q", got, nonce)
		}
		fixed := url.Values{"url": {recv.URL + "/other"}, "event": {"qr.created"}, "nonce": {nonce}}
		expectStatus(t, b.post("/settings/webhooks", fixed), http.StatusSeeOther)
		expectStatus(t, b.post("/settings/webhooks", fixed), http.StatusSeeOther)
		if n := count(); n != 2 {
			t.Fatalf("after the corrected form sent twice: %d endpoints, want 2", n)
		}

		// Hostile values: invalid UTF-8 is refused and stores nothing; an
		// oversized value is ignored (as without one).
		p = b.post("/settings/webhooks", url.Values{"url": {recv.URL + "/x"}, "event": {"qr.created"}, "nonce": {"\xff\xfe"}})
		if p.StatusCode != http.StatusBadRequest && p.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("a nonce of invalid UTF-8: %d", p.StatusCode)
		}
		if n := count(); n != 2 {
			t.Fatalf("a refused form stored an endpoint (%d)", n)
		}
		expectStatus(t, b.post("/settings/webhooks", url.Values{"url": {recv.URL + "/big"}, "event": {"qr.created"}, "nonce": {strings.Repeat("a", 65)}}), http.StatusSeeOther)
		if n := count(); n != 3 {
			t.Fatalf("an oversized one-time value: %d endpoints, want 3", n)
		}
	})
}
