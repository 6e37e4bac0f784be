package browser_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	if got := text(t, ctx, `tr.expiring td[data-label="Expires"]`); got != "Expires in 5 days" {
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
