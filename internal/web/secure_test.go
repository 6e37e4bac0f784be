package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// secureEnv is a whole node (API, dashboard, proxy handling) configured
// as serve configures it, on a real listener, with an Owner who can sign
// in.
type secureEnv struct {
	t     *testing.T
	url   string
	email string
}

func newSecureEnv(t *testing.T, cfg node.Config) *secureEnv {
	t.Helper()
	db := testdb.Open(t, "sqlite")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.FlushInterval = 20 * time.Millisecond
	n, err := node.New(context.Background(), db.DB, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	srv := httptest.NewServer(n.Handler()) // 127.0.0.1
	t.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	email := strings.ToLower(snapglyph.NewID("owner")) + "@acme.test"
	org := &snapglyph.Org{ID: snapglyph.NewID("org"), Name: "Acme", Plan: snapglyph.PlanPro}
	if _, err := db.CreateOrg(context.Background(), org, email, cheapHash); err != nil {
		t.Fatal(err)
	}
	return &secureEnv{t: t, url: srv.URL, email: email}
}

// send makes one request with the headers and cookies given, following
// no redirect, and returns the response (body closed).
func (e *secureEnv) send(method, path string, form url.Values, header map[string]string, cookies ...*http.Cookie) *http.Response {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// signIn signs the Owner in and returns the response.
func (e *secureEnv) signIn(header map[string]string) *http.Response {
	e.t.Helper()
	resp := e.send("POST", "/signin", url.Values{"email": {e.email}, "password": {password}}, header)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/qr-codes" {
		e.t.Fatalf("sign in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return resp
}

func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// expectSecureCookie checks that resp sets the cookie with the __Host-
// prefix and the attributes the prefix requires, and no plain one.
func expectSecureCookie(t *testing.T, resp *http.Response, base string) *http.Cookie {
	t.Helper()
	c := cookieOf(resp, "__Host-"+base)
	if c == nil {
		t.Fatalf("no __Host-%s cookie in %v", base, resp.Cookies())
	}
	if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %s: Secure %v HttpOnly %v Path %q Domain %q SameSite %v", c.Name, c.Secure, c.HttpOnly, c.Path, c.Domain, c.SameSite)
	}
	if cookieOf(resp, base) != nil {
		t.Errorf("a plain %s cookie was set as well", base)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
		t.Errorf("Strict-Transport-Security %q, want max-age=63072000", got)
	}
	return c
}

// expectPlainCookie checks that resp sets the cookie without Secure or
// prefix, and no HSTS.
func expectPlainCookie(t *testing.T, resp *http.Response, base string) *http.Cookie {
	t.Helper()
	c := cookieOf(resp, base)
	if c == nil || c.Secure || cookieOf(resp, "__Host-"+base) != nil {
		t.Fatalf("cookies %v, want a plain %s", resp.Cookies(), base)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("Strict-Transport-Security %q on a plain HTTP request", got)
	}
	return c
}

// expectSignedIn checks whether the request with the cookie reaches a
// signed-in page.
func (e *secureEnv) expectSignedIn(want bool, header map[string]string, c *http.Cookie) {
	e.t.Helper()
	resp := e.send("GET", "/settings/api", nil, header, c)
	if got := resp.StatusCode == http.StatusOK; got != want {
		e.t.Errorf("GET /settings/api with cookie %s: %d %s, signed in %v, want %v", c.Name, resp.StatusCode, resp.Header.Get("Location"), got, want)
	}
}

// TestSecureBehindTrustedProxy: TLS ends at a load balancer that says
// X-Forwarded-Proto: https; the node sets Secure __Host- cookies (session
// and flash) and HSTS, and reads the cookie it set.
func TestSecureBehindTrustedProxy(t *testing.T) {
	e := newSecureEnv(t, node.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	proxied := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
	session := expectSecureCookie(t, e.signIn(proxied), "snapglyph_session")
	e.expectSignedIn(true, proxied, session)
	// The same token under the plain name is not read on a secure request.
	e.expectSignedIn(false, proxied, &http.Cookie{Name: "snapglyph_session", Value: session.Value})

	resp := e.send("POST", "/signout", url.Values{}, proxied, session)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	flash := expectSecureCookie(t, resp, "snapglyph_flash")
	if cleared := cookieOf(resp, "__Host-snapglyph_session"); cleared == nil || cleared.MaxAge >= 0 || !cleared.Secure {
		t.Errorf("sign out does not clear the __Host- session cookie: %v", resp.Cookies())
	}
	// The flash cookie is read (and cleared) under the name it was set.
	resp = e.send("GET", "/signin", nil, proxied, flash)
	if c := cookieOf(resp, "__Host-snapglyph_flash"); c == nil || c.MaxAge >= 0 {
		t.Errorf("the flash was not taken: %v", resp.Cookies())
	}
	e.expectSignedIn(false, proxied, session)

	// The proxy forwarding plain HTTP: nothing secure.
	plain := map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.9"}
	expectPlainCookie(t, e.signIn(plain), "snapglyph_session")
}

// TestSecureHeaderFromUntrustedClient: X-Forwarded-Proto from a client
// that is not a trusted proxy changes nothing.
func TestSecureHeaderFromUntrustedClient(t *testing.T) {
	for name, cfg := range map[string]node.Config{
		"no trusted proxies":      {},
		"another proxy trusted":   {TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
		"an http public URL only": {PublicURL: "http://qr.example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newSecureEnv(t, cfg)
			spoofed := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-For": "10.1.1.1"}
			session := expectPlainCookie(t, e.signIn(spoofed), "snapglyph_session")
			e.expectSignedIn(true, spoofed, session)
			e.expectSignedIn(false, spoofed, &http.Cookie{Name: "__Host-snapglyph_session", Value: session.Value})
		})
	}
}

// TestSecurePublicURL: with an https public URL every request is secure,
// even though it reaches the node over plain HTTP from the proxy.
func TestSecurePublicURL(t *testing.T) {
	e := newSecureEnv(t, node.Config{PublicURL: "https://qr.example.com"})
	session := expectSecureCookie(t, e.signIn(nil), "snapglyph_session")
	e.expectSignedIn(true, nil, session)
	e.expectSignedIn(false, nil, &http.Cookie{Name: "snapglyph_session", Value: session.Value})
	if got := e.send("GET", "/signin", nil, nil).Header.Get("Strict-Transport-Security"); got != "max-age=63072000" {
		t.Errorf("sign-in page: Strict-Transport-Security %q", got)
	}
}
