package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
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

// listWidths are the window widths the list pages are measured at: a
// small phone, a phone, a tablet, a phone held sideways, the range
// between the phone layout and a wide desktop, and desktops.
var listWidths = []int64{320, 390, 768, 844, 900, 1024, 1150, 1280, 1440, 1600}

// widthChecks measures the page: its scroll width against the window,
// and every row action (a button or link in a table's actions cell)
// that lies outside the window.
const widthChecks = `(function(){
  var out = {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, outside: []};
  document.querySelectorAll("table .actions a, table .actions button").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.width === 0) return;
    var box = el.closest(".table-scroll");
    var right = box ? box.getBoundingClientRect().right : window.innerWidth;
    if (r.right > Math.min(right, window.innerWidth) + 0.5) out.outside.push((el.getAttribute("aria-label") || el.textContent.trim()) + " (right edge " + Math.round(r.right) + ")");
  });
  // The innermost elements past the window's right edge: what to fix.
  out.past = [];
  var w = document.documentElement.clientWidth;
  document.querySelectorAll("body *").forEach(function (el) {
    if (out.past.length >= 4 || el.closest(".sr-only, .table-scroll")) return;
    var r = el.getBoundingClientRect();
    if (r.width === 0 || r.right <= w + 0.5) return;
    if ([].some.call(el.children, function (c) { return c.getBoundingClientRect().right > w + 0.5; })) return;
    out.past.push(el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : "") + " \"" + el.textContent.trim().slice(0, 30) + "\" right " + Math.round(r.right));
  });
  return JSON.stringify(out);
})()`

// TestAccessibilityWidths opens the list pages, full of long names, a
// rolled key, a paused one, members and sessions, at every width from a
// small phone to a wide desktop: no page scrolls sideways, and no row's
// Pause, Revoke or Sign out lies off-screen (WCAG 2.1 1.4.10 Reflow).
func TestAccessibilityWidths(t *testing.T) {
	ctx := newChromiumFor(t, 8*time.Minute)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond, WebhookAllowInsecureLocal: true})
	base := s.URL
	bg := context.Background()
	svc := s.Node.Service
	shots := "" // SNAPGLYPH_SCREENSHOTS set: a screenshot of each page at a width it fails
	if os.Getenv(screenshotsEnv) != "" {
		shots = screenshotDir(t)
	}

	const email, password = "owner.with.a.long.address@acme-corporation.test", "a long dashboard password"
	org, _, err := svc.CreateOrg(bg, service.NewOrg{Name: "Acme Corporation International", OwnerEmail: email, Plan: "max", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	// Keys: a rolled one in its overlap, a paused one with a reason, a
	// restricted one near its expiry, all used.
	prod, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Production-WebApp-Frontend"})
	if err != nil {
		t.Fatal(err)
	}
	expectAPI(t, base, prod.Secret, http.StatusOK, "")
	rolled, err := svc.RollKey(bg, snapglyph.Operator, prod.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaked, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Zapier-Integration-Marketing"})
	if err != nil {
		t.Fatal(err)
	}
	expectAPI(t, base, leaked.Secret, http.StatusOK, "")
	if _, err := svc.PauseKeyWith(bg, snapglyph.Operator, leaked.ID, "leaked in a public gist on GitHub", time.Time{}); err != nil {
		t.Fatal(err)
	}
	expectAPI(t, base, leaked.Secret, http.StatusUnauthorized, "api_key_paused")
	report, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{
		Name: "Reporting-Service-Nightly", ExpiresIn: 5 * 24 * time.Hour,
		Scopes: snapglyph.Scopes(snapglyph.ScopeUsageRead) | snapglyph.Scopes(snapglyph.ScopeImagesRead),
	})
	if err != nil {
		t.Fatal(err)
	}
	expectAPI(t, base, report.Secret, http.StatusOK, "")
	// QR codes made over the API (a creator that is a key) with long
	// names and contents.
	for i := range 3 {
		id, _ := apiCreateQR(t, base, rolled.Secret, fmt.Sprintf(`{"name":"Spring Menu for the Riverside Restaurant %d","type":"url","content":{"url":"https://www.riverside-restaurant.example/menus/spring/2026/dinner-%d"}}`, i, i))
		// An image: its log row says "1 call, N credits", the widest.
		if st, b := callAPI(t, base, "GET", "/api/v1/qr-codes/"+id+"?format=png&size=1024", rolled.Secret, ""); st != http.StatusOK {
			t.Fatalf("GET the QR code's PNG: %d %.200s", st, b)
		}
	}
	// Members: an Admin and a Member with long names and addresses.
	for _, m := range []struct{ email, name, role string }{
		{"administrator.of.everything@acme-corporation.test", "Alexandra Montgomery-Fitzgerald", "admin"},
		{"mia.member@acme-corporation.test", "Mia Member", "member"},
	} {
		inv, err := svc.Invite(bg, snapglyph.Operator, org.ID, m.email, m.role)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.AcceptInvitation(bg, inv.Token, service.Accept{Name: m.name, Password: password}, service.Client{IP: "203.0.113.9"}); err != nil {
			t.Fatal(err)
		}
	}
	// Sessions: the Owner signed in elsewhere too.
	for _, ua := range []string{
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
	} {
		if _, err := svc.SignIn(bg, email, password, service.Client{IP: "2001:db8:85a3::8a2e:370:7334", UserAgent: ua}, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.Node.Recorder.Flush(bg)

	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	for _, p := range []struct{ path, name, rows string }{
		{"/settings/api", "API keys (one rolled, one paused)", "table.keys tbody tr"},
		{"/qr-codes", "QR codes", "table.qrcodes tbody tr"},
		{"/settings/company", "company (members)", "table.members tbody tr"},
		{"/settings/profile", "profile (sessions)", "table.sessions tbody tr"},
		{"/settings/logs", "Logs", "table.logs tbody tr"},
		{"/settings/audit", "audit log", "table.audit tbody tr"},
	} {
		if st := navigate(t, ctx, chromedp.Navigate(base+p.path)); st != http.StatusOK {
			t.Fatalf("GET %s: %d", p.path, st)
		}
		if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(p.rows)+`).length`)); n < 2 {
			t.Fatalf("%s: %d rows in %s, want the list full", p.name, n, p.rows)
		}
		for _, w := range listWidths {
			if w < 820 {
				do(t, ctx, chromedp.EmulateViewport(w, 800, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
			} else {
				do(t, ctx, chromedp.EmulateViewport(w, 900))
			}
			run(t, ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
			var got struct {
				ScrollWidth int      `json:"scrollWidth"`
				InnerWidth  int      `json:"innerWidth"`
				Outside     []string `json:"outside"`
				Past        []string `json:"past"`
			}
			if err := json.Unmarshal([]byte(run(t, ctx, chromedp.Evaluate[string](widthChecks))), &got); err != nil {
				t.Fatal(err)
			}
			sideways := got.ScrollWidth > int(w) || got.InnerWidth > int(w)
			if sideways {
				t.Errorf("%s at %d px: the page scrolls sideways (scrollWidth %d, layout viewport %d); past the edge: %s", p.name, w, got.ScrollWidth, got.InnerWidth, strings.Join(got.Past, "; "))
			}
			if len(got.Outside) > 0 {
				t.Errorf("%s at %d px: row actions off-screen: %s", p.name, w, strings.Join(got.Outside, ", "))
			}
			// Only a failure is kept: the directory is the documentation's.
			if shots != "" && (sideways || len(got.Outside) > 0) {
				png := run(t, ctx, chromedp.FullScreenshot(100))
				if err := os.WriteFile(filepath.Join(shots, fmt.Sprintf("widths-%s-%d.png", strings.Trim(strings.ReplaceAll(p.path, "/", "-"), "-"), w)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
	}

	// The Logs table fits its card on a desktop (no scrolling inside it).
	navigate(t, ctx, chromedp.Navigate(base+"/settings/logs"))
	for _, w := range []int64{1280, 1440} {
		do(t, ctx, chromedp.EmulateViewport(w, 900))
		if got := run(t, ctx, chromedp.Evaluate[string](`(function(){var b=document.querySelector(".table-scroll"); return b.scrollWidth + " > " + b.clientWidth + ": " + (b.scrollWidth > b.clientWidth + 1);})()`)); strings.HasSuffix(got, "true") {
			t.Errorf("Logs at %d px: the table scrolls sideways in its card (%s)", w, got)
		}
	}
	// On a desktop the filters are open; on a phone they fold away, and
	// the first request is within a screen and a half.
	if !run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("details.filter-box").open`)) {
		t.Error("Logs at 1280 px: the filters are folded away")
	}
	do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	navigate(t, ctx, chromedp.Reload())
	if run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("details.filter-box").open`)) {
		t.Error("Logs at 390 px with no filter set: the filters are open")
	}
	if top := run(t, ctx, chromedp.Evaluate[float64](`document.querySelector("tr[id^='req-']").getBoundingClientRect().top + window.scrollY`)); top > 844*1.5 {
		t.Errorf("Logs at 390 px: the first request starts %.0f px down", top)
	}

	// Members at 390 px: a member's name and address start at the same x.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/company"))
	if got := run(t, ctx, chromedp.Evaluate[string](`(function(){
	  var out = [];
	  document.querySelectorAll("table.members .who").forEach(function (who) {
	    var n = who.querySelector(".who-name"), m = who.querySelector(".who-email");
	    if (!n || !m) return;
	    var text = function (el) { var r = document.createRange(); r.selectNodeContents(el); return r.getClientRects()[0].left; };
	    if (Math.abs(text(n) - text(m)) > 1) out.push(n.textContent.trim() + " at x=" + Math.round(text(n)) + ", " + m.textContent.trim() + " at x=" + Math.round(text(m)));
	  });
	  return out.join("; ");
	})()`)); got != "" {
		t.Errorf("members at 390 px: name and email misaligned: %s", got)
	}

	// The sidebar's footer at 1280 px: the address on one line (not
	// broken mid-word), whole in its title.
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	if got := run(t, ctx, chromedp.Evaluate[string](`(function(){
	  var el = document.querySelector(".profile .who-name");
	  var r = document.createRange(); r.selectNodeContents(el);
	  var tops = {};
	  [].forEach.call(r.getClientRects(), function (x) { tops[Math.round(x.top)] = true; });
	  return Object.keys(tops).length + " " + el.getAttribute("title");
	})()`)); got != "1 "+email {
		t.Errorf("the sidebar's address: %q line(s) and title, want 1 and %s", got, email)
	}

	// Signing out one session, then every other: the confirmation is by
	// the list (in the section acted on), in view, and has focus.
	for _, step := range []struct{ click, section string }{
		{`table.sessions .actions button`, "sessions"},
		{`#session form[action="/settings/profile/sessions/end"] button`, "session"},
	} {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/profile"))
		navigate(t, ctx, chromedp.Click(chromedp.CSS(step.click)))
		focused(t, ctx, confirmation+` && !!e.closest("#`+step.section+`")`, "after "+step.click)
		if got := run(t, ctx, chromedp.Evaluate[string](`(function(){var f=document.getElementById("flash"); if(!f) return "no flash"; var r=f.getBoundingClientRect(); return (r.top >= 0 && r.bottom <= window.innerHeight) ? "" : "flash at top=" + Math.round(r.top);})()`)); got != "" {
			t.Errorf("after %s: the confirmation is out of view (%s)", step.click, got)
		}
	}
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
