package browser_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// settled waits until the page has handled what the keys sent so far
// set in motion (a dialog's close event is queued as a task), and returns
// whether the JavaScript predicate holds then.
func settled(t *testing.T, ctx context.Context, predicate string) bool {
	t.Helper()
	return run(t, ctx, chromedp.Evaluate[bool](`new Promise(function (r) { setTimeout(function () { requestAnimationFrame(function () { r(!!(`+predicate+`)); }); }, 150); })`, chromedp.EvalAwaitPromise))
}

// TestBrowserKeyboardKeys drives API keys from the keyboard, with real
// key events:
//   - in the create dialog, Tab goes from Expiration to "Full access" and
//     on to the permissions (a radio group is one stop); ticking one with
//     Space chooses "Restricted to:", arrowing to "Full access" unticks
//     it and back to "Restricted to:" ticks it again, and the reveal says
//     the key's permission;
//   - Escape on a one-time secret (the new key, the invitation link),
//     pressed twice right after the page loads and twice after a Tab,
//     leaves the dialog open and focus where it was; Chrome did not let
//     the page refuse the close request of an Escape with no activation
//     since the last one, and the secret was hidden for good;
//   - Copy, pressed with Enter, leaves focus on the button and says it
//     copied (it moved focus onto the secret, which a screen reader read
//     out again);
//   - the QR form's preview reads out what it says only when the user
//     leaves a field typed in (it read each message out as it came,
//     while the type was chosen and while a password was typed);
//   - Escape in a dialog with somewhere to go back to still goes there:
//     the create dialog to the list's Create API Key, the revoke dialog
//     opened from a key's page (and drawn over it) to that page's Revoke,
//     and opened from a request's page in the Logs back to it;
//   - the revoke's message names the key's prefix, and the revoked key's
//     links are named starting with the words they show (with
//     SNAPGLYPH_AXE, axe-core's experimental label-content-name-mismatch
//     rule, which flagged them).
func TestBrowserKeyboardKeys(t *testing.T) {
	axe := axeScript(t)
	ctx := newChromium(t)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond})
	base := s.URL
	const email, password = "owner@acme.test", "a long dashboard password"
	org, _, err := s.Node.Service.CreateOrg(context.Background(), service.NewOrg{Name: "Acme", OwnerEmail: email, Plan: "pro", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	// Permissions from the keyboard.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/new"))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")), chromedp.SendKeys(chromedp.CSS("#key-name"), "Mobile-Android-App"))
	do(t, ctx, chromedp.Focus(chromedp.CSS("#key-expires")), chromedp.KeyEvent("\t"))
	focused(t, ctx, `e.name === "access" && e.value === "full" && e.checked`, "Tab from Expiration")
	do(t, ctx, chromedp.KeyEvent("\t"))
	focused(t, ctx, `e.name === "scope" && e.value === "qr_codes:read"`, "Tab from Full access")
	const access = `(function(){
	  var f = document.querySelector('input[name="access"]:checked');
	  var ticked = [].filter.call(document.querySelectorAll('input[name="scope"]'), function (b) { return b.checked; }).map(function (b) { return b.value; });
	  return (f ? f.value : "none") + " " + ticked.join(",");
	})()`
	do(t, ctx, chromedp.KeyEvent(" "))
	if got := run(t, ctx, chromedp.Evaluate[string](access)); got != "restricted qr_codes:read" {
		t.Errorf("after ticking Read QR codes with Space, the form says %q, want Restricted to: qr_codes:read", got)
	}
	// The group is one stop, at the chosen button; the arrows choose.
	do(t, ctx, chromedp.KeyEvent("\t", chromedp.KeyModifiers(chromedp.ModifierShift)))
	focused(t, ctx, `e.name === "access" && e.value === "restricted"`, "Shift+Tab from the first permission")
	do(t, ctx, chromedp.KeyEvent(kb.ArrowUp))
	if got := run(t, ctx, chromedp.Evaluate[string](access)); got != "full " {
		t.Errorf("after choosing Full access, the form says %q, want full access and no box ticked", got)
	}
	do(t, ctx, chromedp.KeyEvent(kb.ArrowDown))
	if got := run(t, ctx, chromedp.Evaluate[string](access)); got != "restricted qr_codes:read" {
		t.Errorf("back on Restricted to:, the form says %q, want the box ticked again", got)
	}
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
	summary := run(t, ctx, chromedp.Evaluate[string](`(document.getElementById("reveal-summary") || {textContent: ""}).textContent`))
	if got := strings.Join(strings.Fields(summary), " "); !strings.Contains(got, "It has only this permission: Read QR codes (qr_codes:read).") {
		t.Errorf("the reveal says %q, not the key's permission", got)
	}
	key := run(t, ctx, chromedp.Value(chromedp.CSS("#new-key")))
	if !keyPattern.MatchString(key) {
		t.Fatalf("the reveal shows %q, not a key", key)
	}
	axeClean(t, ctx, axe, "the reveal")
	mobile := key

	// Escape on the reveal right after it loads.
	const open = `document.querySelector("dialog") && document.querySelector("dialog").open`
	focused(t, ctx, `e.id === "new-key"`, "the reveal, loaded")
	do(t, ctx, chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent(kb.Escape))
	if !settled(t, ctx, open+` && document.activeElement.id === "new-key"`) {
		t.Error("two Escapes on the reveal closed it or moved focus off the key")
	}

	// Another key: Copy with Enter leaves focus on the button; then two
	// Escapes (after keys that count as activation).
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/new"))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")), chromedp.SendKeys(chromedp.CSS("#key-name"), "Dev-Testing"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
	key = run(t, ctx, chromedp.Value(chromedp.CSS("#new-key")))
	focused(t, ctx, `e.id === "new-key"`, "the second reveal, loaded")
	do(t, ctx, chromedp.KeyEvent("\t"))
	focused(t, ctx, `e.getAttribute("data-copy") === "new-key"`, "Tab from the key")
	do(t, ctx, chromedp.KeyEvent(kb.Enter))
	run(t, ctx, chromedp.Poll[bool](`document.getElementById("copy-status").textContent.length > 0`, chromedp.WithPollingTimeout(5*time.Second)))
	if got := text(t, ctx, "#copy-status"); got != "Copied to the clipboard." {
		t.Errorf("Copy says %q", got)
	}
	focused(t, ctx, `e.getAttribute("data-copy") === "new-key"`, "after Copy")
	do(t, ctx, chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent(kb.Escape))
	if !settled(t, ctx, open+` && document.activeElement.getAttribute("data-copy") === "new-key"`) {
		t.Error("two Escapes on Copy closed the reveal or moved focus")
	}
	if v := run(t, ctx, chromedp.Evaluate[string](`document.getElementById("new-key").value`)); v != key {
		t.Errorf("after Escape the reveal holds %q", v)
	}

	// The invitation link, a secret too.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/company/invite"))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#invite-email")), chromedp.SendKeys(chromedp.CSS("#invite-email"), "grace@acme.test"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	link := run(t, ctx, chromedp.Value(chromedp.CSS("#invite-link")))
	focusedID := run(t, ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if focusedID == "" || !run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("dialog").contains(document.activeElement)`)) {
		t.Errorf("the invitation link's dialog starts with focus on %q, outside it", focusedID)
	}
	do(t, ctx, chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent(kb.Escape))
	if !settled(t, ctx, open+` && document.activeElement.id === `+strconv.Quote(focusedID)) {
		t.Error("two Escapes closed the invitation link's dialog or moved focus")
	}
	if v := run(t, ctx, chromedp.Evaluate[string](`document.getElementById("invite-link").value`)); v != link || !strings.Contains(link, "/invite/") {
		t.Errorf("after Escape the invitation link is %q, was %q", v, link)
	}

	// The QR form's preview: what it says is shown at once but read out
	// only on leaving a field typed in, once for each new message; not
	// on choosing the type, nor while typing.
	navigate(t, ctx, chromedp.Navigate(base+"/qr-codes/new"))
	const said = `(function(){
	  var s = document.getElementById("preview-status"), live = s && s.nextElementSibling;
	  if (!s || s.getAttribute("role") || s.getAttribute("aria-live") !== "off") return "preview-status is a live region";
	  if (!live || live.getAttribute("role") !== "status") return "no live region";
	  return "shown: " + s.textContent + " | said: " + live.textContent;
	})()`
	waitShown := func(part string) string {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("preview-status").textContent.indexOf(`+strconv.Quote(part)+`) >= 0`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
			t.Errorf("the preview never says %q", part)
		}
		time.Sleep(400 * time.Millisecond) // a later answer would have come
		got := run(t, ctx, chromedp.Evaluate[string](said))
		if !strings.Contains(got, " | said: ") {
			t.Fatalf("the QR form's preview: %s", got)
		}
		return got
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`label[for="type-wifi"]`)), chromedp.WaitVisible(chromedp.CSS("#f-wifi-ssid")))
	if got := waitShown("Network name (SSID) is required"); !strings.HasSuffix(got, "| said: ") {
		t.Errorf("choosing Wi-Fi: %s, want nothing read out", got)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-wifi-ssid"), "Engine Room"))
	missing := waitShown("Password is required")
	if !strings.HasSuffix(missing, "| said: ") {
		t.Errorf("typing the network name: %s, want nothing read out", missing)
	}
	do(t, ctx, chromedp.KeyEvent("\t"))
	message := strings.TrimPrefix(missing[:strings.Index(missing, " | said: ")], "shown: ")
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("preview-status").nextElementSibling.textContent === `+strconv.Quote(message), chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("leaving the network name: %s, want %q read out", run(t, ctx, chromedp.Evaluate[string](said)), message)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-wifi-password"), "abc"))
	short := waitShown("8 to 63")
	if !strings.HasSuffix(short, "| said: "+message) {
		t.Errorf("typing the password: %s, want only %q read out still", short, message)
	}
	do(t, ctx, chromedp.KeyEvent("\t"))
	message = strings.TrimPrefix(short[:strings.Index(short, " | said: ")], "shown: ")
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("preview-status").nextElementSibling.textContent === `+strconv.Quote(message), chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Errorf("leaving the password: %s, want %q read out", run(t, ctx, chromedp.Evaluate[string](said)), message)
	}

	// Dialogs with somewhere to go back to: Escape goes there.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/new"))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")))
	navigate(t, ctx, chromedp.KeyEvent(kb.Escape))
	if loc := run(t, ctx, chromedp.Location()); loc != base+"/settings/api#create-key" {
		t.Errorf("Escape in the create dialog led to %s", loc)
	}
	focused(t, ctx, `e.id === "create-key"`, "after Escape in the create dialog")
	keyPage := run(t, ctx, chromedp.Evaluate[string](`[].filter.call(document.querySelectorAll("th.key-name a"), function (a) { return a.textContent === "Dev-Testing"; })[0].pathname`))
	navigate(t, ctx, chromedp.Navigate(base+keyPage))
	if !run(t, ctx, chromedp.Evaluate[bool](`!!document.getElementById("revoke-key")`)) {
		t.Fatal("the key's page has no Revoke button named revoke-key")
	}
	navigate(t, ctx, chromedp.Click(chromedp.CSS("#revoke-key")))
	focused(t, ctx, `e.textContent === "Cancel" && !!e.closest("dialog")`, "the revoke dialog from the key's page")
	if h := text(t, ctx, "h1"); h != "Dev-Testing" {
		t.Errorf("the revoke dialog is drawn over %q, not the key's page", h)
	}
	navigate(t, ctx, chromedp.KeyEvent(kb.Escape))
	if loc := run(t, ctx, chromedp.Location()); loc != base+keyPage+"#revoke-key" {
		t.Errorf("Escape in the revoke dialog opened from the key's page led to %s", loc)
	}
	focused(t, ctx, `e.id === "revoke-key"`, "after Escape in the revoke dialog")

	// Opened from a suspicious request's page in the Logs (a paused key
	// used), it goes back there.
	if _, err := s.Node.Service.PauseKeyWith(context.Background(), snapglyph.Operator, keyIDOf(t, s, org, "Mobile-Android-App"), "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	expectAPI(t, base, mobile, http.StatusUnauthorized, "api_key_paused")
	var entry string
	for deadline := time.Now().Add(10 * time.Second); entry == ""; time.Sleep(100 * time.Millisecond) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/logs"))
		entry = run(t, ctx, chromedp.Evaluate[string](`(function(){var a = document.querySelector("tr[id^='req-'] a"); return a ? a.pathname + a.search : "";})()`))
		if entry == "" && time.Now().After(deadline) {
			t.Fatal("the request is not in the Logs")
		}
	}
	navigate(t, ctx, chromedp.Navigate(base+entry))
	if !run(t, ctx, chromedp.Evaluate[bool](`!!document.querySelector('main a[href$="/revoke"]')`)) {
		t.Fatalf("the request's page %s offers no Revoke", entry)
	}
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`main a[href$="/revoke"]`)))
	if h := text(t, ctx, "#revoke-title"); h != "Revoke Mobile-Android-App?" {
		t.Errorf("the revoke dialog from the request's page is %q", h)
	}
	navigate(t, ctx, chromedp.KeyEvent(kb.Escape))
	if loc := run(t, ctx, chromedp.Location()); loc != base+entry+"#revoke-key" {
		t.Errorf("Escape in the revoke dialog opened from %s led to %s", entry, loc)
	}

	// Revoked from its page, a key leaves a "see requests" link beside its
	// refused requests whose name starts with the words it shows (axe's
	// experimental rule, for speech input).
	navigate(t, ctx, chromedp.Navigate(base+keyPage))
	navigate(t, ctx, chromedp.Click(chromedp.CSS("#revoke-key")))
	axeClean(t, ctx, axe, "the revoke dialog over the key's page")
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button.btn-danger`)))
	if got := text(t, ctx, "#flash"); !strings.Contains(got, "Dev-Testing is revoked: applications still using "+key[:12]+"...") {
		t.Errorf("the revoke says %q, not which key", got)
	}
	expectAPI(t, base, key, http.StatusUnauthorized, "api_key_revoked")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
		if run(t, ctx, chromedp.Evaluate[bool](`!!document.querySelector(".revoked-list .refused a")`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revoked key's refused request is not listed")
		}
	}
	if axe != "" {
		run(t, ctx, chromedp.Evaluate[bool](axe+"\n;true"))
		// (The revoked keys are folded away, and axe checks what is seen.)
		run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("revoked-keys").open = true`))
		const mismatch = `axe.run(document, {runOnly: {type: "rule", values: ["label-content-name-mismatch"]}, rules: {"label-content-name-mismatch": {enabled: true}}}).then(function (r) {
		  var ran = r.passes.concat(r.inapplicable, r.incomplete, r.violations).some(function (x) { return x.id === "label-content-name-mismatch"; });
		  if (!ran) return "the rule did not run";
		  return r.violations.map(function (v) { return v.nodes.map(function (n) { return n.html; }).join(" | "); }).join(" | ");
		})`
		if got := run(t, ctx, chromedp.Evaluate[string](mismatch, chromedp.EvalAwaitPromise)); got != "" {
			t.Errorf("the list's links are named other than they read: %s", got)
		}
	}
}
