package web

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// contentSecurityPolicy allows only our own scripts, styles and images
// (and data: images), no inline script or style, no framing, and forms
// that post only to us.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// hstsValue is sent on every dashboard response that is secure (see
// secure): browsers then use HTTPS for the host for two years, including
// for a link typed as http://. It does not cover other subdomains (no
// includeSubDomains): they may not all have HTTPS.
const hstsValue = "max-age=63072000"

type secureKey struct{}

// markSecure decides once per request whether it is secure: it came over
// TLS, or through a trusted proxy that said X-Forwarded-Proto: https
// (the server marks those, snapglyph.ViaHTTPS), or the dashboard's
// public URL is https (TLS ends at a proxy in front of us). A secure
// request's cookies are Secure with the __Host- prefix, and its response
// carries Strict-Transport-Security.
func (a *app) markSecure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.publicHTTPS || r.TLS != nil || snapglyph.ViaHTTPS(r.Context()) {
			r = r.WithContext(context.WithValue(r.Context(), secureKey{}, true))
		}
		next.ServeHTTP(w, r)
	})
}

// secure reports whether markSecure found the request secure.
func secure(r *http.Request) bool {
	v, _ := r.Context().Value(secureKey{}).(bool)
	return v
}

// securityHeaders sets the headers every dashboard response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if secure(r) {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			// Pages may hold a key or an invitation link shown once: never
			// keep them in a cache or the back-forward history on disk.
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// crossOrigin answers a state-changing request that came from another
// site (http.CrossOriginProtection refused it).
func (a *app) crossOrigin(w http.ResponseWriter, r *http.Request) {
	a.renderError(w, r, http.StatusForbidden, "Request refused",
		"This form was sent from another website, so it was refused to protect your account. Open the page on SnapGlyph and try again.")
}

// Cookie names. On a secure request (see markSecure) a cookie takes the
// __Host- prefix, which makes the browser insist on Secure, Path=/ and no
// Domain, so a sibling subdomain cannot plant or overwrite it. Reading
// uses the same decision as writing, so the name read is the name set;
// a plain-named cookie is not read on a secure request (it could have
// been planted over HTTP or from a subdomain): after a deployment turns
// HTTPS on, users sign in once more.
const (
	cookieName  = "snapglyph_session"
	flashCookie = "snapglyph_flash"
	hostPrefix  = "__Host-"
)

// cookieNamed returns the name of the cookie base for the request.
func cookieNamed(r *http.Request, base string) string {
	if secure(r) {
		return hostPrefix + base
	}
	return base
}

// newCookie returns the cookie base for the request with the attributes
// every dashboard cookie has: Path=/, HttpOnly (no script reads it),
// SameSite=Lax (not sent on cross-site posts), and Secure on a secure
// request. maxAge < 0 deletes it.
func newCookie(r *http.Request, base, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: cookieNamed(r, base), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteLaxMode}
}

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(cookieNamed(r, cookieName))
	if err != nil {
		return ""
	}
	return c.Value
}

// setSessionCookie hands a new session's token to the browser, expiring
// with the session's absolute end (as a Max-Age, so a browser whose clock
// is off keeps it as long).
func (a *app) setSessionCookie(w http.ResponseWriter, r *http.Request, ns *service.NewSession) {
	http.SetCookie(w, newCookie(r, cookieName, ns.Token, max(1, int(ns.ExpiresAt.Sub(a.now()).Seconds()))))
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, newCookie(r, cookieName, "", -1))
}

type sessionKey struct{}

// reqSession is the signed-in user of a request.
type reqSession struct {
	*snapglyph.Session
	Token string
}

func sessionFrom(ctx context.Context) *reqSession {
	s, _ := ctx.Value(sessionKey{}).(*reqSession)
	return s
}

// loadSession resolves the session cookie once per request. An ended or
// expired session's cookie is cleared.
func (a *app) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		token := sessionToken(r)
		if token == "" {
			next.ServeHTTP(w, r)
			return
		}
		st, err := a.svc.Session(r.Context(), token)
		if err != nil {
			if snapglyph.ErrorKind(err) != snapglyph.EUNAUTHORIZED {
				a.fail(w, r, err)
				return
			}
			clearSessionCookie(w, r)
			next.ServeHTTP(w, r)
			return
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, &reqSession{Session: st, Token: token})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// signedIn serves h to signed-in users and sends others to the sign-in
// page, which brings them back afterwards.
func (a *app) signedIn(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessionFrom(r.Context()) == nil {
			// The path with its query (a filtered list stays filtered);
			// safeNext checks it again when it comes back.
			next := safeNext(r.URL.RequestURI())
			if r.Method != http.MethodGet {
				next = ""
			}
			target := "/signin"
			if next != "" {
				target += "?next=" + url.QueryEscape(next)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		h(w, r)
	})
}

// roles serves h to signed-in users with one of the roles, and answers
// the others 403.
func (a *app) roles(allowed ...snapglyph.Role) func(http.HandlerFunc) http.Handler {
	return func(h http.HandlerFunc) http.Handler {
		return a.signedIn(func(w http.ResponseWriter, r *http.Request) {
			s := sessionFrom(r.Context())
			if !slices.Contains(allowed, s.Role) {
				a.forbidden(w, r)
				return
			}
			h(w, r)
		})
	}
}

// maxNext is the longest next a sign-in carries.
const maxNext = 2048

// safeNext returns next if it is a path on this site, and "" otherwise, so
// the sign-in page cannot be used to redirect elsewhere. A backslash in
// the path is refused: browsers read it as a slash, and http.Redirect
// cleans the path, so "/./\evil.example" would become "/\evil.example",
// i.e. //evil.example. (The site's own paths hold none; a query may.)
// A next that is not UTF-8 or longer than maxNext is no page of the
// site's either (its own come escaped, and short).
func safeNext(next string) string {
	path, _, _ := strings.Cut(next, "?")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(path, "\\") || strings.ContainsAny(next, "\r\n") ||
		len(next) > maxNext || !utf8.ValidString(next) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return next
}

// clientIP is the address the request came from. No forwarding header is
// trusted: a proxy in front must be configured to pass the address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func client(r *http.Request) service.Client {
	return service.Client{IP: clientIP(r), UserAgent: r.UserAgent()}
}

// actor is the signed-in user as the actor of a management action.
func actor(r *http.Request) snapglyph.Actor {
	return sessionFrom(r.Context()).Actor(clientIP(r))
}

// flash is a one-line message shown on the next page after a redirect. It
// never holds a secret (keys and invitation links are shown in the
// response that creates them, never carried across a redirect).
type flash struct {
	Kind string // "success" or "error"
	Text string
}

func setFlash(w http.ResponseWriter, r *http.Request, kind, text string) {
	http.SetCookie(w, newCookie(r, flashCookie, kind+":"+url.QueryEscape(text), 60))
}

// takeFlash reads and clears the flash message.
func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(cookieNamed(r, flashCookie))
	if err != nil {
		return nil
	}
	http.SetCookie(w, newCookie(r, flashCookie, "", -1))
	kind, text, ok := strings.Cut(c.Value, ":")
	if !ok || (kind != "success" && kind != "error") {
		return nil
	}
	t, err := url.QueryUnescape(text)
	if err != nil || t == "" || len(t) > 500 {
		return nil
	}
	return &flash{Kind: kind, Text: t}
}

// redirectWith answers a form post with 303 to path and a flash message.
func redirectWith(w http.ResponseWriter, r *http.Request, path, kind, text string) {
	setFlash(w, r, kind, text)
	http.Redirect(w, r, path, http.StatusSeeOther)
}
