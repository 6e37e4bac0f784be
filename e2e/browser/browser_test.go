package browser_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/testserver"
)

// chromiumPath is Debian's chromium (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// browserEnv names the variable that makes a missing browser a failure.
const browserEnv = "SNAPGLYPH_TEST_BROWSER"

// screenshotsEnv names the directory the screenshots are saved to.
const screenshotsEnv = "SNAPGLYPH_SCREENSHOTS"

// newChromium starts a headless chromium with a fresh profile and returns
// a tab's context. It skips the test, saying why, when chromium is not
// installed, unless SNAPGLYPH_TEST_BROWSER=1.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	return newChromiumFor(t, 5*time.Minute)
}

// newChromiumFor is newChromium with its bound on the whole session.
func newChromiumFor(t *testing.T, bound time.Duration) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv(browserEnv) == "1" {
			t.Fatalf("%s=1 but %s is missing: apt-get install -y chromium", browserEnv, chromiumPath)
		}
		t.Skipf("browser test skipped: %s is missing (apt-get install -y chromium; set %s=1 to make this a failure)", chromiumPath, browserEnv)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	// A bound that catches a hung browser, not a speed check: under the
	// race detector on two busy cores the session takes over 2 minutes.
	ctx, cancelTime := context.WithTimeout(ctx, bound)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs browser actions and fails the test on error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// navigate runs the steps (a click on a link or a submit button, or a
// navigation) and waits for the page they load; it returns its status.
func navigate(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) int64 {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status
}

func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the viewport at width×height (mobile emulation for
// phone widths) as dir/name.png.
func screenshot(t *testing.T, ctx context.Context, dir, name string, width, height int64, phone bool) {
	t.Helper()
	var vp chromedp.Action[chromedp.Void]
	if phone {
		vp = chromedp.EmulateViewport(width, height, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	} else {
		vp = chromedp.EmulateViewport(width, height)
	}
	do(t, ctx, vp)
	// From the top of the page (a full-page picture of a scrolled page
	// shows the sticky sidebar where the scroll left it), once the page
	// has laid out and painted at the new size: two animation frames
	// later (rather than sleeping and hoping).
	run(t, ctx, chromedp.Evaluate[bool](`new Promise(r => { window.scrollTo(0, 0); requestAnimationFrame(() => requestAnimationFrame(() => r(true))); })`, chromedp.EvalAwaitPromise))
	png := run(t, ctx, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return run(t, ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// TestBrowser drives the dashboard in a real browser: sign up, create a key
// and use it over HTTP, pause and resume it, create a QR code with the live
// preview and find one made over the API by filtering by the key, revoke the
// key in the UI, and invite a Member who then has no API Settings.
func TestBrowser(t *testing.T) {
	ctx := newChromium(t)
	s := testserver.Start(t, testdb.Open(t, "sqlite"), node.Config{FlushInterval: 20 * time.Millisecond})
	base := s.URL
	shots := screenshotDir(t)

	// Sign up: a new organisation on the Pro trial, with us as Owner.
	status := navigate(t, ctx, chromedp.Navigate(base+"/signup"))
	if status != http.StatusOK {
		t.Fatalf("GET /signup: %d", status)
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#name"), "Ada Lovelace"),
		chromedp.SendKeys(chromedp.CSS("#org"), "Analytical Engines"),
		chromedp.SendKeys(chromedp.CSS("#email"), "ada@engines.test"),
		chromedp.SendKeys(chromedp.CSS("#password"), "difference engine no. 2"),
	)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	if loc := run(t, ctx, chromedp.Location()); !strings.HasSuffix(loc, "/qr-codes") {
		t.Fatalf("after sign-up the browser is at %s", loc)
	}

	// API Settings, from the sidebar.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href="/settings/api"]`)))
	if h := text(t, ctx, "h1"); h != "API Keys" {
		t.Fatalf("API Settings heading %q", h)
	}
	if got := text(t, ctx, ".meter-num"); !strings.Contains(got, "/ 1,000") {
		t.Errorf("the usage card shows %q, want the Pro trial's 1,000 calls", got)
	}

	// Create API Key: the dialog, a name, and the key revealed once.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/settings/api/keys/new"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("dialog #key-name")))
	if got := text(t, ctx, "dialog .naming"); !strings.Contains(got, "Zapier-Integration") || !strings.Contains(got, "Key 1") {
		t.Errorf("the create dialog lacks the naming advice: %q", got)
	}
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#key-name"), "Production-WebApp"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	do(t, ctx, chromedp.WaitVisible(chromedp.CSS("#new-key")))
	key := run(t, ctx, chromedp.Value(chromedp.CSS("#new-key")))
	if !keyPattern.MatchString(key) {
		t.Fatalf("the reveal dialog shows %q, not a key", key)
	}
	if w := text(t, ctx, "#reveal-warning"); !strings.Contains(w, "won't be able to see it again") {
		t.Errorf("reveal warning %q", w)
	}
	// The copy button appears with JavaScript and says what it did.
	do(t, ctx, chromedp.Click(chromedp.CSS(`button[data-copy="new-key"]`), chromedp.NodeVisible))
	run(t, ctx, chromedp.Poll[bool](`document.getElementById("copy-status").textContent.length > 0`))
	screenshot(t, ctx, shots, "api-settings-key-created-desktop", 1280, 900, false)

	// The key works over HTTP.
	expectAPI(t, base, key, http.StatusOK, "")

	// Leaving the dialog loses the key: the page shows only its prefix.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog a.btn-primary`)))
	html := run(t, ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, key) {
		t.Fatal("the API page still contains the key after the dialog was left")
	}
	if !strings.Contains(html, key[:12]+"...") {
		t.Errorf("the API page does not show the prefix %s...", key[:12])
	}
	screenshot(t, ctx, shots, "api-settings-desktop", 1280, 900, false)
	screenshot(t, ctx, shots, "api-settings-phone", 390, 844, true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	row := `tr:has(th.key-name)`
	// Pause in the UI: the API refuses the key, the row says Paused.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Pause Production-WebApp"]`)))
	if s := text(t, ctx, row+" .pill"); s != "Paused" {
		t.Errorf("paused key's status %q, want Paused", s)
	}
	expectAPI(t, base, key, http.StatusUnauthorized, "api_key_paused")

	// Resume.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Re-enable Production-WebApp"]`)))
	if s := text(t, ctx, row+" .pill"); s != "Active" {
		t.Errorf("resumed key's status %q, want Active", s)
	}
	expectAPI(t, base, key, http.StatusOK, "")

	// Logs: the three requests above; the one refused while the key was
	// paused leads the suspicious activity (entries are written within
	// half a second, so the page is read again until it shows them).
	var flagged string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		navigate(t, ctx, chromedp.Navigate(base+"/settings/logs"))
		flagged = run(t, ctx, chromedp.Evaluate[string](`(document.querySelector(".flagged li") || {}).textContent || ""`))
		if flagged != "" && run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr[id^='req-']").length`)) == 3 || time.Now().After(deadline) {
			break
		}
	}
	if f := strings.Join(strings.Fields(flagged), " "); !strings.Contains(f, "Production-WebApp") || !strings.Contains(f, "401") || !strings.Contains(f, "key paused") {
		t.Errorf("the first suspicious request on the Logs page reads %q, want the key's 401 while paused", f)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr[id^='req-']").length`)); n != 3 {
		t.Errorf("the Logs page lists %d requests, want the 3 made", n)
	}
	screenshot(t, ctx, shots, "logs-desktop", 1280, 1200, false)
	screenshot(t, ctx, shots, "logs-phone", 390, 844, true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	// QR Codes: create one in the dashboard, with the live preview.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href="/qr-codes"]`)))
	if h := text(t, ctx, "h1"); h != "QR Codes" {
		t.Fatalf("QR Codes heading %q", h)
	}
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`.page-head a[href="/qr-codes/new"]`)))
	preview := func() string {
		return run(t, ctx, chromedp.Evaluate[string](`document.getElementById("qr-preview").getAttribute("src") || ""`))
	}
	waitPreview := func(old string) string {
		t.Helper()
		run(t, ctx, chromedp.Poll[bool](`(function(){var s=document.getElementById("qr-preview").getAttribute("src")||"";`+
			`return s.indexOf("data:image/svg+xml")===0 && s!==`+strconv.Quote(old)+`;})()`, chromedp.WithPollingTimeout(10*time.Second)))
		return preview()
	}
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-name"), "Engine Room Wi-Fi"),
		chromedp.SendKeys(chromedp.CSS("#f-url-url"), "https://engines.test/menu"),
	)
	first := waitPreview("")
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#f-url-url"), "/spring"))
	second := waitPreview(first)
	// Switching the type shows its fields at once, and the preview says
	// what is missing.
	do(t, ctx, chromedp.Click(chromedp.CSS(`label[for="type-wifi"]`)), chromedp.WaitVisible(chromedp.CSS("#f-wifi-ssid")))
	if hidden := run(t, ctx, chromedp.Evaluate[bool](`document.getElementById("fields-url").hidden && document.getElementById("fields-url").disabled`)); !hidden {
		t.Error("the URL fields are still shown after choosing Wi-Fi")
	}
	run(t, ctx, chromedp.Poll[bool](`document.getElementById("preview-status").textContent.indexOf("Network name (SSID) is required") >= 0`, chromedp.WithPollingTimeout(10*time.Second)))
	do(t, ctx,
		chromedp.SendKeys(chromedp.CSS("#f-wifi-ssid"), "Engine Room"),
		chromedp.SendKeys(chromedp.CSS("#f-wifi-password"), "difference-engine"),
	)
	waitPreview(second)
	if s := text(t, ctx, "#preview-status"); s != "" {
		t.Errorf("preview status %q for a valid form", s)
	}
	screenshot(t, ctx, shots, "qr-code-new-desktop", 1280, 900, false)
	screenshot(t, ctx, shots, "qr-code-new-phone", 390, 844, true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form.qr-editor button[type="submit"]`)))
	if h := text(t, ctx, "h1"); h != "Engine Room Wi-Fi" {
		t.Fatalf("after creating, the page heading is %q", h)
	}
	if p := text(t, ctx, ".payload"); p != "WIFI:T:WPA;S:Engine Room;P:difference-engine;;" {
		t.Errorf("payload %q", p)
	}
	screenshot(t, ctx, shots, "qr-code-detail-desktop", 1280, 900, false)
	screenshot(t, ctx, shots, "qr-code-detail-phone", 390, 844, true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	// A QR code made over the API with the key: filtering the list by the
	// key finds it, with the key's name and prefix.
	qrID, keyID := apiCreateQR(t, base, key, `{"name":"Spring Menu","type":"url","content":{"url":"https://engines.test/menu/spring"}}`)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href="/qr-codes"]`)))
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#filter-key"), keyID))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
	if loc := run(t, ctx, chromedp.Location()); !strings.Contains(loc, "createdByKey="+keyID) {
		t.Errorf("after filtering the browser is at %s", loc)
	}
	listed := text(t, ctx, "table.qrcodes")
	if !strings.Contains(listed, "Spring Menu") || !strings.Contains(listed, "Production-WebApp") || !strings.Contains(listed, key[:12]+"...") ||
		strings.Contains(listed, "Engine Room Wi-Fi") {
		t.Errorf("the list filtered by the key reads %q", listed)
	}
	if n := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#qr-`+qrID+`").length`)); n != 1 {
		t.Errorf("row of %s: %d", qrID, n)
	}
	screenshot(t, ctx, shots, "qr-codes-filtered-desktop", 1280, 900, false)
	navigate(t, ctx, chromedp.Navigate(base+"/qr-codes"))
	screenshot(t, ctx, shots, "qr-codes-desktop", 1280, 900, false)
	screenshot(t, ctx, shots, "qr-codes-phone", 390, 844, true)
	do(t, ctx, chromedp.EmulateViewport(1280, 900))
	navigate(t, ctx, chromedp.Navigate(base+"/settings/api"))

	// Revoke through the confirmation.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[aria-label="Revoke Production-WebApp"]`)))
	if h := text(t, ctx, "#revoke-title"); h != "Revoke Production-WebApp?" {
		t.Errorf("revoke dialog title %q", h)
	}
	if d := text(t, ctx, "#revoke-desc"); !strings.Contains(d, "immediately") || !strings.Contains(d, "cannot be undone") {
		t.Errorf("revoke dialog text %q", d)
	}
	screenshot(t, ctx, shots, "api-settings-revoke-desktop", 1280, 900, false)
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button.btn-danger`)))
	expectAPI(t, base, key, http.StatusUnauthorized, "api_key_revoked")
	if html := run(t, ctx, chromedp.OuterHTML(chromedp.CSS("main"))); strings.Contains(html, "Production-WebApp</th>") {
		t.Error("the revoked key is still listed")
	}

	// Invite a Member from the Company page.
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`nav a[href="/settings/company"]`)))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`a[href="/settings/company/invite"]`)))
	do(t, ctx, chromedp.SendKeys(chromedp.CSS("#invite-email"), "grace@engines.test"))
	navigate(t, ctx, chromedp.Click(chromedp.CSS(`dialog button[type="submit"]`)))
	link := run(t, ctx, chromedp.Value(chromedp.CSS("#invite-link")))
	if !strings.HasPrefix(link, base+"/invite/") {
		t.Fatalf("invitation link %q", link)
	}
	screenshot(t, ctx, shots, "company-invite-link-desktop", 1280, 900, false)

	// The invitee, in a second browser context (own cookies), joins.
	guest, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	if s := navigate(t, guest, chromedp.Navigate(link)); s != http.StatusOK {
		t.Fatalf("invitation link: %d", s)
	}
	do(t, guest,
		chromedp.SendKeys(chromedp.CSS("#name"), "Grace Hopper"),
		chromedp.SendKeys(chromedp.CSS("#password"), "a compiler of one's own"),
	)
	navigate(t, guest, chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	nav := text(t, guest, "nav")
	if strings.Contains(nav, "API Settings") || !strings.Contains(nav, "QR Codes") {
		t.Errorf("a Member's sidebar reads %q; want QR Codes and no API Settings", nav)
	}
	if s := navigate(t, guest, chromedp.Navigate(base+"/settings/api")); s != http.StatusForbidden {
		t.Errorf("a Member opening /settings/api: %d, want 403", s)
	}
	screenshot(t, guest, shots, "member-forbidden-phone", 390, 844, true)

	// The Owner sees the new member.
	navigate(t, ctx, chromedp.Navigate(base+"/settings/company"))
	if got := text(t, ctx, "table.members"); !strings.Contains(got, "grace@engines.test") {
		t.Errorf("the members table lacks the new member: %q", got)
	}
	screenshot(t, ctx, shots, "company-desktop", 1280, 900, false)
	navigate(t, ctx, chromedp.Navigate(base+"/settings/audit"))
	screenshot(t, ctx, shots, "audit-desktop", 1280, 900, false)
	t.Logf("screenshots in %s", shots)
}

// keyPattern is a whole API key, as DESIGN.md defines it.
var keyPattern = regexp.MustCompile(`^qr_live_[A-Za-z0-9]{32}$`)

// callAPI sends a request to the REST API with the key and returns the
// status and the body.
func callAPI(t *testing.T, base, method, path, key, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// apiCreateQR creates a QR code over the API with the key and returns its
// id and the id of the key that created it.
func apiCreateQR(t *testing.T, base, key, body string) (id, keyID string) {
	t.Helper()
	status, b := callAPI(t, base, "POST", "/api/v1/qr-codes", key, body)
	var out struct {
		ID        string `json:"id"`
		CreatedBy struct {
			ID string `json:"id"`
		} `json:"createdBy"`
	}
	if err := json.Unmarshal(b, &out); err != nil || status != http.StatusCreated {
		t.Fatalf("POST /api/v1/qr-codes: %d %v %s", status, err, b)
	}
	return out.ID, out.CreatedBy.ID
}

// expectAPI checks that GET /api/v1/usage with the key answers the status
// and, for an error, the problem's code.
func expectAPI(t *testing.T, base, key string, status int, code string) {
	t.Helper()
	got, b := callAPI(t, base, "GET", "/api/v1/usage", key, "")
	var problem struct {
		Code string `json:"code"`
	}
	if code != "" {
		json.Unmarshal(b, &problem)
	}
	if got != status || problem.Code != code {
		t.Errorf("API with the key: %d %s, want %d %s", got, b, status, code)
	}
}
