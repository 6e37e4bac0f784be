package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
	"github.com/snapglyph/snapglyph/internal/web"
)

var start = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// env is one node with the dashboard mounted the way serve mounts it:
// "/api/" and "/healthz" to the node, everything else to the dashboard.
type env struct {
	t     *testing.T
	db    *testdb.DB
	clock *testdb.Clock
	node  *node.Node
	svc   *service.Service
	srv   *httptest.Server
	dash  http.Handler // the dashboard alone
	logs  *testdb.Buffer
}

type envOption func(*web.Deps)

func signupClosed(d *web.Deps) { d.Signup = false }

func newEnv(t *testing.T, db *testdb.DB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, db: db, clock: testdb.NewClock(start), logs: &testdb.Buffer{}}
	db.Now = e.clock.Now
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	n, err := node.New(context.Background(), db.DB, node.Config{FlushInterval: 20 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	e.node, e.svc = n, n.Service
	n.Start()
	deps := web.Deps{Service: n.Service, Recorder: n.Recorder, Log: log, Signup: true}
	for _, o := range opts {
		o(&deps)
	}
	dash, err := web.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	e.dash = dash
	mux := http.NewServeMux()
	mux.Handle("/api/", n.Handler())
	mux.Handle("/healthz", n.Handler())
	mux.Handle("/", dash)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Close()
		n.Close()
	})
	deadline := time.Now().Add(5 * time.Second)
	for !n.Watcher.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the change watcher did not become ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e
}

// advance moves the test clock.
func (e *env) advance(d time.Duration) { e.clock.Set(e.clock.Now().Add(d)) }

const password = "correct horse battery"

// cheapHash is an argon2id hash of password with tiny parameters.
// CheckPassword reads the parameters from the hash, so signing in with it
// works as with a real one, without 64 MiB and a quarter of a second per
// check (the sign-up tests and the browser test use real hashes).
var cheapHash = func() string {
	salt := []byte("0123456789abcdef")
	sum := argon2.IDKey([]byte(password), salt, 1, 64, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=64,t=1,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(sum))
}()

// org creates an organisation on the plan with an Owner who has a
// password (as "snapglyph org create --password-stdin" does), and returns
// it with the Owner's email.
func (e *env) org(plan snapglyph.Plan) (*snapglyph.Org, string) {
	e.t.Helper()
	email := strings.ToLower(snapglyph.NewID("owner")) + "@acme.test"
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: plan}
	if plan == snapglyph.PlanTrial {
		org.TrialEndsAt = e.clock.Now().Add(snapglyph.TrialLength)
	}
	if _, err := e.db.CreateOrg(context.Background(), org, email, cheapHash); err != nil {
		e.t.Fatal(err)
	}
	return org, email
}

// member adds a user with a password to the organisation with the role,
// through an invitation, and returns the email.
func (e *env) member(org *snapglyph.Org, role snapglyph.Role) string {
	e.t.Helper()
	ctx := context.Background()
	email := strings.ToLower(snapglyph.NewID(string(role))) + "@acme.test"
	inv, err := e.svc.Invite(ctx, snapglyph.Operator, org.ID, email, string(role))
	if err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(inv.Token))
	if _, _, err := e.db.AcceptInvitation(ctx, hex.EncodeToString(sum[:]), snapglyph.Joiner{Name: "Test " + snapglyph.RoleName(role), PasswordHash: cheapHash}, -1); err != nil {
		e.t.Fatal(err)
	}
	return email
}

// browser is a cookie-keeping client that does not follow redirects and
// sends what a browser sends on a same-origin form post.
type browser struct {
	e      *env
	t      *testing.T
	client *http.Client
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{e: e, t: e.t, client: c}
}

// page is a response with its body read.
type page struct {
	*http.Response
	Body string
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	req.Header.Set("User-Agent", "Mozilla/5.0 (test browser)")
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &page{Response: resp, Body: string(body)}
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	req.Header.Set("Sec-Fetch-Site", "none")
	return b.do(req)
}

// post sends a form as a same-origin browser form post.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

// follow gets the page a redirect points to.
func (b *browser) follow(p *page) *page {
	b.t.Helper()
	if p.StatusCode != http.StatusSeeOther && p.StatusCode != http.StatusFound {
		b.t.Fatalf("status %d, want a redirect; body:\n%s", p.StatusCode, snippet(p.Body))
	}
	return b.get(p.Header.Get("Location"))
}

func (b *browser) signIn(email string) *page {
	b.t.Helper()
	p := b.post("/signin", url.Values{"email": {email}, "password": {password}})
	if p.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in %s: status %d\n%s", email, p.StatusCode, snippet(p.Body))
	}
	return p
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func expectStatus(t *testing.T, p *page, status int) {
	t.Helper()
	if p.StatusCode != status {
		t.Fatalf("status %d, want %d; body:\n%s", p.StatusCode, status, snippet(p.Body))
	}
}

func expectContains(t *testing.T, p *page, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if !strings.Contains(p.Body, s) {
			t.Errorf("the page does not contain %q:\n%s", s, snippet(p.Body))
		}
	}
}

func expectNotContains(t *testing.T, p *page, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(p.Body, s) {
			t.Errorf("the page contains %q", s)
		}
	}
}

// snippet is the visible text of an HTML page, shortened, for failure
// messages.
func snippet(body string) string {
	s := regexp.MustCompile(`(?s)<head>.*?</head>|<svg.*?</svg>`).ReplaceAllString(body, "")
	s = regexp.MustCompile(`<[^>]+>`).ReplaceAllString(s, " ")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 1500 {
		s = s[:1500] + "…"
	}
	return s
}

var keyPattern = regexp.MustCompile(`qr_live_[A-Za-z0-9]{32}`)

// createKey creates a key through the dashboard (confirming a generic
// name) and returns the secret shown once.
// reveal follows a create or roll form's redirect to the one-time reveal
// page; the redirect itself must not carry the key.
func (b *browser) reveal(p *page) *page {
	b.t.Helper()
	if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/settings/api/reveal/rvl_") {
		b.t.Fatalf("status %d to %q, want a redirect to the reveal; body:\n%s", p.StatusCode, p.Header.Get("Location"), snippet(p.Body))
	}
	if keyPattern.MatchString(p.Body) || keyPattern.MatchString(strings.Join(p.Header.Values("Location"), " ")+strings.Join(p.Header.Values("Set-Cookie"), " ")) {
		b.t.Fatal("the key is in the redirect")
	}
	r := b.follow(p)
	expectStatus(b.t, r, http.StatusOK)
	return r
}

func (b *browser) createKey(name string) string {
	b.t.Helper()
	p := b.reveal(b.post("/settings/api/keys", url.Values{"name": {name}, "confirm": {"generic"}}))
	k := keyPattern.FindString(p.Body)
	if k == "" {
		b.t.Fatalf("no key revealed:\n%s", snippet(p.Body))
	}
	return k
}

// keyID returns the id of the key row with the name on the API page.
func keyID(t *testing.T, body, name string) string {
	t.Helper()
	re := regexp.MustCompile(`<tr id="key-(key_[A-Za-z0-9]+)"[^>]*>\s*<th scope="row" class="key-name" data-label="Name">\s*<a id="key-link-key_[A-Za-z0-9]+" href="/settings/api/keys/key_[A-Za-z0-9]+">` + regexp.QuoteMeta(name) + `</a>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no key row named %q:\n%s", name, snippet(body))
	}
	return m[1]
}

// apiGet calls the REST API with a key.
func (e *env) apiGet(path, key string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// expectAPI checks that GET /api/v1/usage with the key answers the status
// and, when code is not empty, the problem code.
func expectAPI(t *testing.T, e *env, key string, status int, code string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/usage", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	body.Write(buf[:n])
	if resp.StatusCode != status || code != "" && !strings.Contains(body.String(), `"code":"`+code+`"`) {
		t.Errorf("API with the key: %d %s, want %d %s", resp.StatusCode, body.String(), status, code)
	}
}
