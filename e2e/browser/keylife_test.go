package browser_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// TestBrowserKeyLifecycle drives the key lifecycle in a real browser:
// create a restricted key with an expiry and an allowlist in the dialog,
// open its page (usage by day drawn as SVG), roll it with an overlap (the
// new key shown once), see both keys in the list and end the overlap,
// rename it.
func TestBrowserKeyLifecycle(t *testing.T) {
	ctx := newChromium(t)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond})
	base := s.URL
	shots := screenshotDir(t)
	bg := context.Background()
	svc := s.Node.Service

	// A key used over the first half of the month, for the chart.
	const email, password = "owner@acme.test", "a long dashboard password"
	org, _, err := svc.CreateOrg(bg, service.NewOrg{Name: "Acme", OwnerEmail: email, Plan: "pro", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Set(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	prod, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Production-WebApp", ExpiresIn: 20 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for day := 0; day < 15; day++ {
		for i := 0; i < (day*7)%11+1; i++ {
			expectAPI(t, base, prod.Secret, http.StatusOK, "")
			total++
		}
		s.Node.Recorder.Flush(bg)
		s.Clock.Set(s.Clock.Now().Add(24 * time.Hour))
	}
	s.Clock.Set(testserver.Epoch)

	status := navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	if status != http.StatusOK {
		t.Fatalf("GET /signin: %d", status)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	// Create a restricted key with an expiry and an allowlist.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/new"))
	do(t, ctx,
		chromedp.WaitVisible(chromedp.CSS("dialog #key-name")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "Reporting-Service"),
		chromedp.SetValue(chromedp.CSS("#key-expires"), "30"),
		chromedp.Click(chromedp.CSS(`input[name="access"][value="restricted"]`)),
		chromedp.Click(chromedp.CSS(`input[name="scope"][value="usage:read"]`)),
		chromedp.Click(chromedp.CSS(`input[name="scope"][value="images:read"]`)),
		chromedp.SendKeys(chromedp.CSS("#key-ips"), "127.0.0.1, 2001:db8::/32"),
	)
	screenshot(t, ctx, shots, "api-key-create-options-desktop", 1280, 1100, false)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
	key := run(t, ctx, chromedp.Value(chromedp.CSS("#new-key")))
	if !keyPattern.MatchString(key) {
		t.Fatalf("the reveal dialog shows %q", key)
	}
	expectAPI(t, base, key, http.StatusOK, "")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog a.btn-primary`)))
	if got := text(t, ctx, `tr:has(a[href^="/settings/api/keys/"]) .key-access`); got != "images:read, usage:read · IP allowlist (2)" {
		t.Errorf("the list's access line %q", got)
	}
	if got := text(t, ctx, `tr.expiring td[data-label="Expires"]`); got != "Expires in 6 days" {
		t.Errorf("the key near its expiry: %q", got)
	}
	screenshot(t, ctx, shots, "api-keys-lifecycle-list-desktop", 1280, 900, false)

	// The used key's page: its month by day.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/settings/api/keys/`+prod.ID+`"]`)))
	if got := text(t, ctx, "#key-calls"); got != strconv.Itoa(total) {
		t.Errorf("the key's page counts %q calls, %d were made", got, total)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart rect.bar-calls").length`)); n != 15 {
		t.Errorf("%d days in the chart, want 15", n)
	}
	screenshot(t, ctx, shots, "api-key-page-desktop", 1280, 1600, false)
	screenshot(t, ctx, shots, "api-key-page-phone", 390, 844, true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	// Roll it with a one-hour overlap from its page.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/settings/api/keys/`+prod.ID+`/roll"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #overlap")), chromedp.SetValue(chromedp.CSS("#overlap"), "1h0m0s"))
	screenshot(t, ctx, shots, "api-key-roll-desktop", 1280, 900, false)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
	rolled := run(t, ctx, chromedp.Value(chromedp.CSS("#new-key")))
	if !keyPattern.MatchString(rolled) || rolled == prod.Secret {
		t.Fatalf("the roll revealed %q", rolled)
	}
	if got := text(t, ctx, "#reveal-title"); got != "API key rolled" {
		t.Errorf("reveal title %q", got)
	}
	expectAPI(t, base, rolled, http.StatusOK, "")
	expectAPI(t, base, prod.Secret, http.StatusOK, "")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog a.btn-primary`)))
	screenshot(t, ctx, shots, "api-keys-rolled-desktop", 1280, 900, false)

	// Both rows are there; end the overlap from the old one.
	if n := run(t, ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("th.key-name a")].filter(a => a.textContent === "Production-WebApp").length`)); n != 2 {
		t.Errorf("%d rows named Production-WebApp during the overlap, want 2", n)
	}
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[aria-label^="End overlap of Production-WebApp"]`)))
	if got := text(t, ctx, ".flash"); !strings.Contains(got, "stopped working now") {
		t.Errorf("flash %q", got)
	}
	expectAPI(t, base, prod.Secret, http.StatusUnauthorized, "api_key_expired")

	// Rename the restricted key from its page.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`th.key-name a[href$="`+keyIDOf(t, s, org, "Reporting-Service")+`"]`)))
	do(t, ctx, chromedp.Clear(chromedp.CSS("#rename")), chromedp.SendKeys(chromedp.CSS("#rename"), "Reporting-Prod"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form[action$="/rename"] button`)))
	if h := text(t, ctx, "h1"); h != "Reporting-Prod" {
		t.Errorf("after the rename the page is %q", h)
	}
}

func keyIDOf(t *testing.T, s *testserver.Server, org *snapglyph.Org, name string) string {
	t.Helper()
	keys, err := s.Node.Service.Keys(context.Background(), snapglyph.Operator, org.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Name == name {
			return k.ID
		}
	}
	t.Fatalf("no key %q", name)
	return ""
}

// TestBrowserOneTimeSecrets: Back after Done on a new key's reveal, and
// Back from the Webhooks list to a new endpoint's secret, show the page
// that says the value cannot be shown again, not the value restored from
// the back/forward cache; closing a dialog with Escape puts focus back on
// the button that opened it; a webhook form without events marks the
// events, not the URL.
func TestBrowserOneTimeSecrets(t *testing.T) {
	ctx := newChromium(t)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond, WebhookAllowInsecureLocal: true})
	base := s.URL
	const email, password = "owner@acme.test", "a long dashboard password"
	if _, _, err := s.Node.Service.CreateOrg(context.Background(), service.NewOrg{Name: "Acme", OwnerEmail: email, Plan: "max", Password: password}); err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	// Escape in the create dialog: back on the list, focus on its opener.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`#create-key`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")))
	navigate(t, ctx, chromedp.KeyEvent(kb.Escape))
	focused(t, ctx, `e.id === "create-key"`, "after Escape in the create dialog")

	// A key, copied, then Done and Back.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`#create-key`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")), chromedp.SendKeys(chromedp.CSS("#key-name"), "Production-WebApp"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
	key := run(t, ctx, chromedp.Value(chromedp.CSS("#new-key")))
	if !keyPattern.MatchString(key) {
		t.Fatalf("the reveal shows %q", key)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`button[data-copy="new-key"]`), chromedp.NodeVisible))
	run(t, ctx, chromedp.Poll[bool](`document.getElementById("copy-status").textContent.length > 0`))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog a.btn-primary`)))
	focused(t, ctx, `e.id.indexOf("key-link-") === 0 && e.textContent === "Production-WebApp"`, "after Done on the reveal (the new key's link)")
	back(t, ctx, "#new-key", "#shown-desc")
	if v := run(t, ctx, chromedp.Evaluate[string](`(document.getElementById("new-key") || {value: ""}).value`)); strings.Contains(v, key[8:]) {
		t.Fatal("Back after Done shows the key again")
	}
	calm := run(t, ctx, chromedp.Evaluate[string](`(document.getElementById("shown-desc") || {textContent: ""}).textContent`))
	if !strings.Contains(strings.Join(strings.Fields(calm), " "), "The key Production-WebApp was created; its full value cannot be shown again.") {
		t.Errorf("Back after Done shows %q", calm)
	}

	// Webhooks: no event chosen marks the events; then the secret, and
	// Back from the list.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/webhooks"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#hook-url"), "http://127.0.0.1:9/hook"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/settings/webhooks"] button[type="submit"]`)))
	focused(t, ctx, `e.name === "event" && e.value === "qr.created" && e.getAttribute("aria-invalid") === "true" && e.closest("fieldset").getAttribute("aria-describedby") === "events-error"`, "after a webhook with no event")
	if inv := run(t, ctx, chromedp.Evaluate[string](`document.getElementById("hook-url").getAttribute("aria-invalid") || ""`)); inv != "" {
		t.Errorf("the URL is marked invalid (%q) when the events are what is missing", inv)
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`input[name="event"][value="api_key.revoked"]`)))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/settings/webhooks"] button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-secret")))
	secret := run(t, ctx, chromedp.Value(chromedp.CSS("#new-secret")))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the secret reveal shows %q", secret)
	}
	focused(t, ctx, `e.id === "secret-card"`, "on the new endpoint's secret")
	navigate(t, ctx, chromedp.Navigate(base+"/settings/webhooks"))
	back(t, ctx, "#new-secret", `section[aria-labelledby="secret-title"]`)
	if v := run(t, ctx, chromedp.Evaluate[string](`(document.getElementById("new-secret") || {value: ""}).value`)); v == secret {
		t.Fatal("Back from the Webhooks list shows the signing secret again")
	}
	if got := run(t, ctx, chromedp.Evaluate[string](`document.querySelector('section[aria-labelledby="secret-title"]').textContent`)); !strings.Contains(got, "cannot be shown again") {
		t.Errorf("Back to the secret's reveal shows %q", got)
	}
}

// back goes one step back in the tab's history as the Back button does
// (a page may come from the back/forward cache, which fires no load
// event, so nothing waits for one) and waits until the page shows the
// element one or the element other, with no navigation in flight.
func back(t *testing.T, ctx context.Context, one, other string) {
	t.Helper()
	h := run(t, ctx, chromedp.NavigationEntries())
	if h.CurrentIndex < 1 {
		t.Fatal("no page to go back to")
	}
	from := h.Entries[h.CurrentIndex].URL
	if _, err := chromedp.Call(ctx, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[h.CurrentIndex-1].ID}); err != nil {
		t.Fatal(err)
	}
	expr := `location.href !== ` + strconv.Quote(from) + ` && document.readyState === "complete" && !!document.querySelector(` + strconv.Quote(one+", "+other) + `)`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// Errors are expected while a navigation (or the reload of a
		// restored page) is in flight: try again.
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Back: neither %s nor %s shows (%v)", one, other, err)
		}
	}
	// A restored page's pageshow may reload it: let that settle.
	time.Sleep(500 * time.Millisecond)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && !!document.querySelector(`+strconv.Quote(one+", "+other)+`)`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Back: the page did not settle (%v)", err)
		}
	}
}
