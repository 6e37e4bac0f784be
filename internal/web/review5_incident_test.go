package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// keyRowHTML returns the list's table row of the key with the id.
func keyRowHTML(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<tr id="key-` + regexp.QuoteMeta(id) + `".*?</tr>`).FindString(body)
	if m == "" {
		t.Fatalf("no row for %s:\n%s", id, snippet(body))
	}
	return m
}

// TestPausedKeyRolledStaysPaused: a paused key that is rolled is still
// refused, and every place says so: the roll dialog (which offers to
// retire it at once), the reveal, the list (Paused stays its status, with
// the reason and Re-enable, "replaced by" beside it) and its page. The
// list and the page also show its refused attempts.
func TestPausedKeyRolledStaysPaused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanMax)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		e.advance(time.Minute)
		expectAPI(t, e, secret, http.StatusOK, "")
		e.advance(time.Minute)
		p := b.post("/settings/api/keys/"+id+"/pause", url.Values{"reason": {"leaked in public gist"}, "return": {"key"}})
		expectStatus(t, p, http.StatusSeeOther)
		for range 2 {
			e.advance(time.Second)
			expectAPI(t, e, secret, http.StatusUnauthorized, "api_key_paused")
		}
		e.waitLogged(org.ID, 3)

		p = b.get("/settings/api/keys/" + id + "/roll")
		expectContains(t, p, "is paused and stays paused", `<option value="0s" selected>`)
		expectNotContains(t, p, `<option value="24h0m0s" selected>`)

		p = b.reveal(b.post("/settings/api/keys/"+id+"/roll", url.Values{"overlap": {"24h0m0s"}}))
		expectContains(t, p, "API key rolled", "stays paused: requests with it are still refused")
		expectNotContains(t, p, "keeps working until")
		expectAPI(t, e, secret, http.StatusUnauthorized, "api_key_paused")

		row := keyRowHTML(t, b.get("/settings/api").Body, id)
		for _, want := range []string{`class="paused"`, `pill-paused`, "Paused</span>", "leaked in public gist", "replaced by <code>", "stays paused",
			`aria-label="Re-enable Production-WebApp (`, "Last refused", "(key paused)", "2 refused since paused"} {
			if !strings.Contains(row, want) {
				t.Errorf("the old key's row lacks %q:\n%s", want, row)
			}
		}
		for _, bad := range []string{"Stops in", "pill-off", ">Replaced<"} {
			if strings.Contains(row, bad) {
				t.Errorf("the old key's row has %q:\n%s", bad, row)
			}
		}

		p = b.get("/settings/api/keys/" + id)
		expectContains(t, p, "pill-paused", "Paused by", "leaked in public gist", "stays paused through the overlap", `id="key-refused"`,
			"2 refused since it was paused", "key paused", `href="/settings/logs?key=`+id+`&amp;range=all&amp;status=401#results"`)
		expectNotContains(t, p, "Both keys work until then", "Rolled: works until")
	})
}

// TestRefusedAttemptsOfActiveKey: a working key's page shows its last
// refused request (an address it does not allow) without a count; a key
// never refused shows nothing.
func TestRefusedAttemptsOfActiveKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanMax)
		b := e.browser()
		b.signIn(email)
		p := b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Office-Only"}, "allowed_ips": {"203.0.113.7"}}))
		secret := keyPattern.FindString(p.Body)
		id := keyID(t, b.get("/settings/api").Body, "Office-Only")
		expectNotContains(t, b.get("/settings/api/keys/"+id), `id="key-refused"`)
		expectAPI(t, e, secret, http.StatusForbidden, "ip_not_allowed")
		e.waitLogged(org.ID, 1)
		p = b.get("/settings/api/keys/" + id)
		expectContains(t, p, `id="key-refused"`, "address not allowed", "403 ip_not_allowed")
		expectNotContains(t, p, "refused since")
	})
}

// TestRevokedKeysStayListed: a revoked key moves to a collapsed "Revoked
// keys" section with links to its page and requests, and the revoke
// leads to the next steps: a replacement and its requests.
func TestRevokedKeysStayListed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Zapier-Integration")
		id := keyID(t, b.get("/settings/api").Body, "Zapier-Integration")
		e.advance(time.Minute)
		p := b.post("/settings/api/keys/"+id+"/revoke", nil)
		expectStatus(t, p, http.StatusSeeOther)
		p = b.follow(p)
		expectContains(t, p, "Zapier-Integration is revoked", "Create a replacement", `href="/settings/api/keys/new"`, "Review its requests",
			`href="/settings/logs?key=`+id+`&amp;range=all#results"`, `<details class="revoked-keys" id="revoked-keys" open>`, "Revoked keys (1)",
			`<a href="/settings/api/keys/`+id+`">Zapier-Integration</a>`)
		e.advance(time.Second)
		expectAPI(t, e, secret, http.StatusUnauthorized, "api_key_revoked")
		e.waitLogged(org.ID, 1)
		p = b.get("/settings/api")
		expectContains(t, p, "Revoked keys (1)", "(key revoked)", "1 refused since revoked")
		expectNotContains(t, p, "Create a replacement", `id="revoked-keys" open`)
	})
}

// TestLogEntryIncidentPath: a suspicious request's page links to the
// key's page, says how the key was not active as recorded, and offers
// Pause and Revoke while the key is active or paused.
func TestLogEntryIncidentPath(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		expectStatus(t, b.post("/settings/api/keys/"+id+"/pause", nil), http.StatusSeeOther)
		e.advance(time.Millisecond)
		reqID, status := e.call("GET", "/api/v1/usage", secret, "curl/8")
		if status != 401 {
			t.Fatalf("paused key: %d", status)
		}
		e.waitLogged(org.ID, 1)
		p := b.get("/settings/logs")
		expectContains(t, p, "key paused")
		expectNotContains(t, p, "key not active")
		p = b.get("/settings/logs/" + reqID)
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, `<a href="/settings/api/keys/`+id+`" id="entry-key">Production-WebApp</a>`, "used while it was paused.", "(paused now)",
			"Revoke this key", `href="/settings/api/keys/`+id+`/revoke"`)
		expectNotContains(t, p, "paused, revoked or expired", `action="/settings/api/keys/`+id+`/pause"`)
		// Re-enabled, the key can be paused from here.
		expectStatus(t, b.post("/settings/api/keys/"+id+"/resume", nil), http.StatusSeeOther)
		p = b.get("/settings/logs/" + reqID)
		expectContains(t, p, `action="/settings/api/keys/`+id+`/pause"`, "(active now)", "used while it was paused.")
	})
}

// TestCreateDialogReview5: the generic-name warning sits under the name
// field; permissions read as words with their ids; the date field is
// marked for hiding unless "On a date…" is chosen.
func TestCreateDialogReview5(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		_, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		p := b.post("/settings/api/keys", url.Values{"name": {"Key 1"}})
		expectStatus(t, p, http.StatusOK)
		hint, expiry := strings.Index(p.Body, `id="name-hint"`), strings.Index(p.Body, "<legend>Expiration</legend>")
		if hint < 0 || expiry < 0 || hint > expiry {
			t.Errorf("the warning (at %d) is not under the name field, before Expiration (at %d)", hint, expiry)
		}
		expectContains(t, p, `name="name" type="text" value="Key 1"`, ` autofocus autocomplete="off"`, "Create anyway")
		p = b.get("/settings/api/keys/new")
		expectContains(t, p, `Read QR codes <code class="scope-id">(qr_codes:read)</code>`, `class="inline-fields expiry-fields"`)
	})
}

// TestFullMeterLinksToPlan: at 100 % the meter's sentence says who can
// raise the limit: on Pro a higher plan (a link to Subscription for the
// Owner; an Admin is told the Owner can), on Max none, and a limit the
// operator set stays whatever the plan (it says so, with no link).
func TestFullMeterLinksToPlan(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		const link = `<a href="/settings/subscription">Change plan</a> for a higher limit`
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		expectNotContains(t, b.get("/settings/api"), link)
		// The plan's own 1,000 calls, used up.
		for range snapglyph.PlanPro.Limits().APICalls {
			e.apiGet("/api/v1/usage", secret)
		}
		expectContains(t, b.get("/settings/api"), "Limit reached", link)
		admin := e.browser()
		admin.signIn(e.member(org, snapglyph.RoleAdmin))
		p := admin.get("/settings/api")
		expectContains(t, p, "Limit reached", "Your organisation's Owner can change plan for a higher limit")
		expectNotContains(t, p, link)

		// A limit the operator set stays when the plan changes.
		calls := int64(1000)
		if err := e.svc.SetLimits(ctx, snapglyph.Operator, org.ID, &calls, nil); err != nil {
			t.Fatal(err)
		}
		p = b.get("/settings/api")
		expectContains(t, p, "Limit reached", "This limit was set for your organisation by the service's operator, who can raise it")
		expectNotContains(t, p, link)

		// On Max, the highest plan (TestMeterRaise has the others).
		maxOrg, maxEmail := e.org(snapglyph.PlanMax)
		credits := int64(0)
		if err := e.svc.SetLimits(ctx, snapglyph.Operator, maxOrg.ID, nil, &credits); err != nil {
			t.Fatal(err)
		}
		m := e.browser()
		m.signIn(maxEmail)
		p = m.get("/settings/api")
		expectContains(t, p, "Limit reached: requests are refused until the limits refresh. This limit was set for your organisation by the service's operator")
		expectNotContains(t, p, link)
	})
}

// TestRefusedCountAtScale: the count of refused attempts a paused key's
// row and page show is the number of requests the client had refused,
// counted by the test, over a day and a half of traffic: 150 accepted
// before the pause, then 600 refused three minutes apart (30 hours, so
// across many of the chart's hourly buckets and a day boundary), while
// another paused key of the organisation is refused 90 times, which must
// not count.
func TestRefusedCountAtScale(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanMax)
		b := e.browser()
		b.signIn(email)
		secret := b.createKey("Production-WebApp")
		other := b.createKey("Billing-Worker")
		id := keyID(t, b.get("/settings/api").Body, "Production-WebApp")
		otherID := keyID(t, b.get("/settings/api").Body, "Billing-Worker")
		for range 150 {
			e.advance(time.Second)
			expectAPI(t, e, secret, http.StatusOK, "")
		}
		for _, k := range []string{id, otherID} {
			expectStatus(t, b.post("/settings/api/keys/"+k+"/pause", url.Values{"return": {"key"}}), http.StatusSeeOther)
		}
		refused := 0
		for i := range 600 {
			e.advance(3 * time.Minute)
			expectAPI(t, e, secret, http.StatusUnauthorized, "api_key_paused")
			refused++
			if i%20 == 0 { // 30 times 3
				for range 3 {
					expectAPI(t, e, other, http.StatusUnauthorized, "api_key_paused")
				}
			}
		}
		e.waitLogged(org.ID, 150+refused+90)
		b.signIn(email) // 30 hours later: the session has ended
		want := fmt.Sprintf("%d refused since", refused)
		row := keyRowHTML(t, b.get("/settings/api").Body, id)
		if !strings.Contains(row, want+" paused") {
			t.Errorf("the paused key's row does not say %q:\n%s", want+" paused", row)
		}
		expectContains(t, b.get("/settings/api/keys/"+id), want+" it was paused")
		expectContains(t, b.get("/settings/api/keys/"+otherID), "90 refused since it was paused")
	})
}
