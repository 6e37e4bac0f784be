package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// TestCreateKeyDateOnlyOnADate: the date beside Expiration counts only
// with "On a date…". A form that sends one with "Never" or a preset (a
// browser without JavaScript sends the hidden field; app.js disables it)
// makes the key the choice says, even when that date is past or not a
// date, and a form sent back for another field keeps the choice.
func TestCreateKeyDateOnlyOnADate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		for _, tc := range []struct {
			name, expires, on string
			want              time.Time // zero: never
		}{
			{"Never-Dated", "never", "2027-06-30", time.Time{}},
			{"Never-Past", "never", "2020-01-01", time.Time{}},
			{"Never-Garbage", "never", "not a date", time.Time{}},
			{"Thirty-Dated", "30", "2027-06-30", start.Add(30 * 24 * time.Hour)},
			{"Dated", "date", "2027-06-30", time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)},
		} {
			b.reveal(b.post("/settings/api/keys", url.Values{"name": {tc.name}, "expires": {tc.expires}, "expires_on": {tc.on}, "access": {"full"}}))
			keys, err := db.Keys(context.Background(), org.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			var got *snapglyph.APIKey
			for _, k := range keys {
				if k.Name == tc.name {
					got = k
				}
			}
			if got == nil {
				t.Fatalf("%s (expires=%s, expires_on=%q): no key made", tc.name, tc.expires, tc.on)
			}
			if !got.ExpiresAt.Equal(tc.want) {
				t.Errorf("%s (expires=%s, expires_on=%q): expires %v, want %v", tc.name, tc.expires, tc.on, got.ExpiresAt, tc.want)
			}
		}
		// Sent back for its name, the form keeps "Never" and does not
		// mark the expiry wrong.
		p := b.post("/settings/api/keys", url.Values{"name": {""}, "expires": {"never"}, "expires_on": {"2020-01-01"}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `<option value="never" selected>Never</option>`)
		if strings.Contains(p.Body, `id="expires-error"`) {
			t.Errorf("a date sent with Never is an error:\n%s", snippet(p.Body))
		}
	})
}

// TestCreateKeyWithOptions: the create dialog's expiry, permissions and
// allowlist take effect; each wrong field comes back named, with 422, and
// creates nothing; a name another active key holds is a 409 that says so.
func TestCreateKeyWithOptions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		p := b.get("/settings/api/keys/new")
		expectContains(t, p, `name="expires"`, `<option value="30">30 days</option>`, `name="expires_on" type="date"`,
			`value="restricted"`, `name="scope" value="qr_codes:read"`, `name="scope" value="usage:read"`, `name="allowed_ips"`)

		form := url.Values{"name": {"Reporting"}, "expires": {"30"}, "access": {"restricted"}, "scope": {"usage:read", "images:read"},
			"allowed_ips": {"127.0.0.1, 2001:db8::/32"}}
		p = b.reveal(b.post("/settings/api/keys", form))
		secret := keyPattern.FindString(p.Body)
		keys, _ := db.Keys(context.Background(), org.ID, false)
		if len(keys) != 1 || !keys[0].ExpiresAt.Equal(start.Add(30*24*time.Hour)) || keys[0].Scopes.String() != "images:read,usage:read" ||
			snapglyph.FormatAllowedIPs(keys[0].AllowedIPs) != "127.0.0.1,2001:db8::/32" {
			t.Fatalf("stored %+v", keys[0])
		}
		// It works as restricted, from loopback.
		expectAPI(t, e, secret, http.StatusOK, "")
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/qr-codes", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != 403 {
			t.Errorf("outside its permissions: %d", resp.StatusCode)
		}
		// A date.
		b.reveal(b.post("/settings/api/keys", url.Values{"name": {"Partner"}, "expires": {"date"}, "expires_on": {"2027-06-30"}, "access": {"full"}}))

		before, _ := db.Keys(context.Background(), org.ID, true)
		for _, tc := range []struct {
			form   url.Values
			status int
			want   string
		}{
			{url.Values{"name": {"A"}, "expires": {"12"}}, 422, "Choose one of the offered expiries"},
			{url.Values{"name": {"A"}, "expires": {"date"}}, 422, "Choose the date the key expires"},
			{url.Values{"name": {"A"}, "expires": {"date"}, "expires_on": {"2020-01-01"}}, 422, "not at least one minute in the future"},
			{url.Values{"name": {"A"}, "access": {"restricted"}}, 422, "Choose at least one permission"},
			{url.Values{"name": {"A"}, "access": {"restricted"}, "scope": {"qr_codes:admin"}}, 422, "Unknown permission"},
			{url.Values{"name": {"A"}, "allowed_ips": {"10.0.0.1/8"}}, 422, "did you mean 10.0.0.0/8"},
			{url.Values{"name": {"A"}, "allowed_ips": {"intranet"}}, 422, "is not an IPv4 or IPv6 address"},
			{url.Values{"name": {"Reporting"}}, 409, "Another active API key of this organisation is named"},
			// An access other than the two choices is refused, not taken
			// for full access.
			{url.Values{"name": {"A"}, "access": {"Restricted"}, "scope": {"usage:read"}}, 422, "Choose Full access or Restricted"},
			{url.Values{"name": {"A"}, "access": {"root"}}, 422, "Choose Full access or Restricted"},
			{url.Values{"name": {"A"}, "access": {""}}, 422, "Choose Full access or Restricted"},
			// Permissions without access: not taken for full access.
			{url.Values{"name": {"A"}, "scope": {"usage:read"}}, 422, "Choose Restricted to give the key only the permissions ticked"},
		} {
			p := b.post("/settings/api/keys", tc.form)
			expectStatus(t, p, tc.status)
			expectContains(t, p, "<dialog open", tc.want)
			if tc.status == 422 {
				expectContains(t, p, `aria-invalid="true"`)
			}
		}
		// A field sent twice (but a list of ticked boxes): which copy
		// was meant cannot be told.
		for _, form := range []url.Values{
			{"name": {"A"}, "access": {"restricted", "full"}, "scope": {"usage:read"}},
			{"name": {"A", "B"}},
			{"name": {"A"}, "expires": {"never", "30"}},
		} {
			p := b.post("/settings/api/keys", form)
			expectStatus(t, p, http.StatusBadRequest)
			expectContains(t, p, "more than once")
		}
		if after, _ := db.Keys(context.Background(), org.ID, true); len(after) != len(before) {
			t.Errorf("refused forms created %d keys", len(after)-len(before))
		}
	})
}

// TestKeyListLifecycle: the list says when keys expire and marks those
// near it, shows who paused a key, why and until when, and shows a rolled
// key under its replacement, each with its last use, with End overlap now.
// Last use is a link to the key's page, which has its details: nothing
// opens inside the list to reflow it.
func TestKeyListLifecycle(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		create := func(spec service.KeySpec) *service.NewKey {
			k, err := e.svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, spec)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		create(service.KeySpec{Name: "Yearly", ExpiresIn: 365 * 24 * time.Hour})
		create(service.KeySpec{Name: "Soon", ExpiresIn: 3 * 24 * time.Hour})
		create(service.KeySpec{Name: "Gone", ExpiresIn: time.Hour})
		paused := create(service.KeySpec{Name: "Paused"})
		old := create(service.KeySpec{Name: "Billing"})
		e.advance(2 * time.Hour)
		if _, err := e.svc.PauseKeyWith(ctx, snapglyph.Actor{Label: "alice@acme.test"}, paused.ID, "suspicious traffic", e.clock.Now().Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		expectAPI(t, e, old.Secret, http.StatusOK, "")
		rk, err := e.svc.RollKey(ctx, snapglyph.Operator, old.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		expectAPI(t, e, rk.Secret, http.StatusOK, "")
		e.node.Recorder.Flush(ctx)

		p := b.get("/settings/api")
		expectStatus(t, p, http.StatusOK)
		row := func(name string) string {
			t.Helper()
			m := regexp.MustCompile(`(?s)<tr id="key-key_[A-Za-z0-9]+"[^>]*>\s*<th scope="row" class="key-name" data-label="Name">\s*(?:<span class="rolled-mark"[^>]*>↳</span> )?<a id="key-link-key_[A-Za-z0-9]+" href="/settings/api/keys/key_[A-Za-z0-9]+"(?: aria-labelledby="[^"]+")?>`+regexp.QuoteMeta(name)+`</a>.*?</tr>`).FindAllString(p.Body, -1)
			if len(m) == 0 {
				t.Fatalf("no row %q:\n%s", name, snippet(p.Body))
			}
			return strings.Join(m, "\n")
		}
		if r := row("Yearly"); !strings.Contains(r, "Expires in 365 days") || strings.Contains(r, "pill-warn") {
			t.Errorf("Yearly: %s", r)
		}
		if r := row("Soon"); !strings.Contains(r, `class="expiring"`) || !strings.Contains(r, "Expires in 3 days") || !strings.Contains(r, "pill-warn") {
			t.Errorf("Soon: %s", r)
		}
		if r := row("Gone"); !strings.Contains(r, "Expired") || strings.Contains(r, `aria-label="Pause Gone"`) || strings.Contains(r, `aria-label="Re-enable Gone"`) {
			t.Errorf("Gone: %s", r)
		}
		if r := row("Paused"); !strings.Contains(r, `Paused</span> <span class="status-note">by alice@acme.test: “suspicious traffic” · until 16 Nov 2026, 14:00 UTC`) || strings.Contains(r, "Inactive") {
			t.Errorf("Paused: %s", r)
		}
		// The roll: the new key's row, then the old key's, both named
		// Billing, each with its last use linked to its page; the old one
		// can be ended, with an icon button like the other actions.
		billing := row("Billing")
		iNew, iOld := strings.Index(billing, rk.Prefix), strings.Index(billing, old.Prefix)
		lastUse := func(id string) string { return `<a class="last-used" href="/settings/api/keys/` + id + `#used-title"` }
		if iNew < 0 || iOld < iNew || !strings.Contains(billing, lastUse(rk.ID)) || !strings.Contains(billing, lastUse(old.ID)) ||
			!regexp.MustCompile(`<button class="icon-btn" type="submit" aria-label="End overlap of Billing \(`+old.Prefix+`\.\.\.\)" title="[^"]+"><svg`).MatchString(billing) ||
			!strings.Contains(billing, `class="rolled"`) || !strings.Contains(billing, "Stops in 24 hours") || !strings.Contains(billing, "by <code>"+rk.Prefix+"...</code>") ||
			!strings.Contains(billing, "End overlap of Billing ("+old.Prefix+"...)") {
			t.Fatalf("the rolled pair:\n%s", billing)
		}
		expectNotContains(t, p, `<details class="last-used"`)
		p = b.follow(b.post("/settings/api/keys/"+old.ID+"/end-overlap", nil))
		expectContains(t, p, "stopped working now")
		expectAPI(t, e, old.Secret, http.StatusUnauthorized, "api_key_expired")
		expectAPI(t, e, rk.Secret, http.StatusOK, "")
		p = b.follow(b.post("/settings/api/keys/"+old.ID+"/end-overlap", nil))
		expectContains(t, p, "flash-error", "stopped working at")
		// Resuming an expired key is refused, on the page.
		p = b.follow(b.post("/settings/api/keys/"+old.ID+"/resume", nil))
		expectContains(t, p, "flash-error", "expired")
	})
}

// TestKeyPage: a key's page shows its details, this month's calls and
// credits (equal to the requests made, and its days add up to them), the
// addresses it was used from, the QR codes it created and its events; its
// forms rename (409 for a taken name), pause with a reason and an end,
// and roll, showing the new key once.
func TestKeyPage(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k, err := e.svc.CreateKeyWith(ctx, snapglyph.Operator, org.ID, service.KeySpec{Name: "Billing", ExpiresIn: 90 * 24 * time.Hour,
			Scopes: snapglyph.Scopes(snapglyph.ScopeUsageRead | snapglyph.ScopeQRWrite | snapglyph.ScopeQRRead | snapglyph.ScopeImagesRead)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Taken"); err != nil {
			t.Fatal(err)
		}
		// Requests on two days: 3 + a QR code + an SVG on the 15th, 2 on
		// the 17th; some flushed, the last ones not.
		for i := 0; i < 3; i++ {
			expectAPI(t, e, k.Secret, http.StatusOK, "")
		}
		qr := apiSend(t, e, "POST", "/api/v1/qr-codes", k.Secret, `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`, 201)
		apiSend(t, e, "GET", "/api/v1/qr-codes/"+qr["id"].(string)+"?format=svg", k.Secret, "", 200)
		e.node.Recorder.Flush(ctx)
		e.advance(2 * 24 * time.Hour)
		for i := 0; i < 2; i++ {
			expectAPI(t, e, k.Secret, http.StatusOK, "")
		}
		calls, credits := int64(3+1+1+2), int64(1)
		b.signIn(email) // two days later: the session is over

		p := b.get("/settings/api/keys/" + k.ID)
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "<h1>Billing</h1>", k.Prefix+"...", "Active", "operator (CLI)",
			"<code>qr_codes:read</code>, <code>qr_codes:write</code>, <code>images:read</code>, <code>usage:read</code>", "Every address",
			`<strong id="key-calls">`+strconv.FormatInt(calls, 10)+`</strong>`, `<strong id="key-credits">`+strconv.FormatInt(credits, 10)+`</strong>`,
			"<code>127.0.0.1</code>", `href="/qr-codes?createdByKey=`+k.ID+`#results"`, "Menu", "Created API key", "<svg class=\"chart\"")
		// The chart's bars and the table by day add up to the month.
		var sumCalls, sumCredits int64
		for _, m := range regexp.MustCompile(`<title>\d+ Nov: (\d+) API calls</title>`).FindAllStringSubmatch(p.Body, -1) {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			sumCalls += n
		}
		for _, m := range regexp.MustCompile(`<title>\d+ Nov: (\d+) image credits</title>`).FindAllStringSubmatch(p.Body, -1) {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			sumCredits += n
		}
		if sumCalls != calls || sumCredits != credits {
			t.Errorf("the chart's bars add up to %d calls and %d credits, want %d and %d", sumCalls, sumCredits, calls, credits)
		}
		expectContains(t, p, "<title>15 Nov: 5 API calls</title>", "<title>17 Nov: 2 API calls</title>", "<title>16 Nov: 0 API calls</title>")
		// Each address's cells carry their column's name, for the phone
		// layout's one card per row.
		if !regexp.MustCompile(`<tr><th scope="row" data-label="IP address"><code>127\.0\.0\.1</code></th><td data-label="First seen"><time [^>]+>15 Nov 2026, 12:00 UTC</time></td><td data-label="Last seen"><time [^>]+>17 Nov 2026, 12:00 UTC</time></td><td data-label="Calls">` + strconv.FormatInt(calls, 10) + `</td></tr>`).MatchString(p.Body) {
			t.Errorf("the addresses' cells are not labelled:\n%s", snippet(p.Body))
		}
		if n := len(regexp.MustCompile(`<title>\d+ Nov: \d+ API calls</title>`).FindAllString(p.Body, -1)); n != 17 {
			t.Errorf("%d days drawn, want 17 (1 to 17 November)", n)
		}
		// Calls and credits are two charts, each on its own scale (the
		// tallest bar is the top of its axis), titled and described, and
		// their time axis names the month.
		expectContains(t, p,
			`<svg class="chart" role="img" aria-labelledby="calls-chart-title calls-chart-desc">`,
			`<title id="calls-chart-title">API calls per day, 1 Nov to 17 Nov 2026</title>`,
			`<desc id="calls-chart-desc">7 API calls in all, most on 15 Nov (5).</desc>`,
			`<svg class="chart" role="img" aria-labelledby="credits-chart-title credits-chart-desc">`,
			`<title id="credits-chart-title">Image credits per day, 1 Nov to 17 Nov 2026</title>`,
			`<desc id="credits-chart-desc">1 image credit in all, most on 15 Nov (1).</desc>`,
			`<span class="y-tick y-max" aria-hidden="true">5</span>`, `<span class="y-tick y-max" aria-hidden="true">1</span>`)
		if n := strings.Count(p.Body, `<svg class="chart"`); n != 2 {
			t.Errorf("%d charts on the key's page, want 2 (calls, credits)", n)
		}
		ticks := regexp.MustCompile(`<text class="tick[^"]*"[^>]*>([^<]*)</text>`).FindAllStringSubmatch(p.Body, -1)
		var labels []string
		for _, m := range ticks {
			labels = append(labels, m[1])
		}
		if got, want := strings.Join(labels, ","), "1 Nov,6 Nov,12 Nov,17 Nov,1 Nov,6 Nov,12 Nov,17 Nov"; got != want {
			t.Errorf("the time axes read %s, want %s", got, want)
		}
		if !strings.Contains(p.Body, `<rect class="bar-credits"`) || strings.Count(p.Body, `<rect class="bar-calls"`) != 2 {
			t.Errorf("the bars are not drawn by series (2 days of calls, 1 of credits):\n%s", snippet(p.Body))
		}

		// Rename: a taken name is a 409 by the field; a free one renames.
		p = b.post("/settings/api/keys/"+k.ID+"/rename", url.Values{"name": {"Taken"}})
		expectStatus(t, p, http.StatusConflict)
		expectContains(t, p, `id="rename-error"`, "Another active API key of this organisation is named &#34;Taken&#34;")
		p = b.post("/settings/api/keys/"+k.ID+"/rename", url.Values{"name": {""}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		p = b.follow(b.post("/settings/api/keys/"+k.ID+"/rename", url.Values{"name": {"Billing-Prod"}}))
		expectContains(t, p, "Billing is now named Billing-Prod", "<h1>Billing-Prod</h1>", "Renamed API key", "from &#34;Billing&#34;")

		// Pause with a reason and an end; a past end is refused.
		p = b.post("/settings/api/keys/"+k.ID+"/pause", url.Values{"reason": {"leak"}, "until": {"2020-01-01T00:00"}, "return": {"key"}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		expectContains(t, p, `id="pause-error"`, "not at least one minute in the future", `value="leak"`)
		p = b.post("/settings/api/keys/"+k.ID+"/pause", url.Values{"reason": {"leak"}, "until": {"tomorrow"}, "return": {"key"}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		p = b.post("/settings/api/keys/"+k.ID+"/pause", url.Values{"reason": {"leaked in a log"}, "until": {"2026-11-18T09:30"}, "return": {"key"}})
		if loc := p.Header.Get("Location"); loc != "/settings/api/keys/"+k.ID {
			t.Fatalf("after pausing from the key's page: %d to %q", p.StatusCode, loc)
		}
		p = b.follow(p)
		expectContains(t, p, "paused until 18 Nov 2026, 09:30 UTC", "Paused by", "“leaked in a log”", "works again by itself on 18 Nov 2026, 09:30 UTC")
		expectAPI(t, e, k.Secret, http.StatusUnauthorized, "api_key_paused")
		p = b.follow(b.post("/settings/api/keys/"+k.ID+"/resume", url.Values{"return": {"key"}}))
		expectContains(t, p, "Billing-Prod is active again")

		// Roll: the dialog, then the new key shown once over the list, the
		// old key under it.
		p = b.get("/settings/api/keys/" + k.ID + "/roll")
		expectStatus(t, p, http.StatusOK)
		expectContains(t, p, "Roll Billing-Prod?", `<option value="1h0m0s">1 hour</option>`, `<option value="24h0m0s" selected>24 hours</option>`, `<option value="168h0m0s">7 days</option>`)
		p = b.post("/settings/api/keys/"+k.ID+"/roll", url.Values{"overlap": {"3h"}})
		expectStatus(t, p, http.StatusUnprocessableEntity)
		rolled := b.post("/settings/api/keys/"+k.ID+"/roll", url.Values{"overlap": {"1h0m0s"}})
		p = b.reveal(rolled)
		secret := keyPattern.FindString(p.Body)
		if secret == "" || secret == k.Secret {
			t.Fatalf("no new key revealed:\n%s", snippet(p.Body))
		}
		expectContains(t, p, "API key rolled", "keeps working until 17 Nov 2026, 13:00 UTC", `class="rolled"`)
		// Reloaded, the reveal says which key it was, without a value.
		again := b.get(rolled.Header.Get("Location"))
		expectContains(t, again, "API key rolled", "The key Billing-Prod was rolled: its new value cannot be shown again.")
		expectNotContains(t, again, secret)
		expectAPI(t, e, secret, http.StatusOK, "")
		expectAPI(t, e, k.Secret, http.StatusOK, "")
		// Sent again (a refresh), the form rolls nothing and shows no key.
		p = b.post("/settings/api/keys/"+k.ID+"/roll", url.Values{"overlap": {"1h0m0s"}})
		if p.StatusCode != http.StatusSeeOther || keyPattern.MatchString(p.Body) {
			t.Fatalf("a second roll: %d", p.StatusCode)
		}
		expectContains(t, b.follow(p), "flash-error", "already rolled")
		keys, _ := db.Keys(ctx, org.ID, true)
		if len(keys) != 3 {
			t.Errorf("%d keys after the roll was sent twice, want 3", len(keys))
		}
		// The old key's page links to the new one, and says until when.
		p = b.get("/settings/api/keys/" + k.ID)
		expectContains(t, p, "Replaced by", "Rolled: works until 17 Nov 2026, 13:00 UTC", "End overlap now", "Rolled API key")
		expectNotContains(t, p, "/roll\"")
	})
}

// TestKeyRestrictForm: the key page's restrictions form changes what the
// key may do from its next request; wrong fields come back named (422)
// and change nothing.
func TestKeyRestrictForm(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Billing")
		if err != nil {
			t.Fatal(err)
		}
		expectAPI(t, e, k.Secret, http.StatusOK, "")
		path := "/settings/api/keys/" + k.ID + "/restrict"
		for _, tc := range []struct {
			form url.Values
			want string
		}{
			{url.Values{"access": {"restricted"}}, "Choose at least one permission"},
			{url.Values{"access": {"full"}, "allowed_ips": {"203.0.113.1/24"}}, "did you mean 203.0.113.0/24"},
		} {
			p := b.post(path, tc.form)
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, tc.want, `aria-invalid="true"`)
		}
		p := b.follow(b.post(path, url.Values{"access": {"restricted"}, "scope": {"qr_codes:read"}, "allowed_ips": {"127.0.0.1"}}))
		expectContains(t, p, "Billing now has the permissions qr_codes:read from 127.0.0.1 only", "Changed the restrictions of API key",
			"permissions Full access → qr_codes:read; IP allowlist every address → 127.0.0.1")
		expectAPI(t, e, k.Secret, http.StatusForbidden, "insufficient_scope")
		// A restriction is never widened to full access by a form that does
		// not say so: an unknown or missing access is refused.
		for _, form := range []url.Values{
			{"access": {"Restricted"}, "scope": {"qr_codes:read"}, "allowed_ips": {"127.0.0.1"}},
			{"scope": {"qr_codes:read"}, "allowed_ips": {"127.0.0.1"}},
		} {
			p := b.post(path, form)
			expectStatus(t, p, http.StatusUnprocessableEntity)
			expectContains(t, p, "Choose Full access or Restricted", `aria-invalid="true"`)
		}
		if got, err := e.db.Key(ctx, k.ID); err != nil || got.Scopes.Full() {
			t.Fatalf("after refused forms the key has full access %v (%v), want qr_codes:read", got.Scopes.Full(), err)
		}
		expectAPI(t, e, k.Secret, http.StatusForbidden, "insufficient_scope")
		p = b.follow(b.post(path, url.Values{"access": {"full"}, "allowed_ips": {"203.0.113.0/24"}}))
		expectAPI(t, e, k.Secret, http.StatusForbidden, "ip_not_allowed")
		p = b.follow(b.post(path, url.Values{"access": {"full"}, "allowed_ips": {"203.0.113.0/24"}}))
		expectContains(t, p, "flash-error", "already has these permissions")
		b.follow(b.post(path, url.Values{"access": {"full"}, "allowed_ips": {""}}))
		expectAPI(t, e, k.Secret, http.StatusOK, "")
	})
}

// TestKeyPageAccess: Members get 403, other organisations' keys 404, and
// the key's page never shows a secret.
func TestKeyPageAccess(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	ctx := context.Background()
	org, email := e.org(snapglyph.PlanPro)
	other, _ := e.org(snapglyph.PlanPro)
	k, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Mine")
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := e.svc.CreateKey(ctx, snapglyph.Operator, other.ID, "Theirs")
	if err != nil {
		t.Fatal(err)
	}
	owner := e.browser()
	owner.signIn(email)
	p := owner.get("/settings/api/keys/" + k.ID)
	expectStatus(t, p, http.StatusOK)
	if keyPattern.MatchString(p.Body) {
		t.Error("the key's page shows a full key")
	}
	for _, path := range []string{"/settings/api/keys/" + theirs.ID, "/settings/api/keys/" + theirs.ID + "/roll", "/settings/api/keys/key_nope"} {
		expectStatus(t, owner.get(path), http.StatusNotFound)
	}
	// Each form with its own fields (a field it does not have is refused
	// with 400 before anything is looked up).
	forms := map[string]url.Values{"rename": {"name": {"Mine-2"}}, "roll": {"overlap": {"0s"}}, "end-overlap": nil, "pause": nil, "restrict": {"access": {"full"}}}
	for _, path := range []string{"rename", "roll", "end-overlap", "pause", "restrict"} {
		p := owner.post("/settings/api/keys/"+theirs.ID+"/"+path, forms[path])
		if p.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s on another organisation's key: %d", path, p.StatusCode)
		}
	}
	if got, _ := e.db.Key(ctx, theirs.ID); got.Name != "Theirs" || got.ReplacedBy != "" || got.Status != snapglyph.KeyActive {
		t.Errorf("another organisation's key changed: %+v", got)
	}
	member := e.browser()
	member.signIn(e.member(org, snapglyph.RoleMember))
	expectStatus(t, member.get("/settings/api/keys/"+k.ID), http.StatusForbidden)
	expectStatus(t, member.get("/settings/api/keys/"+k.ID+"/roll"), http.StatusForbidden)
	for _, path := range []string{"rename", "roll", "end-overlap", "pause", "restrict"} {
		if p := member.post("/settings/api/keys/"+k.ID+"/"+path, forms[path]); p.StatusCode != http.StatusForbidden {
			t.Errorf("a Member's POST %s: %d", path, p.StatusCode)
		}
	}
}

// apiSend calls the REST API and decodes the JSON answer.
func apiSend(t *testing.T, e *env, method, path, key, body string, status int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d", method, path, resp.StatusCode, status)
	}
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	return v
}

// TestLastUseWhileFlushing: the key list and the key page join a key's
// stored last use with the one this node has not flushed yet. A flush
// that commits while a page is being read must not hide the use from
// both: every page read after a request shows that request, while
// flushes run back to back.
func TestLastUseWhileFlushing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db *testdb.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		org, email := e.org(snapglyph.PlanPro)
		b := e.browser()
		b.signIn(email)
		k, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Billing")
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		flushed := make(chan struct{})
		go func() {
			defer close(flushed)
			for {
				select {
				case <-stop:
					return
				default:
					e.node.Recorder.Flush(ctx)
				}
			}
		}()
		defer func() { close(stop); <-flushed }()
		const rounds = 60
		for i := range rounds {
			ua := "probe/" + strconv.Itoa(i)
			if _, status := e.call("GET", "/api/v1/usage", k.Secret, ua); status != http.StatusOK {
				t.Fatalf("round %d: %d", i, status)
			}
			for _, path := range []string{"/settings/api", "/settings/api/keys/" + k.ID} {
				if p := b.get(path); !strings.Contains(p.Body, ua) {
					t.Fatalf("round %d: %s does not show the last use by %s:\n%s", i, path, ua, snippet(p.Body))
				}
			}
		}
	})
}

// autofocus is the opening tag of each element that takes focus when the
// page loads.
var autofocus = regexp.MustCompile(`<[a-z]+\b[^>]*\sautofocus\b[^>]*>`)

// expectFocus checks that a page gives exactly one element autofocus and
// that its tag holds each of the texts.
func expectFocus(t *testing.T, what string, p *page, texts ...string) {
	t.Helper()
	tags := autofocus.FindAllString(p.Body, -1)
	if len(tags) != 1 {
		t.Errorf("%s: %d elements with autofocus, want 1: %q", what, len(tags), tags)
		return
	}
	for _, s := range texts {
		if !strings.Contains(tags[0], s) {
			t.Errorf("%s: focus starts at %s, want it to hold %s", what, tags[0], s)
		}
	}
}

// TestFormErrorFocus: a form sent back with errors starts focus at the
// first field in error, in the form's order, without a script; each
// error is tied to its field with aria-describedby, the scopes' to the
// group of boxes, whose boxes are marked invalid. Without errors the
// create dialog starts at the name, and the roll dialog at Cancel.
func TestFormErrorFocus(t *testing.T) {
	e := newEnv(t, testdb.Open(t, "sqlite"))
	ctx := context.Background()
	org, email := e.org(snapglyph.PlanPro)
	b := e.browser()
	b.signIn(email)
	k, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Billing")
	if err != nil {
		t.Fatal(err)
	}
	firstScope := `name="scope" value="` + snapglyph.AllScopes()[0] + `"`

	expectFocus(t, "the create dialog", b.get("/settings/api/keys/new"), `id="key-name"`)
	for _, tc := range []struct {
		what string
		form url.Values
		want []string
	}{
		{"a taken name", url.Values{"name": {"Billing"}}, []string{`id="key-name"`, `aria-invalid="true"`, "name-error"}},
		{"an unknown expiry", url.Values{"name": {"Reporting"}, "expires": {"12"}}, []string{`id="key-expires"`, `aria-invalid="true"`, "expires-error"}},
		{"no date", url.Values{"name": {"Reporting"}, "expires": {"date"}}, []string{`id="key-expires-on"`, `aria-invalid="true"`, "expires-error"}},
		{"a past date", url.Values{"name": {"Reporting"}, "expires": {"date"}, "expires_on": {"2020-01-01"}}, []string{`id="key-expires-on"`, "expires-error"}},
		{"no scope", url.Values{"name": {"Reporting"}, "access": {"restricted"}}, []string{firstScope, `aria-invalid="true"`}},
		{"a wrong allowlist", url.Values{"name": {"Reporting"}, "allowed_ips": {"intranet"}}, []string{`id="key-ips"`, `aria-invalid="true"`, "ips-error"}},
		{"all wrong but the name", url.Values{"name": {"Reporting"}, "expires": {"date"}, "access": {"restricted"}, "allowed_ips": {"intranet"}},
			[]string{`id="key-expires-on"`}},
		{"scopes and allowlist", url.Values{"name": {"Reporting"}, "access": {"restricted"}, "allowed_ips": {"intranet"}}, []string{firstScope}},
	} {
		p := b.post("/settings/api/keys", tc.form)
		if p.StatusCode != http.StatusUnprocessableEntity && p.StatusCode != http.StatusConflict {
			t.Fatalf("%s: status %d", tc.what, p.StatusCode)
		}
		expectFocus(t, tc.what, p, tc.want...)
		if strings.Contains(tc.what, "scope") {
			if !regexp.MustCompile(`<fieldset class="field options" aria-describedby="scopes-help scopes-error">\s*<legend>Permissions</legend>`).MatchString(p.Body) {
				t.Errorf("%s: the scopes' error is not tied to their group:\n%s", tc.what, snippet(p.Body))
			}
			for _, box := range regexp.MustCompile(`<input type="checkbox" name="scope"[^>]*>`).FindAllString(p.Body, -1) {
				if !strings.Contains(box, `aria-invalid="true"`) {
					t.Errorf("%s: a box is not marked invalid: %s", tc.what, box)
				}
			}
		}
		for _, problem := range structureProblems(p.Body) {
			t.Errorf("%s: %s", tc.what, problem)
		}
	}

	// The key's page: no focus moved without an error; each form's error
	// takes it.
	path := "/settings/api/keys/" + k.ID
	if tags := autofocus.FindAllString(b.get(path).Body, -1); len(tags) != 0 {
		t.Errorf("the key's page moves focus without an error: %q", tags)
	}
	if _, err := e.svc.CreateKey(ctx, snapglyph.Operator, org.ID, "Taken"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what, action string
		form         url.Values
		want         []string
	}{
		{"rename to a taken name", "rename", url.Values{"name": {"Taken"}}, []string{`id="rename"`, `aria-describedby="rename-error"`}},
		{"restrict to nothing", "restrict", url.Values{"access": {"restricted"}}, []string{firstScope, `aria-invalid="true"`}},
		{"restrict to a wrong allowlist", "restrict", url.Values{"access": {"full"}, "allowed_ips": {"203.0.113.1/24"}}, []string{`id="restrict-ips"`, `aria-describedby="restrict-ips-error"`}},
		{"restrict wrong twice", "restrict", url.Values{"access": {"restricted"}, "allowed_ips": {"intranet"}}, []string{firstScope}},
		{"pause until a past time", "pause", url.Values{"until": {"2020-01-01T00:00"}, "return": {"key"}}, []string{`id="pause-until"`, `aria-describedby="pause-error"`}},
		{"pause with too long a reason", "pause", url.Values{"reason": {strings.Repeat("x", snapglyph.MaxPauseReasonLen+1)}, "until": {"2020-01-01T00:00"}, "return": {"key"}},
			[]string{`id="pause-reason"`, `aria-describedby="pause-reason-error"`}},
	} {
		p := b.post(path+"/"+tc.action, tc.form)
		if p.StatusCode != http.StatusUnprocessableEntity && p.StatusCode != http.StatusConflict {
			t.Fatalf("%s: status %d\n%s", tc.what, p.StatusCode, snippet(p.Body))
		}
		expectFocus(t, tc.what, p, tc.want...)
		if tc.action == "restrict" && strings.Contains(tc.what, "nothing") &&
			!regexp.MustCompile(`<fieldset class="field options" aria-describedby="scopes-error">\s*<legend>Permissions</legend>`).MatchString(p.Body) {
			t.Errorf("%s: the scopes' error is not tied to the group", tc.what)
		}
		for _, problem := range structureProblems(p.Body) {
			t.Errorf("%s: %s", tc.what, problem)
		}
	}
	if got, _ := e.db.Key(ctx, k.ID); got.Status != snapglyph.KeyActive {
		t.Errorf("refused forms changed the key: %+v", got)
	}
	// Cancel leads back to the key's page with focus on Roll key (#roll-key).
	expectFocus(t, "the roll dialog", b.get(path+"/roll"), `<a class="btn" href="/settings/api/keys/`+k.ID+`#roll-key" autofocus>`)
}
