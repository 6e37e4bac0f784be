package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// qrOrderWidths are the widths the QR-code editor's order is checked at:
// phones and a tablet (one column) and two desktops (the preview beside
// the fields).
var qrOrderWidths = []int64{320, 390, 768, 1024, 1440}

// qrBoxes measures the editor's parts (in page coordinates) and says
// whether the preview, scrolled to, can be seen: drawn, and not covered
// by anything at its frame's centre.
const qrBoxes = `JSON.stringify((function(){
  window.scrollTo(0, 0);
  var box = function (el) { var b = el.getBoundingClientRect(); return {top: b.top + window.scrollY, bottom: b.bottom + window.scrollY, left: b.left, right: b.right}; };
  var preview = document.getElementById("preview-title").closest("aside");
  var frame = preview.querySelector("[data-preview-frame]");
  var out = {name: box(document.getElementById("f-name").closest("section")),
    content: box(document.querySelector("section[aria-labelledby=content-title]")),
    preview: box(preview),
    design: box(document.querySelector("section[aria-labelledby=design-title]")),
    submit: box(document.querySelector("form.qr-editor button[type=submit]"))};
  frame.scrollIntoView({block: "center"});
  var f = frame.getBoundingClientRect(), at = document.elementFromPoint(f.left + f.width / 2, f.top + f.height / 2);
  out.seen = f.width > 0 && f.height > 0 && getComputedStyle(preview).visibility === "visible" && !!at && preview.contains(at);
  window.scrollTo(0, 0);
  return out;
})())`

// qrFocus describes the focused element: which part of the editor it is
// in, whether it comes after the preview in the page, and where it is.
const qrFocus = `JSON.stringify((function(){
  var e = document.activeElement, form = document.querySelector("form.qr-editor");
  if (!e || !form.contains(e)) return {part: ""};
  var preview = document.getElementById("preview-title").closest("aside");
  var part = e.closest("section[aria-label=Name]") ? "name" :
    e.closest("section[aria-labelledby=content-title]") ? "content" :
    e.closest("section[aria-labelledby=design-title]") ? "design" :
    preview.contains(e) ? "preview" : "buttons";
  var b = e.getBoundingClientRect();
  return {part: part, what: e.id || e.name || e.textContent.trim(),
    afterPreview: !!(preview.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING),
    top: b.top + window.scrollY, bottom: b.bottom + window.scrollY};
})())`

// qrRank orders the editor's parts as a phone shows them.
var qrRank = map[string]int{"name": 0, "content": 1, "preview": 2, "design": 3, "buttons": 4}

type qrBox struct{ Top, Bottom, Left, Right float64 }

type qrStep struct {
	Part         string
	What         string
	AfterPreview bool
	Top, Bottom  float64
}

// TestBrowserQREditorOrder checks that the QR-code editor's page order,
// which is what a screen reader reads and what Tab walks, is the order a
// phone shows: the name, the content's fields, the preview, the design's
// fields, the buttons. At 320, 390 and 768 px the preview is drawn right
// after the content, before the design; at 1024 and 1440 px it is beside
// the fields, in view while the design is scrolled to. The new and the
// edit page are checked, and the new page with scripts off as well.
func TestBrowserQREditorOrder(t *testing.T) {
	ctx := newChromiumFor(t, 5*time.Minute)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond})
	base := s.URL
	bg := context.Background()
	svc := s.Node.Service

	const email, password = "owner@acme.test", "a long dashboard password"
	org, _, err := svc.CreateOrg(bg, service.NewOrg{Name: "Acme", OwnerEmail: email, Plan: "max", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	key, err := svc.CreateKeyWith(bg, snapglyph.Operator, org.ID, service.KeySpec{Name: "Production-WebApp"})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := apiCreateQR(t, base, key.Secret, `{"name":"Menu","type":"url","content":{"url":"https://example.com/menu"}}`)

	navigate(t, ctx, chromedp.Navigate(base+"/signin"))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#email"), email), chromedp.SendKeys(chromedp.CSS("#password"), password))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	for _, page := range []struct {
		name, path string
		noScript   bool
	}{
		{"new", "/qr-codes/new", false},
		{"edit", "/qr-codes/" + id + "/edit", false},
		{"new, scripts off", "/qr-codes/new", true},
	} {
		t.Run(page.name, func(t *testing.T) {
			navigate(t, ctx, chromedp.Navigate(base+page.path))
			for _, w := range qrOrderWidths {
				atWidth(t, ctx, w)
				if page.noScript {
					withoutScripts(t, ctx)
				}
				checkQROrder(t, ctx, w)
			}
			do(t, ctx, chromedp.EmulateViewport(1280, 900))
		})
	}
}

// withoutScripts loads the page again with scripts off, then turns
// them back on for the test's own (the page's stay unrun), and checks
// that app.js did not run: it would have hidden the other types' fields.
func withoutScripts(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, off := range []bool{true, false} {
		if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: off}); err != nil {
			t.Fatal(err)
		}
		if off {
			navigate(t, ctx, chromedp.Reload())
		}
	}
	run(t, ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("fieldset.type-fields[hidden]").length`)); n != 0 {
		t.Fatalf("with scripts off, %d of the types' fields were hidden by a script", n)
	}
}

// checkQROrder checks the editor the tab shows at width w.
func checkQROrder(t *testing.T, ctx context.Context, w int64) {
	t.Helper()
	phone := w < 820

	// What a screen reader meets: the sections' headings in the
	// accessibility tree.
	if got, want := strings.Join(qrHeadings(t, ctx), ", "), "Content, Preview, Design"; got != want {
		t.Errorf("at %d px the accessibility tree has the headings %s; want %s", w, got, want)
	}

	// Where Tab goes, from the name to past the buttons.
	do(t, ctx, chromedp.Focus(chromedp.CSS("#f-name")))
	var steps []qrStep
	for range 40 {
		var s qrStep
		evalJSON(t, ctx, qrFocus, &s)
		if s.Part == "" {
			break
		}
		steps = append(steps, s)
		do(t, ctx, chromedp.KeyEvent("\t"))
	}
	var walk []string
	for _, s := range steps {
		walk = append(walk, s.Part+":"+s.What)
	}
	seen := map[string]bool{}
	var misplaced []string
	for i, s := range steps {
		seen[s.Part] = true
		if i > 0 && qrRank[s.Part] < qrRank[steps[i-1].Part] {
			t.Errorf("at %d px Tab goes from the %s (%s) back to the %s (%s): %s", w, steps[i-1].Part, steps[i-1].What, s.Part, s.What, strings.Join(walk, " "))
		}
		// The preview between the content's fields and the design's.
		if after := qrRank[s.Part] > qrRank["preview"]; s.AfterPreview != after {
			misplaced = append(misplaced, fmt.Sprintf("the %s's %s (want %s)", s.Part, s.What, where(after)))
		}
		// One under another on a phone, Tab goes down the page.
		if phone && i > 0 && s.Top < steps[i-1].Top-1 {
			t.Errorf("at %d px Tab goes up the page, from %s (y=%.0f) to %s (y=%.0f)", w, steps[i-1].What, steps[i-1].Top, s.What, s.Top)
		}
	}
	if len(misplaced) > 0 {
		t.Errorf("at %d px, in the order Tab takes, the preview is not between the content's fields and the design's: %s", w, strings.Join(misplaced, ", "))
	}
	for _, part := range []string{"name", "content", "design", "buttons"} {
		if !seen[part] {
			t.Errorf("at %d px Tab never reaches the %s: %s", w, part, strings.Join(walk, " "))
		}
	}

	// Where the preview is drawn.
	var got struct {
		Name, Content, Preview, Design, Submit qrBox
		Seen                                   bool
	}
	evalJSON(t, ctx, qrBoxes, &got)
	if !got.Seen {
		t.Errorf("at %d px the preview, scrolled to, cannot be seen", w)
	}
	if phone {
		// Right after the content (and the last of its fields), before
		// the design.
		lastContent, firstDesign := qrBox{Bottom: got.Content.Bottom}, qrBox{Top: got.Design.Top}
		for i, s := range steps {
			if s.Part == "content" {
				lastContent.Bottom = s.Bottom
			}
			if s.Part == "design" && (i == 0 || steps[i-1].Part != "design") {
				firstDesign.Top = s.Top
			}
		}
		if got.Preview.Top < got.Content.Bottom || got.Preview.Top < lastContent.Bottom || got.Preview.Bottom > got.Design.Top || got.Preview.Bottom > firstDesign.Top {
			t.Errorf("at %d px the content ends at y=%.0f, the preview is at y=%.0f–%.0f, the design starts at y=%.0f; want the preview between them",
				w, got.Content.Bottom, got.Preview.Top, got.Preview.Bottom, got.Design.Top)
		}
		if got.Submit.Top < got.Design.Bottom {
			t.Errorf("at %d px the submit button (y=%.0f) is above the design's end (y=%.0f)", w, got.Submit.Top, got.Design.Bottom)
		}
		return
	}
	// Beside the fields, from their top, and in view while the design
	// is scrolled to.
	right := max(got.Name.Right, got.Content.Right, got.Design.Right)
	if got.Preview.Left < right || got.Preview.Top > got.Content.Top {
		t.Errorf("at %d px the preview (x=%.0f, y=%.0f) is not beside the fields (right edge x=%.0f, content at y=%.0f)", w, got.Preview.Left, got.Preview.Top, right, got.Content.Top)
	}
	frame := run(t, ctx, chromedp.Evaluate[string](`(function(){
	  document.getElementById("f-logo").scrollIntoView({block: "end"});
	  var b = document.querySelector("[data-preview-frame]").getBoundingClientRect();
	  var in_ = b.top >= 0 && b.bottom <= window.innerHeight;
	  window.scrollTo(0, 0);
	  return in_ ? "" : "y=" + Math.round(b.top) + "–" + Math.round(b.bottom) + " in a window " + window.innerHeight + " px high";
	})()`))
	if frame != "" {
		t.Errorf("at %d px, scrolled to the logo field, the preview is out of view: %s", w, frame)
	}
}

// where says "after" or "before".
func where(after bool) string {
	if after {
		return "after"
	}
	return "before"
}

// qrHeadings returns the names of the headings of the editor's sections
// (Content, Preview, Design) in the order of the accessibility tree,
// which is the order a screen reader reads them in.
func qrHeadings(t *testing.T, ctx context.Context) []string {
	t.Helper()
	tree, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[accessibility.NodeID]*accessibility.Node{}
	var root *accessibility.Node
	for _, n := range tree.Nodes {
		byID[n.NodeID] = n
		if n.ParentID == "" && root == nil {
			root = n
		}
	}
	if root == nil {
		t.Fatal("the accessibility tree has no root")
	}
	var names []string
	var walk func(n *accessibility.Node)
	walk = func(n *accessibility.Node) {
		if !n.Ignored && value(n.Role) == "heading" {
			switch name := value(n.Name); name {
			case "Content", "Preview", "Design":
				names = append(names, name)
			}
		}
		for _, c := range n.ChildIDs {
			if child := byID[c]; child != nil {
				walk(child)
			}
		}
	}
	walk(root)
	return names
}

// value is an accessibility value's string, or "".
func value(v *accessibility.Value) string {
	if v == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal([]byte(v.Value), &s); err != nil {
		return string(v.Value)
	}
	return s
}
