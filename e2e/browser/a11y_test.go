package browser_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// axeEnv names the variable that holds the path of axe-core's axe.min.js
// (npm pack axe-core@4.10.3; .ci/run fetches it and sets this).
const axeEnv = "SNAPGLYPH_AXE"

// auditor checks pages of the dashboard in one browser tab, at desktop
// (1280 px) and phone (390 px) widths: axe-core's rules (when axe is
// given), no sideways scrolling and 44×44 px touch targets on the phone;
// and at 320 px (400 % zoom), no sideways scrolling, disclosures open.
type auditor struct {
	t       *testing.T
	axe     string // axe.min.js's source; empty: no axe audit
	covered []string
}

// Phone-width checks that need no axe: the page's scroll width, and the
// touch targets too small to hit (visible controls only; links inside a
// sentence are exempt, as WCAG 2.5.5 allows).
const phoneChecks = `(function(){
  var out = {scrollWidth: document.scrollingElement.scrollWidth, small: []};
  var sel = 'button, .btn, .icon-btn, .nav a, .profile-link, .brand, select, .chips label, label.check, ' +
    'input:not([type="hidden"]):not([type="checkbox"]):not([type="radio"])';
  document.querySelectorAll(sel).forEach(function (el) {
    var r = el.getBoundingClientRect();
    var style = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || style.visibility === "hidden" || el.closest("[hidden]")) return;
    if (el.closest(".chips") && el.tagName === "INPUT") return;
    if (r.width < 44 - 0.5 || r.height < 44 - 0.5) {
      out.small.push((el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className) + " " +
        Math.round(r.width) + "x" + Math.round(r.height));
    }
  });
  // No destination hidden in a sideways-scrolling strip: every element
  // that scrolls sideways is reported, and every link of the main
  // navigation lies inside the window.
  out.hidden = [];
  document.querySelectorAll("body *").forEach(function (el) {
    var ox = getComputedStyle(el).overflowX;
    if ((ox === "auto" || ox === "scroll") && el.scrollWidth > el.clientWidth + 1) {
      out.hidden.push((el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className) + " scrolls sideways (" + el.scrollWidth + " > " + el.clientWidth + ")");
    }
  });
  document.querySelectorAll(".nav a").forEach(function (el) {
    var r = el.getBoundingClientRect();
    if (r.left < 0 || r.right > window.innerWidth + 0.5) out.hidden.push(el.textContent.trim() + " lies outside the window");
  });
  return JSON.stringify(out);
})()`

// narrowChecks: at 320 px (1280 px at 400 % zoom, WCAG 2.1 1.4.10
// Reflow), with every disclosure open, the page does not scroll
// sideways, and nothing does but a table's own scroll box.
const narrowChecks = `(function(){
  var closed = [].filter.call(document.querySelectorAll("details"), function (d) { return !d.open; });
  closed.forEach(function (d) { d.open = true; });
  var out = {scrollWidth: document.scrollingElement.scrollWidth, innerWidth: window.innerWidth, wide: []};
  document.querySelectorAll("body *").forEach(function (el) {
    var ox = getComputedStyle(el).overflowX;
    if ((ox === "auto" || ox === "scroll") && el.scrollWidth > el.clientWidth + 1 && !el.classList.contains("table-scroll")) {
      out.wide.push((el.id ? "#" + el.id : el.tagName.toLowerCase() + "." + el.className) + " scrolls sideways (" + el.scrollWidth + " > " + el.clientWidth + ")");
    }
  });
  closed.forEach(function (d) { d.open = false; });
  return JSON.stringify(out);
})()`

// axeRun runs axe-core's rules on the page, WCAG 2.2's target size
// (2.5.8) too, and returns the serious and critical violations as JSON.
const axeRun = `axe.run(document, {resultTypes: ["violations"], rules: {"target-size": {enabled: true}}}).then(function (r) {
  if (r.passes.length === 0) return JSON.stringify([{id: "axe-ran-no-rules", impact: "critical", help: "axe-core checked nothing", nodes: []}]);
  return JSON.stringify(r.violations.filter(function (v) {
    return v.impact === "serious" || v.impact === "critical";
  }).map(function (v) {
    return {id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(" ") + ": " + (n.failureSummary || ""); })};
  }));
})`

// page audits the page the tab shows, at both widths, and records it as
// covered under name.
func (a *auditor) page(ctx context.Context, name string) {
	t := a.t
	t.Helper()
	loc := run(t, ctx, chromedp.Location())
	for _, w := range []struct {
		label  string
		width  int64
		height int64
		phone  bool
	}{{"desktop", 1280, 900, false}, {"phone", 390, 844, true}} {
		if w.phone {
			do(t, ctx, chromedp.EmulateViewport(w.width, w.height, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
		} else {
			do(t, ctx, chromedp.EmulateViewport(w.width, w.height))
		}
		run(t, ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
		if w.phone {
			var got struct {
				ScrollWidth int      `json:"scrollWidth"`
				Small       []string `json:"small"`
				Hidden      []string `json:"hidden"`
			}
			if err := json.Unmarshal([]byte(run(t, ctx, chromedp.Evaluate[string](phoneChecks))), &got); err != nil {
				t.Fatal(err)
			}
			if got.ScrollWidth > 390 {
				t.Errorf("%s (%s) at 390 px: the page scrolls sideways (scrollWidth %d)", name, loc, got.ScrollWidth)
			}
			if len(got.Hidden) > 0 {
				t.Errorf("%s (%s) at 390 px: %s", name, loc, strings.Join(got.Hidden, "; "))
			}
			if len(got.Small) > 0 {
				t.Errorf("%s (%s) at 390 px: touch targets under 44×44 px: %s", name, loc, strings.Join(got.Small, ", "))
			}
		}
		if a.axe != "" {
			if !run(t, ctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
				run(t, ctx, chromedp.Evaluate[bool](a.axe+"\n;true"))
			}
			var violations []struct {
				ID     string   `json:"id"`
				Impact string   `json:"impact"`
				Help   string   `json:"help"`
				Nodes  []string `json:"nodes"`
			}
			if err := json.Unmarshal([]byte(run(t, ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))), &violations); err != nil {
				t.Fatal(err)
			}
			for _, v := range violations {
				t.Errorf("%s (%s) at %s width: axe %s %s (%s): %s", name, loc, w.label, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, " | "))
			}
		}
	}
	// 320 px: no sideways scrolling.
	do(t, ctx, chromedp.EmulateViewport(320, 800, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	run(t, ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
	var narrow struct {
		ScrollWidth int      `json:"scrollWidth"`
		InnerWidth  int      `json:"innerWidth"`
		Wide        []string `json:"wide"`
	}
	if err := json.Unmarshal([]byte(run(t, ctx, chromedp.Evaluate[string](narrowChecks))), &narrow); err != nil {
		t.Fatal(err)
	}
	if narrow.ScrollWidth > 320 || narrow.InnerWidth > 320 {
		t.Errorf("%s (%s) at 320 px: the page scrolls sideways (scrollWidth %d, layout viewport %d)", name, loc, narrow.ScrollWidth, narrow.InnerWidth)
	}
	if len(narrow.Wide) > 0 {
		t.Errorf("%s (%s) at 320 px: %s", name, loc, strings.Join(narrow.Wide, "; "))
	}
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	a.covered = append(a.covered, name+" "+strings.TrimPrefix(loc, "http://"))
}

// visit navigates to path and audits the page.
func (a *auditor) visit(ctx context.Context, base, path, name string, want int64) {
	a.t.Helper()
	if s := navigate(a.t, ctx, chromedp.Navigate(base+path)); s != want {
		a.t.Fatalf("GET %s: %d, want %d", path, s, want)
	}
	a.page(ctx, name)
}

// focused waits until the focused element satisfies the JavaScript
// predicate test (over e, the element) and returns its description.
func focused(t *testing.T, ctx context.Context, test, what string) {
	t.Helper()
	expr := `(function(){var e=document.activeElement; return !!e && (` + test + `);})()`
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		got := run(t, ctx, chromedp.Evaluate[string](`(function(){var e=document.activeElement; return e ? e.outerHTML.slice(0, 200) : "nothing";})()`))
		t.Errorf("%s: focus is on %s", what, got)
	}
}

// novalidate turns off the browser's own checks of the form holding the
// element sel finds, so a submit reaches the server's.
func novalidate(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if !run(t, ctx, chromedp.Evaluate[bool](`(function(){var f=document.querySelector(`+strconv.Quote(sel)+`); f=f&&(f.form||f.closest("form")); if(!f) return false; f.noValidate=true; return true;})()`)) {
		t.Fatalf("no form at %s", sel)
	}
}

// fieldInError is a predicate for focused: a field marked invalid whose
// aria-describedby names a visible error message.
const fieldInError = `e.getAttribute("aria-invalid") === "true" && (e.getAttribute("aria-describedby") || "").split(/\s+/).some(function (id) {
  var m = id && document.getElementById(id);
  return m && m.textContent.trim().length > 0 && (m.classList.contains("field-error") || m.getAttribute("role") === "alert");
})`

// confirmation is a predicate for focused: the announced confirmation.
const confirmation = `e.id === "flash" && e.getAttribute("role") === "status" && e.textContent.trim().length > 0`

// axeScript returns axe-core's script named by SNAPGLYPH_AXE, or "" when
// the variable is not set (the audits are then skipped).
func axeScript(t *testing.T) string {
	t.Helper()
	path := os.Getenv(axeEnv)
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s=%s: %v", axeEnv, path, err)
	}
	if !strings.Contains(string(b), "axe") {
		t.Fatalf("%s=%s is not axe-core's axe.min.js", axeEnv, path)
	}
	return string(b)
}

// TestAccessibility walks every page of the dashboard, signed out and
// signed in (as Owner and as Member), including the pages a failed form
// and each dialog draw, and audits each at desktop and phone widths; it
// checks where focus goes after a failed form and after pause, resume and
// revoke. Without SNAPGLYPH_AXE the axe-core audit is skipped (the rest
// runs) and the test reports itself skipped.
func TestAccessibility(t *testing.T) {
	a := &auditor{t: t, axe: axeScript(t)}
	// 50 pages, each audited twice: longer than one session's bound.
	ctx := newChromiumFor(t, 15*time.Minute)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond, WebhookAllowInsecureLocal: true})
	base := s.URL

	// Signed out.
	a.visit(ctx, base, "/signin", "sign-in", http.StatusOK)
	a.visit(ctx, base, "/signup", "sign-up", http.StatusOK)
	a.visit(ctx, base, "/no-such-page", "not found (signed out)", http.StatusNotFound)
	// A failed sign-in: the message is tied to the fields.
	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), "nobody@engines.test"), chromedp.SendKeys(chromedp.CSS("#password"), "not the password"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	a.page(ctx, "sign-in, failed")
	// A failed sign-up: focus on the first field in error, tied to its
	// message (the email, after a valid name and organisation).
	navigate(t, ctx, chromedp.Navigate(base+"/signup"))
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS("#org"), "Analytical Engines"),
		chromedp.SendKeys(chromedp.CSS("#email"), "not an email"),
		chromedp.SendKeys(chromedp.CSS("#password"), "difference engine no. 2"),
	)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	focused(t, ctx, `e.id === "email" && `+fieldInError, "after a sign-up with a bad email")
	a.page(ctx, "sign-up, failed")

	// Sign up for real.
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#email"), "ada@engines.test"), chromedp.SetValue(chromedp.CSS("#password"), "difference engine no. 2"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	if loc := run(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/qr-codes") {
		t.Fatalf("after sign-up the browser is at %s", loc)
	}
	a.page(ctx, "QR codes, empty")

	// QR codes: a failed form, a created code, its pages.
	a.visit(ctx, base, "/qr-codes/new", "QR code, new", http.StatusOK)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-name"), "Spring Menu"), chromedp.SendKeys(chromedp.CSS("#f-url-url"), "not a url"))
	novalidate(t, ctx, "form.qr-editor")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form.qr-editor button[type="submit"]`)))
	focused(t, ctx, `e.id === "problems"`, "after a failed QR-code form (the error summary)")
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('#problems a[href^="#"]').length`)); n == 0 {
		t.Error("the QR-code form's error summary links to no field")
	}
	a.page(ctx, "QR code, new, failed")
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#f-url-url"), "https://engines.test/menu"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form.qr-editor button[type="submit"]`)))
	focused(t, ctx, confirmation, "after creating a QR code")
	a.page(ctx, "QR code, created")
	qrPath := strings.TrimPrefix(run(t, ctx, chromedp.Location()), base)
	a.visit(ctx, base, qrPath+"/edit", "QR code, edit", http.StatusOK)
	a.visit(ctx, base, qrPath+"/delete", "QR code, delete dialog", http.StatusOK)
	a.visit(ctx, base, "/qr-codes", "QR codes", http.StatusOK)

	// API keys: the list, the create dialog (and its failure), the reveal,
	// pause, resume and revoke.
	a.visit(ctx, base, "/settings/api", "API settings, no keys", http.StatusOK)
	a.visit(ctx, base, "/settings/api/keys/new", "API key, create dialog", http.StatusOK)
	novalidate(t, ctx, "#key-name")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	focused(t, ctx, `e.id === "key-name" && `+fieldInError, "after creating a key with no name")
	a.page(ctx, "API key, create dialog, failed")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#key-name"), "Production-WebApp"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
	key := run(t, ctx, chromedp.Value(chromedp.CSS("#new-key")))
	if loc := run(t, ctx, chromedp.Location()); !strings.Contains(loc, "/settings/api/reveal/rvl_") {
		t.Errorf("the key is revealed at %s, not after a redirect", loc)
	}
	a.page(ctx, "API key, reveal dialog (after the redirect)")
	// Reloaded, the reveal is calm and names the key (no resubmission).
	if s := navigate(t, ctx, chromedp.Reload()); s != http.StatusOK {
		t.Errorf("reloading the reveal: %d", s)
	}
	const calm = "The key Production-WebApp was created; its full value cannot be shown again."
	if s := text(t, ctx, "#shown-desc"); !strings.Contains(s, calm) {
		t.Errorf("the reloaded reveal says %q", s)
	}
	a.page(ctx, "API key, reveal reloaded")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog a.btn-primary`)))
	a.page(ctx, "API settings, one key")
	// Back after Done: the same calm page.
	// (history.back, not chromedp.NavigateBack: a page restored from the
	// back-forward cache fires no load event for it to wait on.)
	run(t, ctx, chromedp.Evaluate[bool](`history.back(); true`))
	shown := `document.querySelector("#new-key") ? "key" : document.querySelector("#shown-desc") ? "calm" : ""`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// Errors are expected while the navigation is in flight (the
		// page's execution context goes away): try again.
		what, err := chromedp.Run(ctx, chromedp.Evaluate[string](shown))
		if err == nil && what != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Back after Done: neither the reveal nor the calm page (%v)", err)
		}
	}
	if run(t, ctx, chromedp.Evaluate[bool](`!!document.querySelector("#new-key")`)) {
		t.Fatal("Back after Done shows the key again")
	}
	// (Read by script: chromedp's node queries wait forever on a page
	// restored from the back-forward cache.)
	if s := run(t, ctx, chromedp.Evaluate[string](`document.querySelector("#shown-desc").textContent`)); !strings.Contains(strings.Join(strings.Fields(s), " "), calm) {
		t.Errorf("Back after Done shows %q", s)
	}
	a.page(ctx, "API key, reveal after Back")
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
	keyPath := run(t, ctx, chromedp.Evaluate[string](`(document.querySelector("th.key-name a") || {}).pathname || ""`))
	if keyPath == "" {
		t.Fatal("the key list links to no key page")
	}
	// The key is used, so its page, the list and the Logs are audited
	// with their tables full, not empty.
	for range 2 {
		expectAPI(t, base, key, http.StatusOK, "")
	}
	a.visit(ctx, base, keyPath, "API key page", http.StatusOK)
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Pause Production-WebApp"]`)))
	focused(t, ctx, confirmation, "after pausing a key")
	a.page(ctx, "API settings, key paused")
	expectAPI(t, base, key, http.StatusUnauthorized, "api_key_paused")
	a.visit(ctx, base, keyPath, "API key page, paused", http.StatusOK)
	// The Logs page once the three requests are written (within half a
	// second), and the page of one of them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/logs"))
		n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr[id^='req-']").length`))
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Logs page lists %d requests, want 3", n)
		}
	}
	a.visit(ctx, base, "/settings/logs", "Logs, three requests", http.StatusOK)
	entry := run(t, ctx, chromedp.Evaluate[string](`(document.querySelector("tr[id^='req-'] a") || {}).pathname || ""`))
	if entry == "" {
		t.Fatal("the Logs rows link to no request page")
	}
	a.visit(ctx, base, entry, "Logs, one request", http.StatusOK)
	a.visit(ctx, base, "/notices", "notices", http.StatusOK)
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Re-enable Production-WebApp"]`)))
	focused(t, ctx, confirmation, "after resuming a key")
	a.visit(ctx, base, keyPath+"/roll", "API key, roll dialog", http.StatusOK)
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[aria-label="Revoke Production-WebApp"]`)))
	a.page(ctx, "API key, revoke dialog")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button.btn-danger`)))
	focused(t, ctx, confirmation, "after revoking a key")
	a.page(ctx, "API settings, key revoked")

	// Company: the invite dialog (and its failure) and the link.
	a.visit(ctx, base, "/settings/company", "company", http.StatusOK)
	a.visit(ctx, base, "/settings/company/invite", "company, invite dialog", http.StatusOK)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#invite-email"), "not an email"))
	novalidate(t, ctx, "#invite-email")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	focused(t, ctx, `e.id === "invite-email" && `+fieldInError, "after inviting a bad email")
	a.page(ctx, "company, invite dialog, failed")
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#invite-email"), "grace@engines.test"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	link := run(t, ctx, chromedp.Value(chromedp.CSS("#invite-link")))
	a.page(ctx, "company, invitation link")

	a.visit(ctx, base, "/settings/subscription", "subscription", http.StatusOK)
	a.visit(ctx, base, "/settings/subscription/change?plan=starter", "subscription, downgrade confirmation", http.StatusOK)
	a.visit(ctx, base, "/settings/subscription/change?plan=max", "subscription, upgrade confirmation", http.StatusOK)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	focused(t, ctx, confirmation, "after requesting a plan change")
	a.page(ctx, "subscription, request pending")

	// Webhooks (Max, as the operator sets it): the list, a new endpoint's
	// secret after the redirect and reloaded, its page and the delete
	// dialog.
	var orgID string
	if err := s.DB.SQL().QueryRowContext(context.Background(), `SELECT id FROM orgs`).Scan(&orgID); err != nil {
		t.Fatal(err)
	}
	if err := s.Node.Service.SetPlan(context.Background(), snapglyph.Operator, orgID, "max"); err != nil {
		t.Fatal(err)
	}
	a.visit(ctx, base, "/settings/webhooks", "webhooks, none", http.StatusOK)
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#hook-url"), "http://127.0.0.1:9/hook"), chromedp.Click(chromedp.CSS(`input[name="event"][value="api_key.revoked"]`)))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form[action="/settings/webhooks"] button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-secret")))
	hookLoc := strings.TrimPrefix(run(t, ctx, chromedp.Location()), base)
	hookPath, _, found := strings.Cut(hookLoc, "/secret/rvl_")
	if !found {
		t.Fatalf("the secret is revealed at %s, not after a redirect", hookLoc)
	}
	a.page(ctx, "webhook, secret reveal (after the redirect)")
	if s := navigate(t, ctx, chromedp.Reload()); s != http.StatusOK {
		t.Errorf("reloading the secret's reveal: %d", s)
	}
	if s := text(t, ctx, `section[aria-labelledby="secret-title"]`); !strings.Contains(s, "http://127.0.0.1:9/hook was shown once when the endpoint was created; it cannot be shown again.") {
		t.Errorf("the reloaded secret reveal says %q", s)
	}
	a.page(ctx, "webhook, secret reveal reloaded")
	a.visit(ctx, base, hookPath, "webhook page", http.StatusOK)
	a.visit(ctx, base, hookPath+"/delete", "webhook, delete dialog", http.StatusOK)
	a.visit(ctx, base, "/settings/webhooks", "webhooks, one endpoint", http.StatusOK)
	// A Starter organisation's API Settings: the upgrade notice.
	if err := s.Node.Service.SetPlan(context.Background(), snapglyph.Operator, orgID, "starter"); err != nil {
		t.Fatal(err)
	}
	a.visit(ctx, base, "/settings/api", "API settings, Starter (upgrade notice)", http.StatusOK)
	// Back to Max: Starter has one seat, and the invitee below needs one.
	if err := s.Node.Service.SetPlan(context.Background(), snapglyph.Operator, orgID, "max"); err != nil {
		t.Fatal(err)
	}
	a.visit(ctx, base, "/settings/audit", "audit log", http.StatusOK)
	a.visit(ctx, base, "/settings/profile", "profile", http.StatusOK)
	a.visit(ctx, base, "/signout", "sign-out", http.StatusOK)
	a.visit(ctx, base, "/no-such-page", "not found (signed in)", http.StatusNotFound)

	// The invitee, in a second browser context: the invitation (and a
	// failed acceptance), then a Member's dashboard.
	guest, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	a.visit(guest, base, strings.TrimPrefix(link, base), "invitation", http.StatusOK)
	do(t, guest, chromedp.SendKeys(chromedp.CSS("#name"), "Grace Hopper"), chromedp.SendKeys(chromedp.CSS("#password"), "short"))
	navigate(t, guest, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	focused(t, guest, `e.id === "password" && `+fieldInError, "after accepting with a short password")
	a.page(guest, "invitation, failed")
	do(t, guest, chromedp.SetValue(chromedp.CSS("#password"), "a compiler of one's own"))
	navigate(t, guest, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	a.page(guest, "QR codes (Member)")
	a.visit(guest, base, "/settings/api", "forbidden (Member)", http.StatusForbidden)

	// Back as the Owner: the members with their roles, and a member's
	// removal dialog.
	a.visit(ctx, base, "/settings/company", "company, two members", http.StatusOK)
	remove := run(t, ctx, chromedp.Evaluate[string](`(document.querySelector('table.members a[href$="/remove"]') || {}).pathname || ""`))
	if remove == "" {
		t.Fatal("the members table has no remove link")
	}
	a.visit(ctx, base, remove, "company, remove member dialog", http.StatusOK)

	t.Logf("%d pages covered, each at 1280 and 390 px:\n  %s", len(a.covered), strings.Join(a.covered, "\n  "))
	if a.axe == "" {
		t.Skipf("the axe-core audit was skipped (the layout and focus checks above ran): set %s to axe-core's axe.min.js (e.g. npm pack axe-core@4.10.3; .ci/run does)", axeEnv)
	}
}
