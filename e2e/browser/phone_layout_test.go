package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// phoneWidths are the phones the compact layout is checked at.
var phoneWidths = []int64{320, 390, 414}

// atWidth sets the window to w px wide (a phone below 820 px) and
// reloads the page, as a phone of that width would load it, then waits
// for it to be laid out.
func atWidth(t *testing.T, ctx context.Context, w int64) {
	t.Helper()
	if w < 820 {
		do(t, ctx, chromedp.EmulateViewport(w, 800, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	} else {
		do(t, ctx, chromedp.EmulateViewport(w, 900))
	}
	navigate(t, ctx, chromedp.Reload())
	run(t, ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
}

// evalJSON runs a script that returns JSON and decodes it into v.
func evalJSON(t *testing.T, ctx context.Context, script string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(run(t, ctx, chromedp.Evaluate[string](script))), v); err != nil {
		t.Fatal(err)
	}
}

// noSideways fails the test when the page scrolls sideways at width w.
func noSideways(t *testing.T, ctx context.Context, what string, w int64) {
	t.Helper()
	var got struct {
		ScrollWidth int      `json:"scrollWidth"`
		InnerWidth  int      `json:"innerWidth"`
		Past        []string `json:"past"`
	}
	evalJSON(t, ctx, widthChecks, &got)
	if got.ScrollWidth > int(w) || got.InnerWidth > int(w) {
		t.Errorf("%s at %d px: the page scrolls sideways (scrollWidth %d); past the edge: %s", what, w, got.ScrollWidth, strings.Join(got.Past, "; "))
	}
}

// axeClean runs axe-core on the page (when SNAPGLYPH_AXE is set) and
// fails the test for each serious or critical violation.
func axeClean(t *testing.T, ctx context.Context, axe, what string) {
	t.Helper()
	if axe == "" {
		return
	}
	if !run(t, ctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
		run(t, ctx, chromedp.Evaluate[bool](axe+"\n;true"))
	}
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	if err := json.Unmarshal([]byte(run(t, ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))), &violations); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Errorf("%s: axe %s %s (%s): %s", what, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, " | "))
	}
}

// TestBrowserPhoneLayout checks what a phone shows: the sidebar's
// destinations folded into a menu (one line; opened and closed with the
// keyboard, and without JavaScript), a key's usage as two charts with one
// scale each whose labels stay legible, the QR-code editor's preview
// right after the content it shows, and the create-key dialog's expiry
// date disabled unless "On a date…" is chosen. Nothing scrolls sideways
// from 320 to 1600 px, and axe-core (with SNAPGLYPH_AXE) finds nothing
// serious.
func TestBrowserPhoneLayout(t *testing.T) {
	axe := axeScript(t)
	ctx := newChromiumFor(t, 8*time.Minute)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond})
	base := s.URL
	bg := context.Background()
	svc := s.Node.Service

	// A key used over the first half of the month: calls every day, an
	// image (10 credits) every third day, so the two series differ in
	// size.
	const email, password = "owner@acme.test", "a long dashboard password"
	org, _, err := svc.CreateOrg(bg, service.NewOrg{Name: "Acme Corporation International", OwnerEmail: email, Plan: "max", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	s.Clock.Set(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	prod, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Production-WebApp"})
	if err != nil {
		t.Fatal(err)
	}
	for day := range 15 {
		for range (day*7)%11 + 1 {
			expectAPI(t, base, prod.Secret, http.StatusOK, "")
		}
		if day%3 == 0 {
			id, _ := apiCreateQR(t, base, prod.Secret, `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`)
			if st, b := callAPI(t, base, "GET", "/api/v1/qr-codes/"+id+"?format=png", prod.Secret, ""); st != http.StatusOK {
				t.Fatalf("GET the QR code's PNG: %d %.200s", st, b)
			}
		}
		s.Node.Recorder.Flush(bg)
		s.Clock.Set(s.Clock.Now().Add(24 * time.Hour))
	}
	s.Clock.Set(testserver.Epoch)
	// An unread notice, for the menu's count.
	if _, err := svc.PauseKeyWith(bg, snapglyph.Operator, prod.ID, "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ResumeKey(bg, snapglyph.Operator, prod.ID); err != nil {
		t.Fatal(err)
	}

	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	t.Run("menu", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
		// The sidebar's state: its height, the menu's, whether the toggle
		// shows, and the destinations in view.
		const sidebar = `JSON.stringify((function(){
		  var d = document.querySelector("details.nav-menu"), s = d.querySelector("summary");
		  var shown = [].filter.call(document.querySelectorAll(".nav a"), function (a) {
		    var r = a.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth + 0.5;
		  }).length;
		  var sr = s.getBoundingClientRect();
		  return {height: document.querySelector(".sidebar").getBoundingClientRect().height, open: d.open,
		    toggle: sr.width > 0 ? Math.round(sr.width) + "x" + Math.round(sr.height) : "", shown: shown,
		    all: document.querySelectorAll(".nav a").length, count: (s.querySelector(".menu-count") || {}).textContent || ""};
		})())`
		type state struct {
			Height float64
			Open   bool
			Toggle string
			Shown  int
			All    int
			Count  string
		}
		for _, w := range phoneWidths {
			atWidth(t, ctx, w)
			var got state
			evalJSON(t, ctx, sidebar, &got)
			// The brand, the organisation's name (beside it or below,
			// on two lines at most at 320 px) and the menu on one line:
			// not the eight destinations on four.
			if got.Open || got.Shown != 0 || got.Toggle == "" || got.Height > 170 {
				t.Errorf("at %d px the sidebar is %.0f px high, menu open %v, toggle %q, %d of %d destinations shown; want a closed menu, under 170 px in all", w, got.Height, got.Open, got.Toggle, got.Shown, got.All)
			}
			if !strings.Contains(got.Count, "unread") {
				t.Errorf("at %d px the closed menu does not count the unread notices: %q", w, got.Count)
			}
			var tw, th int
			fmt.Sscanf(got.Toggle, "%dx%d", &tw, &th)
			if th < 44 || tw < 44 {
				t.Errorf("at %d px the menu toggle is %s px, under 44×44", w, got.Toggle)
			}
			noSideways(t, ctx, "API keys, menu closed", w)
			// The keyboard: Tab reaches the toggle, Enter opens it, Tab
			// goes on to the first destination, Enter on the toggle again
			// closes it.
			do(t, ctx, chromedp.Focus(chromedp.CSS(".brand")), chromedp.KeyEvent("\t"))
			focused(t, ctx, `e.matches("details.nav-menu > summary")`, fmt.Sprintf("Tab from the brand at %d px", w))
			do(t, ctx, chromedp.KeyEvent("\r"))
			evalJSON(t, ctx, sidebar, &got)
			if !got.Open || got.Shown != got.All {
				t.Errorf("at %d px Enter on the toggle: open %v, %d of %d destinations in view", w, got.Open, got.Shown, got.All)
			}
			noSideways(t, ctx, "API keys, menu open", w)
			if w == 390 {
				axeClean(t, ctx, axe, "API keys at 390 px, menu open")
			}
			do(t, ctx, chromedp.KeyEvent("\t"))
			focused(t, ctx, `e.matches(".nav li:first-child a")`, fmt.Sprintf("Tab after opening the menu at %d px", w))
			do(t, ctx, chromedp.Focus(chromedp.CSS("details.nav-menu > summary")), chromedp.KeyEvent(" "))
			evalJSON(t, ctx, sidebar, &got)
			if got.Open || got.Shown != 0 {
				t.Errorf("at %d px Space on the open toggle: open %v, %d destinations shown", w, got.Open, got.Shown)
			}
		}
		// Without JavaScript the toggle works as well: a page loaded with
		// scripts off, tapped where the toggle is (a mouse event needs no
		// script), is read once they are back on.
		atWidth(t, ctx, 390)
		x := run(t, ctx, chromedp.Evaluate[float64](`(function(){var r=document.querySelector("details.nav-menu > summary").getBoundingClientRect(); return r.left + r.width / 2;})()`))
		y := run(t, ctx, chromedp.Evaluate[float64](`(function(){var r=document.querySelector("details.nav-menu > summary").getBoundingClientRect(); return r.top + r.height / 2;})()`))
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		navigate(t, ctx, chromedp.Reload())
		do(t, ctx, chromedp.MouseClickXY(x, y))
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
			t.Fatal(err)
		}
		var got state
		evalJSON(t, ctx, sidebar, &got)
		if !got.Open || got.Shown != got.All {
			t.Errorf("without JavaScript a tap on the toggle: open %v, %d of %d destinations in view", got.Open, got.Shown, got.All)
		}
		// Wider, every destination shows and the toggle does not, though
		// the menu is closed (no script opens it in this browser).
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
		for _, w := range []int64{844, 1024, 1280, 1600} {
			atWidth(t, ctx, w)
			evalJSON(t, ctx, sidebar, &got)
			if got.Toggle != "" || got.Shown != got.All {
				t.Errorf("at %d px: toggle %q, %d of %d destinations shown; want no toggle and all", w, got.Toggle, got.Shown, got.All)
			}
		}
		do(t, ctx, chromedp.Focus(chromedp.CSS(".brand")), chromedp.KeyEvent("\t"))
		focused(t, ctx, `e.matches(".nav li:first-child a")`, "Tab from the brand at 1600 px")
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
	})

	t.Run("usage charts", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/"+prod.ID))
		// Each chart: its name and description (title and desc, by
		// aria-labelledby), the top of its own axis, its time labels and
		// the smallest rendered label height.
		const charts = `JSON.stringify([].map.call(document.querySelectorAll("svg.chart"), function (svg) {
		  var ids = (svg.getAttribute("aria-labelledby") || "").split(/\s+/);
		  var label = ids.map(function (id) { var e = document.getElementById(id); return e ? e.textContent : "?"; }).join(" | ");
		  var ticks = [].filter.call(svg.querySelectorAll("text.tick"), function (x) { return x.getBoundingClientRect().width > 0; });
		  var top = svg.parentElement.querySelector(".y-max");
		  return {role: svg.getAttribute("role"), label: label, max: top ? top.textContent : "",
		    ticks: ticks.map(function (x) { return x.textContent; }),
		    smallest: Math.min.apply(null, ticks.map(function (x) { return x.getBoundingClientRect().height; }))};
		}))`
		type chart struct {
			Role     string
			Label    string
			Max      string
			Ticks    []string
			Smallest float64
		}
		for _, w := range listWidths {
			atWidth(t, ctx, w)
			var got []chart
			evalJSON(t, ctx, charts, &got)
			if len(got) != 2 {
				t.Fatalf("at %d px: %d charts, want 2 (calls, credits)", w, len(got))
			}
			for i, want := range []string{"API calls per day, 1 Nov to 15 Nov 2026 | 100 API calls in all, most on 4 Nov (13).", "Image credits per day, 1 Nov to 15 Nov 2026 | 50 image credits in all, most on 1 Nov (10)."} {
				if got[i].Role != "img" || got[i].Label != want {
					t.Errorf("at %d px chart %d is %q named %q, want an img named %q", w, i+1, got[i].Role, got[i].Label, want)
				}
				if len(got[i].Ticks) < 2 || got[i].Ticks[0] != "1 Nov" || got[i].Ticks[len(got[i].Ticks)-1] != "15 Nov" {
					t.Errorf("at %d px chart %d's time axis reads %q, want days with their month from 1 Nov to 15 Nov", w, i+1, got[i].Ticks)
				}
				// 11 px labels, never shrunk with the chart.
				if got[i].Smallest < 10 {
					t.Errorf("at %d px chart %d's labels are %.1f px high", w, i+1, got[i].Smallest)
				}
			}
			if got[0].Max != "13" || got[1].Max != "10" {
				t.Errorf("at %d px the charts' scales end at %q and %q, want 13 calls and 10 credits (one scale each)", w, got[0].Max, got[1].Max)
			}
			noSideways(t, ctx, "a key's page", w)
		}
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
		axeClean(t, ctx, axe, "a key's page at 1280 px")
	})

	t.Run("expiry date", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/new"))
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")))
		const dateField = `JSON.stringify((function(){
		  var f = document.getElementById("key-expires-on");
		  return {disabled: f.disabled, shown: f.getBoundingClientRect().width > 0, sent: new FormData(f.form).has("expires_on")};
		})())`
		choose := func(v string) {
			run(t, ctx, chromedp.Evaluate[bool](`(function(){var s=document.getElementById("key-expires"); s.value=`+jsString(v)+`; s.dispatchEvent(new Event("change", {bubbles: true})); return true;})()`))
		}
		type field struct{ Disabled, Shown, Sent bool }
		for _, step := range []struct {
			choice string
			want   field
		}{
			{"", field{Disabled: true}},
			{"date", field{Shown: true, Sent: true}},
			{"30", field{Disabled: true}},
			{"date", field{Shown: true, Sent: true}},
			{"never", field{Disabled: true}},
		} {
			if step.choice != "" {
				choose(step.choice)
			}
			if step.choice == "date" {
				do(t, ctx, chromedp.SetValue(chromedp.CSS("#key-expires-on"), "2027-06-30"))
			}
			var got field
			evalJSON(t, ctx, dateField, &got)
			if got != step.want {
				t.Errorf("expiry %q: the date field is %+v, want %+v", step.choice, got, step.want)
			}
		}
		// With "Never", Tab goes from the expiry to what follows, not
		// into the hidden date.
		do(t, ctx, chromedp.Focus(chromedp.CSS("#key-expires")), chromedp.KeyEvent("\t"))
		focused(t, ctx, `e.id !== "key-expires-on" && e.id !== "key-expires"`, "Tab from Expiration set to Never")
		axeClean(t, ctx, axe, "the create-key dialog, Never")
		do(t, ctx, chromedp.SendKeys(chromedp.CSS("#key-name"), "Never-Expires"))
		navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
		keys, err := svc.Keys(bg, snapglyph.Operator, org.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.Name == "Never-Expires" && !k.ExpiresAt.IsZero() {
				t.Errorf("a key made with Never (after a date was typed) expires %v", k.ExpiresAt)
			}
		}
	})

	t.Run("QR preview", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/qr-codes/new"))
		// Where the cards are, and whether what can be focused in the
		// form comes down the page in the order Tab takes it.
		const layout = `JSON.stringify((function(){
		  var r = function (sel) { var b = document.querySelector(sel).getBoundingClientRect(); return {top: b.top + window.scrollY, bottom: b.bottom + window.scrollY, left: b.left, right: b.right}; };
		  var out = {content: r("section[aria-labelledby=content-title]"), design: r("section[aria-labelledby=design-title]"),
		    preview: r("[data-preview-frame]"), create: r("form.qr-editor button[type=submit]"), outOfOrder: ""};
		  var last = -1;
		  [].forEach.call(document.querySelectorAll("form.qr-editor input:not([type=hidden]), form.qr-editor select, form.qr-editor textarea, form.qr-editor button, form.qr-editor a[href]"), function (el) {
		    var b = el.getBoundingClientRect();
		    if (b.width === 0 || out.outOfOrder) return;
		    var top = Math.round(b.top + window.scrollY);
		    if (top < last - 1) out.outOfOrder = (el.id || el.name || el.textContent.trim()) + " at y=" + top + " after y=" + last;
		    last = top;
		  });
		  return out;
		})())`
		type box struct{ Top, Bottom, Left, Right float64 }
		var got struct {
			Content, Design, Preview, Create box
			OutOfOrder                       string
		}
		for _, w := range phoneWidths {
			atWidth(t, ctx, w)
			evalJSON(t, ctx, layout, &got)
			// Right after the content (its card's heading between), before
			// the design; the buttons after the design.
			if got.Preview.Top < got.Content.Bottom || got.Preview.Top-got.Content.Bottom > 100 || got.Preview.Bottom > got.Design.Top || got.Create.Top < got.Design.Bottom {
				t.Errorf("at %d px: content ends at y=%.0f, the preview is at y=%.0f–%.0f, the design starts at y=%.0f, Create at y=%.0f; want content, preview, design, Create",
					w, got.Content.Bottom, got.Preview.Top, got.Preview.Bottom, got.Design.Top, got.Create.Top)
			}
			if got.OutOfOrder != "" {
				t.Errorf("at %d px Tab goes up the page: %s", w, got.OutOfOrder)
			}
			noSideways(t, ctx, "QR code, new", w)
		}
		axeClean(t, ctx, axe, "QR code, new, at 414 px")
		// On a desktop the preview stays beside the fields, and in view
		// while the design is scrolled to.
		for _, w := range []int64{844, 1024, 1280, 1600} {
			atWidth(t, ctx, w)
			evalJSON(t, ctx, layout, &got)
			if got.Preview.Left < got.Content.Right || got.Preview.Top > got.Content.Top {
				t.Errorf("at %d px the preview (x=%.0f, y=%.0f) is not beside the content (right x=%.0f, y=%.0f)", w, got.Preview.Left, got.Preview.Top, got.Content.Right, got.Content.Top)
			}
			noSideways(t, ctx, "QR code, new", w)
		}
		run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("f-logo").scrollIntoView({block: "end"}); true`))
		if top := run(t, ctx, chromedp.Evaluate[float64](`document.querySelector("[data-preview-frame]").getBoundingClientRect().top`)); top < 0 || top > 300 {
			t.Errorf("at 1600 px, scrolled to the logo, the preview is at y=%.0f in the window", top)
		}
		do(t, ctx, chromedp.EmulateViewport(1280, 900))
	})
}
