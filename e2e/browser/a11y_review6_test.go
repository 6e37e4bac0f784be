package browser_test

import (
	"context"
	"net/http"
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

// centre returns the middle of the element sel finds, in the viewport.
func centre(t *testing.T, ctx context.Context, sel string) (x, y float64) {
	t.Helper()
	var r struct{ X, Y float64 }
	evalJSON(t, ctx, `(function(){var r=document.querySelector(`+jsString(sel)+`).getBoundingClientRect(); return JSON.stringify({X: r.left + r.width / 2, Y: r.top + r.height / 2});})()`, &r)
	return r.X, r.Y
}

// TestBrowserReview6 checks in Chromium what review 6 found:
//   - after a roll, the old and the new key's links in the list are
//     named apart (the old one says it is the old key, and until when);
//   - an icon-only button's word, shown on keyboard focus and on hover,
//     goes with Escape, focus staying on the button (in a dialog too,
//     which that Escape leaves open), comes back with the next focus or
//     hover, and stays while the pointer is over the word itself
//     (WCAG 1.4.13);
//   - Done on an invitation's link leaves focus on Invite Member and a
//     status that says the invitation is pending;
//   - links to a filtered list outside the filter forms (a key's Request
//     logs, the list's Logs icon, a code's creator) land on the results'
//     heading, as the forms do;
//   - names made of visible and hidden words read without a stray space
//     ("Open notification: …", not "Open : …").
//
// Names are read from Chromium's accessibility tree.
func TestBrowserReview6(t *testing.T) {
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
	menu, _ := apiCreateQR(t, base, prod.Secret, `{"name":"Spring Menu","type":"url","content":{"url":"https://example.com/menu"}}`)
	billing, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Billing"})
	if err != nil {
		t.Fatal(err)
	}
	rolled, err := svc.RollKey(bg, snapglyph.Operator, billing.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gone, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Zapier-Integration"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RevokeKey(bg, snapglyph.Operator, gone.ID); err != nil {
		t.Fatal(err)
	}

	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	t.Run("rolled key links", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
		newName, _ := axNode(t, ctx, "#key-link-"+rolled.ID)
		oldName, _ := axNode(t, ctx, "#key-link-"+billing.ID)
		if newName != "Billing" {
			t.Errorf("the new key's link is named %q, want its name", newName)
		}
		if want := "Billing (old key " + billing.Prefix + "..., works until "; !strings.HasPrefix(oldName, want) {
			t.Errorf("the old key's link is named %q, want it to start %q", oldName, want)
		}
		axeClean(t, ctx, axe, "API keys after a roll")
	})

	t.Run("icon words", func(t *testing.T) {
		// Keyboard: Tab from Edit to Delete shows the word; Escape hides
		// it and leaves focus and the page where they are; the next focus
		// shows it again.
		navigate(t, ctx, chromedp.Navigate(base+"/qr-codes"))
		del := "#delete-" + menu
		word := func() string { return run(t, ctx, chromedp.Evaluate[string](afterStyle+`(`+jsString(del)+`)`)) }
		do(t, ctx, chromedp.Focus(chromedp.CSS(`a[href="/qr-codes/`+menu+`/edit"]`)))
		if got := tab(t, ctx); got != del {
			t.Fatalf("Tab from Edit goes to %s", got)
		}
		if got := word(); got != `block "Delete"` {
			t.Fatalf("the focused Delete shows %q, want its word", got)
		}
		do(t, ctx, chromedp.KeyEvent(kb.Escape))
		if got := word(); !strings.HasPrefix(got, "none") {
			t.Errorf("after Escape the focused Delete still shows %q", got)
		}
		focused(t, ctx, `e.id === "delete-`+menu+`"`, "after Escape on Delete's word")
		if loc := run(t, ctx, chromedp.Location()); loc != base+"/qr-codes" {
			t.Errorf("Escape on Delete's word led to %s", loc)
		}
		do(t, ctx, chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)), chromedp.KeyEvent(kb.Tab))
		focused(t, ctx, `e.id === "delete-`+menu+`"`, "Shift+Tab to Edit, Tab back to Delete")
		if got := word(); got != `block "Delete"` {
			t.Errorf("focused again, Delete shows %q, want its word", got)
		}
		do(t, ctx, chromedp.Focus(chromedp.CSS(`a[href="/qr-codes/new"]`)))

		// Hover: the word stays while the pointer moves onto it, Escape
		// hides it, and the next hover shows it again.
		x, y := centre(t, ctx, del)
		do(t, ctx, chromedp.MouseEvent("mouseMoved", x, y))
		if got := word(); got != `block "Delete"` {
			t.Fatalf("the hovered Delete shows %q, want its word", got)
		}
		var tip struct{ X, Y float64 }
		evalJSON(t, ctx, `(function(){var e=document.querySelector(`+jsString(del)+`), r=e.getBoundingClientRect(), s=getComputedStyle(e, "::after");
		  return JSON.stringify({X: r.right - parseFloat(s.width) / 2, Y: r.top - parseFloat(s.height) / 2});})()`, &tip)
		do(t, ctx, chromedp.MouseEvent("mouseMoved", tip.X, tip.Y))
		if got := word(); got != `block "Delete"` {
			t.Errorf("with the pointer on the word (%.0f, %.0f), Delete shows %q", tip.X, tip.Y, got)
		}
		do(t, ctx, chromedp.KeyEvent(kb.Escape))
		if got := word(); !strings.HasPrefix(got, "none") {
			t.Errorf("after Escape the hovered Delete still shows %q", got)
		}
		do(t, ctx, chromedp.MouseEvent("mouseMoved", 5, 5), chromedp.MouseEvent("mouseMoved", x, y))
		if got := word(); got != `block "Delete"` {
			t.Errorf("hovered again, Delete shows %q, want its word", got)
		}
		do(t, ctx, chromedp.MouseEvent("mouseMoved", 5, 5))

		// In a dialog: Escape on Close's word hides the word only; the
		// next Escape closes the dialog, back to Create API Key.
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/new"))
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")))
		closeBtn := `dialog .modal-head a.icon-btn`
		do(t, ctx, chromedp.Focus(chromedp.CSS("#key-name")), chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
		focused(t, ctx, `e.matches(`+jsString(closeBtn)+`)`, "Shift+Tab from the key's name")
		if got := run(t, ctx, chromedp.Evaluate[string](afterStyle+`(`+jsString(closeBtn)+`)`)); got != `block "Close"` {
			t.Fatalf("the focused Close shows %q, want its word", got)
		}
		do(t, ctx, chromedp.KeyEvent(kb.Escape))
		if !settled(t, ctx, `document.querySelector("dialog[open]") && getComputedStyle(document.querySelector(`+jsString(closeBtn)+`), "::after").display === "none" && document.activeElement.matches(`+jsString(closeBtn)+`)`) {
			t.Fatalf("Escape on Close's word: the dialog closed, the word stayed or focus moved (at %s)", run(t, ctx, chromedp.Location()))
		}
		navigate(t, ctx, chromedp.KeyEvent(kb.Escape))
		if loc := run(t, ctx, chromedp.Location()); loc != base+"/settings/api#create-key" {
			t.Errorf("the second Escape led to %s, want the list's Create API Key", loc)
		}
	})

	t.Run("invitation done", func(t *testing.T) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/company"))
		focusOn(t, ctx, "#invite-member")
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#invite-email")), chromedp.SendKeys(chromedp.CSS("#invite-email"), "ada@acme.test"))
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#invite-link")), chromedp.Focus(chromedp.CSS("dialog a.btn-primary")))
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		focused(t, ctx, `e.id === "invite-member"`, "after Done on the invitation link")
		// The status's words come (again) once the page has loaded.
		said := `(function(){var s=document.getElementById("invited"); return !!s && s.getAttribute("role") === "status" && s.textContent.indexOf("The invitation for ada@acme.test is pending") >= 0;})()`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](said, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Errorf("after Done no status says the invitation is pending: %q", run(t, ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText.slice(0, 300)`)))
		}
		focused(t, ctx, `e.id === "invite-member"`, "once the status is said")
		axeClean(t, ctx, axe, "Company, after Done on an invitation")
	})

	t.Run("filter links", func(t *testing.T) {
		results := func(what string, want string) {
			t.Helper()
			focused(t, ctx, `e.id === "results" && e.tagName === "H2" && `+want, what)
		}
		// A key's page: Request logs.
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api/keys/"+prod.ID))
		focusOn(t, ctx, "#key-logs")
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		results("after a key's Request logs", `/ requests? of Production-WebApp, everything kept$/.test(e.textContent)`)
		// The list's Logs icon.
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
		focusOn(t, ctx, `#key-`+prod.ID+` a[href^="/settings/logs?"]`)
		navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
		results("after the list's Logs icon", `/ of Production-WebApp, /.test(e.textContent)`)
		// A code's creator, in the list and on its page.
		for _, from := range []string{"/qr-codes", "/qr-codes/" + menu} {
			navigate(t, ctx, chromedp.Navigate(base+from))
			focusOn(t, ctx, `main a[href^="/qr-codes?createdByKey="]`)
			navigate(t, ctx, chromedp.KeyEvent(kb.Enter))
			results("after the creator's link on "+from, `e.textContent === "1 QR code, created by the API key Production-WebApp (`+prod.Prefix+`...)"`)
		}
	})

	t.Run("names without a stray space", func(t *testing.T) {
		var open string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			navigate(t, ctx, chromedp.Navigate(base+"/notices"))
			if run(t, ctx, chromedp.Evaluate[bool](`!!document.querySelector(".notice-open button")`)) {
				open, _ = axNode(t, ctx, ".notice-open button")
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no notice to open")
			}
		}
		title := run(t, ctx, chromedp.Evaluate[string](`document.querySelector(".notice-title").lastChild.textContent`))
		if open != "Open notification: "+title {
			t.Errorf("a notice's Open button is named %q, want %q", open, "Open notification: "+title)
		}
		bell, _ := axNode(t, ctx, "nav a.bell")
		if !strings.HasPrefix(bell, "Notifications ") || !strings.HasSuffix(bell, " unread") || strings.Contains(bell, " ,") {
			t.Errorf("the bell is named %q", bell)
		}
		navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))
		run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("revoked-keys").open = true`))
		if name, _ := axNode(t, ctx, "#revoked-"+gone.ID+" .status-note a"); name != "Its requests (Zapier-Integration, "+gone.Prefix+"...)" {
			t.Errorf("the revoked key's requests link is named %q", name)
		}
		if s := navigate(t, ctx, chromedp.Navigate(base+"/settings/api")); s != http.StatusOK {
			t.Errorf("GET /settings/api: %d", s)
		}
	})
}
