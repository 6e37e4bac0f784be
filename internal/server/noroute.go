package server

import (
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// NoRoute is the route the request log names for a request under /api/
// at a path that is no endpoint's: a fixed label, never the path, which is
// the client's text (of any length and any bytes, perhaps a key). A
// method a path is not served with is logged with the path's route.
const NoRoute = "unmatched"

// methodsProbed are the methods tried when a path is served with another
// one, to fill the Allow header of a 405.
var methodsProbed = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// allowedMethods returns the methods the API serves at the request's path
// (nil when the path is not an endpoint at all) and the path's route
// template, read from the route table through a mux of its own, so it
// follows the routes as they are.
func (s *Server) allowedMethods(r *http.Request) (allow []string, route string) {
	for _, m := range methodsProbed {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.routeTable.Handler(probe); pattern != "" {
			allow = append(allow, m)
			if route == "" {
				_, route, _ = strings.Cut(pattern, " ") // "GET /api/v1/usage"
			}
		}
	}
	if len(allow) > 0 {
		allow = append(allow, "OPTIONS")
	}
	return allow, route
}

// handleNoRoute answers requests under /api/ that no endpoint took.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	allow, route := s.allowedMethods(r)
	s.answerNoRoute(w, r, allow, route, errNoRoute)
}

// answerNoRoute answers a request under /api/ that no endpoint serves:
// allow lists the methods its path is served with (nil: none) and route
// is the path's route template; notFound makes the 404. A browser's CORS
// preflight is refused first. Any other request that sends an
// Authorization header has its key checked as every endpoint checks it
// (authenticate): a refused key gets its 401, 403 or 429 as anywhere, and
// a request with a key of an organisation is in its request log, so a
// leaked or revoked key probing the API leaves a trace. Nothing is
// charged. Without the header the answer is the 404 or 405 alone: an
// unknown path is not turned into a 401.
func (s *Server) answerNoRoute(w http.ResponseWriter, r *http.Request, allow []string, route string, notFound func(*http.Request) error) {
	if r.Method == http.MethodOptions && httpx.HasField(r, "Origin") && httpx.HasField(r, "Access-Control-Request-Method") {
		// A browser asking whether a web page may call the API. API
		// keys are secrets: a page would hand the key to everyone who
		// opens it, so the answer is no, and says why.
		s.writeError(w, r, snapglyph.Codef(snapglyph.EFORBIDDEN, "cors_not_allowed",
			"the API does not accept calls from web pages (CORS): an API key in a browser is visible to everyone who opens the page; call the API from your server and keep the key there"))
		return
	}
	// The API document is public: another method there is answered 405
	// whatever key comes with it, as its operation declares.
	if len(r.Header.Values("Authorization")) > 0 && route != "/api/v1/openapi.json" {
		in := infoFrom(r.Context())
		if in != nil {
			in.route = NoRoute
			if allow != nil {
				in.route = route
			}
		}
		if _, _, _, ok := s.authenticate(w, r, in); !ok {
			return
		}
		s.verifyCount("valid")
	}
	if allow == nil {
		s.writeError(w, r, notFound(r))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.writeError(w, r, snapglyph.Errorf(snapglyph.EMETHOD, "%s is not served at %s; use %s",
		loggedMethod(r.Method), snapglyph.LoggedPath(r.URL.Path), strings.Join(slices.DeleteFunc(slices.Clone(allow), func(m string) bool { return m == "HEAD" || m == "OPTIONS" }), ", ")))
}

// apiPathsAsSent serves next, except for a path under /api/ that is not
// in its clean form (an empty segment, "." or ".."; /api/v1//qr-codes,
// /api/v1/qr-codes/x/../qr_abc). net/http's mux would answer it with a
// 307 redirect to the cleaned path, an HTML page; the API answers it 404
// not_found as a problem, as any path that is no endpoint's, so a client
// learns its URL is wrong and does not follow a redirect with its key.
// The dashboard's paths keep the mux's redirect.
func (s *Server) apiPathsAsSent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux's test, the escaped path against its cleaned form, and
		// the same of the decoded path: %2e%2e and %2F are dot segments
		// and slashes once decoded. Under /api/ a CONNECT is held to it
		// too (the mux leaves CONNECT's path alone).
		p, d := r.URL.EscapedPath(), r.URL.Path
		c, cd := cleanPath(p), cleanPath(d)
		if (c != p || cd != d) && (strings.HasPrefix(p, "/api/") || strings.HasPrefix(c, "/api/") || strings.HasPrefix(cd, "/api/")) {
			s.answerNoRoute(w, r, nil, "", errUncleanPath)
			return
		}
		if d == "/api" { // the mux would redirect it to /api/
			s.answerNoRoute(w, r, nil, "", errNoRoute)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isAPIPath reports whether p, cleaned, is /api or under it.
func isAPIPath(p string) bool {
	c := cleanPath(p)
	return c == "/api" || strings.HasPrefix(c, "/api/")
}

// cleanPath is p as the mux would clean it: rooted, without empty, "."
// or ".." segments, a trailing slash kept. A clean path without a
// trailing slash comes back as it is, without allocating.
func cleanPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	c := path.Clean(p)
	if c != "/" && strings.HasSuffix(p, "/") {
		c += "/"
	}
	return c
}

// errUncleanPath is the 404 of a path under /api/ that is not in its
// clean form. It names the cleaned path (bounded and without secrets, as
// LoggedPath makes it), not the path as sent.
func errUncleanPath(r *http.Request) error {
	return snapglyph.Errorf(snapglyph.ENOTFOUND, "no API endpoint %s at a path with an empty segment (//), \".\" or \"..\": the API does not resolve them; send the path in its plain form (%s once cleaned); see /api/v1/openapi.json",
		loggedMethod(r.Method), snapglyph.LoggedPath(r.URL.Path))
}
