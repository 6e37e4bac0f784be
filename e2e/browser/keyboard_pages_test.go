package browser_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// axNode returns the accessible name and description Chromium computes
// for the first element sel finds, as a screen reader gets them.
// An element missing is an error, not a wait.
func axNode(t *testing.T, ctx context.Context, sel string) (name, desc string) {
	t.Helper()
	if !run(t, ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`)) {
		t.Errorf("no %s on %s", sel, run(t, ctx, chromedp.Location()))
		return "", ""
	}
	nodes := run(t, ctx, chromedp.Nodes(chromedp.CSS(sel)))
	no := false
	tree, err := chromedp.Call(ctx, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{BackendNodeID: nodes[0].BackendNodeID, FetchRelatives: &no})
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Nodes) == 0 {
		t.Fatalf("%s has no accessibility node", sel)
	}
	return strings.Join(strings.Fields(value(tree.Nodes[0].Name)), " "), strings.Join(strings.Fields(value(tree.Nodes[0].Description)), " ")
}

// focusOn focuses the element sel finds, and stops the test at once if
// there is none (chromedp would wait for it).
func focusOn(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	if !run(t, ctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`)) {
		t.Fatalf("no %s on %s", sel, run(t, ctx, chromedp.Location()))
	}
	do(t, ctx, chromedp.Focus(chromedp.CSS(sel)))
}

// tab presses Tab and returns a description of the element then focused.
func tab(t *testing.T, ctx context.Context) string {
	t.Helper()
	do(t, ctx, chromedp.KeyEvent(kb.Tab))
	return run(t, ctx, chromedp.Evaluate[string](`(function(){var e=document.activeElement; return e ? (e.id ? "#" + e.id : e.tagName.toLowerCase() + "." + e.className) : "";})()`))
}

// afterStyle returns the focused or hovered element's ::after display and
// content.
const afterStyle = `(function(sel){var e=document.querySelector(sel), s=getComputedStyle(e, "::after"); return s.display + " " + s.content;})`

// TestBrowserKeyboardPages drives with the keyboard what review 5 found
// slow: after a filter on the Logs and the QR code list, focus is on the
// results' heading, which gives the count (at 390 px too, where the
// filters stay open above the results); a refused filter keeps focus on
// the field in error. The Logs' From and To are out of the tab order
// unless Time is Custom. Cancel and Escape on a QR code's Delete, Make
// Owner and Remove member, and Done on the invitation link, return focus
// to the control that opened them. Icon-only actions show their word on
// keyboard focus and on hover. At 390 px the profile link is named by the
// person and role, and the header's Tab order follows its layout. Names
// and descriptions are read from Chromium's accessibility tree.
func TestBrowserKeyboardPages(t *testing.T) {
	axe := axeScript(t)
	ctx := newChromiumFor(t, 6*time.Minute)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond})
	base := s.URL
	bg := context.Background()
	svc := s.Node.Service

	const email, password = "owner@acme.test", "a long dashboard password"
	org, _, err := svc.CreateOrg(bg, service.NewOrg{Name: "Acme", OwnerEmail: email, Plan: "pro", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Production-WebApp"})
	if err != nil {
		t.Fatal(err)
	}
	// Two codes made over the API (two logged requests) and three usage
	// reads: five requests, all 2xx.
	menu, _ := apiCreateQR(t, base, prod.Secret, `{"name":"Spring Menu","type":"url","content":{"url":"https://example.com/menu"}}`)
	apiCreateQR(t, base, prod.Secret, `{"name":"Guest Wi-Fi","type":"wifi","content":{"ssid":"Guests","password":"a long passphrase","security":"WPA"}}`)
	for range 3 {
		expectAPI(t, base, prod.Secret, http.StatusOK, "")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n := 0
		if err := svc.ExportRequestLog(bg, snapglyph.Operator, org.ID, service.LogQuery{}, func(*snapglyph.RequestLogEntry) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests logged, want 5", n)
		}
	}
	inv, err := svc.Invite(bg, snapglyph.Operator, org.ID, "admin@acme.test", "admin")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := svc.AcceptInvitation(bg, inv.Token, service.Accept{Name: "Grace Hopper", Password: password}, service.Client{IP: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	adminID := admin.UserID

	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	t.Run("filters", func(t *testing.T) {
		for _, w := range []int64{1280, 390} {
			if w < 820 {
				do(t, ctx, chromedp.EmulateViewport(w, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
			} else {
				do(t, ctx, chromedp.EmulateViewport(w, 900))
			}
			// The Logs: a status, Enter in its field.
			navigate(t, ctx, chromedp.Navigate(base+"/settings/logs"))
			run(t, ctx, chromedp.Evaluate[bool](`document.querySelector("details.filter-box").open = true`))
			do(t, ctx, chromedp.SetValue(chromedp.CSS("#f-status"), "2xx"), chromedp.Focus(chromedp.CSS(`form[role="search"] button[type="submit"]`)))
			navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
			focused(t, ctx, `e.id === "results" && e.tagName === "H2" && e.textContent === "5 requests, status 2xx, last 24 hours"`, fmt.Sprintf("after a Logs filter at %d px", w))
			if name, _ := axNode(t, ctx, "#results"); name != "5 requests, status 2xx, last 24 hours" {
				t.Errorf("at %d px the focused heading is named %q", w, name)
			}
			axeClean(t, ctx, axe, fmt.Sprintf("Logs, filtered, at %d px", w))
			// A refused status: focus on it, not on the heading.
			do(t, ctx, chromedp.SetValue(chromedp.CSS("#f-status"), "2xy"), chromedp.Focus(chromedp.CSS(`form[role="search"] button[type="submit"]`)))
			navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
			focused(t, ctx, `e.id === "f-status" && `+fieldInError, fmt.Sprintf("after a refused Logs filter at %d px", w))
			if n := run(t, ctx, chromedp.Evaluate[int](`new Promise(r => setTimeout(() => r(document.activeElement.id === "f-status" ? 1 : 0), 300))`, chromedp.EvalAwaitPromise)); n != 1 {
				t.Errorf("at %d px focus left the field in error once the page loaded", w)
			}

			// The QR codes: a type, then Filter.
			navigate(t, ctx, chromedp.Navigate(base+"/qr-codes"))
			do(t, ctx, chromedp.SetValue(chromedp.CSS("#filter-type"), "wifi"), chromedp.Focus(chromedp.CSS(`form[role="search"] button[type="submit"]`)))
			navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
			focused(t, ctx, `e.id === "results" && e.textContent === "1 QR code, type Wi-Fi network"`, fmt.Sprintf("after a QR code filter at %d px", w))
		}
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("custom range", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/logs"))
		// Time is not Custom: Tab goes from it past From and To.
		do(t, ctx, chromedp.Focus(chromedp.CSS("#f-range")))
		tab(t, ctx)
		focused(t, ctx, `e.name === "suspicious"`, "Tab from Time (Last 24 hours)")
		// Custom, Filter: From and To take dates; then Filter lists them.
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#f-range"), "custom"), chromedp.Focus(chromedp.CSS(`form[role="search"] button[type="submit"]`)))
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		do(t, ctx, chromedp.Focus(chromedp.CSS("#f-range")))
		focused(t, ctx, `e.id === "f-range"`, "Time")
		if got := tab(t, ctx); got != "#f-from" {
			t.Errorf("with Custom, Tab from Time goes to %s, want From", got)
		}
		from := testserver.Epoch.Add(-time.Hour).UTC().Format("2006-01-02T15:04")
		run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("f-from").value = `+jsString(from)+`; true`))
		do(t, ctx, chromedp.Focus(chromedp.CSS(`form[role="search"] button[type="submit"]`)))
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.id === "results" && /^5 requests, /.test(e.textContent)`, "after a custom range")
	})

	t.Run("dialogs", func(t *testing.T) {
		// A QR code's Delete from the list: Cancel, with the keyboard.
		navigate(t, ctx, chromedp.Navigate(base+"/qr-codes?type=url"))
		focusOn(t, ctx, "#delete-"+menu)
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.textContent === "Cancel" && !!e.closest("dialog")`, "the delete dialog")
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.id === "delete-`+menu+`"`, "after Cancel on Delete, opened from the list")
		if loc := run(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/qr-codes?type=url#delete-"+menu) {
			t.Errorf("Cancel leads to %s, not back to the filtered list", loc)
		}
		// From the code's page: Escape.
		navigate(t, ctx, chromedp.Navigate(base+"/qr-codes/"+menu))
		focusOn(t, ctx, "#delete-code")
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.textContent === "Cancel" && !!e.closest("dialog")`, "the delete dialog")
		navigate(t, ctx, chromedp.KeyEvent(kb.Escape))
		focused(t, ctx, `e.id === "delete-code"`, "after Escape on Delete, opened from the code's page")

		// Make Owner: Cancel. Remove: Escape.
		navigate(t, ctx, chromedp.Navigate(base+"/settings/company"))
		focusOn(t, ctx, "#owner-"+adminID)
		if name, _ := axNode(t, ctx, "#owner-"+adminID); name != "Make Owner (admin@acme.test)" {
			t.Errorf("Make Owner is named %q", name)
		}
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.textContent === "Cancel" && !!e.closest("dialog")`, "the Make Owner dialog")
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.id === "owner-`+adminID+`"`, "after Cancel on Make Owner")
		focusOn(t, ctx, "#remove-"+adminID)
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.textContent === "Cancel" && !!e.closest("dialog")`, "the Remove dialog")
		navigate(t, ctx, chromedp.KeyEvent(kb.Escape))
		focused(t, ctx, `e.id === "remove-`+adminID+`"`, "after Escape on Remove")

		// An invitation: the dialog says the link is shown once; Done.
		focusOn(t, ctx, "#invite-member")
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#invite-email")), chromedp.SendKeys(chromedp.CSS("#invite-email"), "ada@acme.test"))
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#invite-link")))
		if name, desc := axNode(t, ctx, "dialog[open]"); name != "Invitation created" || !strings.Contains(desc, "It is shown only once.") {
			t.Errorf("the invitation link's dialog is named %q and described %q; want the warning that it is shown once", name, desc)
		}
		do(t, ctx, chromedp.Focus(chromedp.CSS("dialog a.btn-primary")))
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.id === "invite-member"`, "after Done on the invitation link")
	})

	t.Run("icon words", func(t *testing.T) {
		// Tab from Edit to Delete on the list: the word shows on focus
		// only, grows into the row, and scrolls nothing sideways.
		for _, w := range []int64{1280, 390} {
			if w < 820 {
				do(t, ctx, chromedp.EmulateViewport(w, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
			} else {
				do(t, ctx, chromedp.EmulateViewport(w, 900))
			}
			navigate(t, ctx, chromedp.Navigate(base+"/qr-codes"))
			sel := "#delete-" + menu
			if got := run(t, ctx, chromedp.Evaluate[string](afterStyle+`(`+jsString(sel)+`)`)); !strings.HasPrefix(got, "none") {
				t.Errorf("at %d px the word shows before focus: %s", w, got)
			}
			do(t, ctx, chromedp.Focus(chromedp.CSS(`a[href="/qr-codes/`+menu+`/edit"]`)))
			if got := tab(t, ctx); got != sel {
				t.Fatalf("Tab from Edit goes to %s", got)
			}
			if got := run(t, ctx, chromedp.Evaluate[string](afterStyle+`(`+jsString(sel)+`)`)); got != `block "Delete"` {
				t.Errorf("at %d px the focused Delete shows %q, want its word", w, got)
			}
			if sw := run(t, ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); sw > int(w) {
				t.Errorf("at %d px the word scrolls the page sideways (%d)", w, sw)
			}
			axeClean(t, ctx, axe, fmt.Sprintf("QR codes, Delete focused, at %d px", w))
			if name, _ := axNode(t, ctx, sel); name != "Delete Spring Menu" {
				t.Errorf("the Delete icon's name is %q (the word must not change it)", name)
			}
		}
		// Hover, with a mouse.
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
		navigate(t, ctx, chromedp.Navigate(base+"/settings/company"))
		x := run(t, ctx, chromedp.Evaluate[float64](`(function(){var r=document.getElementById("remove-`+adminID+`").getBoundingClientRect(); return r.left + r.width / 2;})()`))
		y := run(t, ctx, chromedp.Evaluate[float64](`(function(){var r=document.getElementById("remove-`+adminID+`").getBoundingClientRect(); return r.top + r.height / 2;})()`))
		do(t, ctx, chromedp.MouseEvent("mouseMoved", x, y))
		if got := run(t, ctx, chromedp.Evaluate[string](afterStyle+`("#remove-`+adminID+`")`)); got != `block "Remove"` {
			t.Errorf("the hovered Remove shows %q, want its word", got)
		}
		do(t, ctx, chromedp.MouseEvent("mouseMoved", 5, 5))
	})

	t.Run("phone header", func(t *testing.T) {
		for _, w := range phoneWidths {
			atWidth(t, ctx, w)
			if name, _ := axNode(t, ctx, ".profile-link"); name != email+" Owner (your profile)" {
				t.Errorf("at %d px the profile link is named %q", w, name)
			}
			// Tab walks the header as it is laid out: the brand, Menu,
			// the profile, Sign out; each to the right of the one before
			// on its line, or on a line below.
			do(t, ctx, chromedp.Focus(chromedp.CSS(".brand")))
			order := []string{".brand"}
			for range 3 {
				order = append(order, tab(t, ctx))
			}
			got := run(t, ctx, chromedp.Evaluate[string](`(function(){
			  var els = [document.querySelector(".brand"), document.querySelector("details.nav-menu > summary"), document.querySelector(".profile-link"), document.querySelector(".profile button")];
			  var out = [];
			  for (var i = 1; i < els.length; i++) {
			    var a = els[i-1].getBoundingClientRect(), b = els[i].getBoundingClientRect();
			    // Under the profile there is no toggle: Menu is as wide as its words.
			    var p = document.querySelector(".profile").getBoundingClientRect();
			    if (i === 1 && b.right > p.left && b.bottom > p.top && b.top < p.bottom) out.push("the toggle reaches under the profile (right " + Math.round(b.right) + " > " + Math.round(p.left) + ")");
			    var below = b.top >= a.bottom - 1, right = Math.abs(b.top - a.top) < a.height / 2 && b.left >= a.right - 1;
			    if (!below && !right) out.push(i + " at (" + Math.round(b.left) + "," + Math.round(b.top) + ") after (" + Math.round(a.left) + "," + Math.round(a.top) + ")");
			  }
			  var active = document.activeElement;
			  return out.join("; ") + "|" + (active === els[3] ? "signout" : (active.className || active.tagName));
			})()`))
			if !strings.HasSuffix(got, "|signout") || !strings.HasPrefix(got, "|") {
				t.Errorf("at %d px the header's Tab order %v is not its layout's: %s", w, order, got)
			}
			// The menu's count is not under the profile.
			if overlap := run(t, ctx, chromedp.Evaluate[bool](`(function(){var c=document.querySelector(".menu-count"), p=document.querySelector(".profile").getBoundingClientRect(); if(!c) return false; var r=c.getBoundingClientRect(); return r.right > p.left && r.left < p.right && r.bottom > p.top && r.top < p.bottom;})()`)); overlap {
				t.Errorf("at %d px the menu's count lies under the profile", w)
			}
		}
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("row links", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/logs"))
		// All five were made in the same millisecond.
		name, _ := axNode(t, ctx, "tr[id^='req-'] td a")
		want := regexp.MustCompile(`^` + regexp.QuoteMeta(testserver.Epoch.UTC().Format("2 Jan 15:04:05.000")) + ` (GET /api/v1/usage, 200|POST /api/v1/qr-codes, 201), Production-WebApp$`)
		if !want.MatchString(name) {
			t.Errorf("the first row's link is named %q, want its time, then its request", name)
		}
	})
}
