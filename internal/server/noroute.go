package server

import (
	"net/http"
	"slices"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// methodsProbed are the methods tried when a path is served with another
// one, to fill the Allow header of a 405.
var methodsProbed = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// allowedMethods returns the methods the API serves at the request's path
// (nil when the path is not an endpoint at all), read from the route table
// through a mux of its own, so it follows the routes as they are.
func (s *Server) allowedMethods(r *http.Request) []string {
	var allow []string
	for _, m := range methodsProbed {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.routeTable.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		allow = append(allow, "OPTIONS")
	}
	return allow
}

// handleNoRoute answers requests under /api/ that no endpoint took.
func (s *Server) handleNoRoute(w http.ResponseWriter, r *http.Request) {
	allow := s.allowedMethods(r)
	if r.Method == http.MethodOptions {
		if r.Header.Get("Origin") != "" && r.Header.Get("Access-Control-Request-Method") != "" {
			// A browser asking whether a web page may call the API. API
			// keys are secrets: a page would hand the key to everyone who
			// opens it, so the answer is no, and says why.
			s.writeError(w, r, snapglyph.Codef(snapglyph.EFORBIDDEN, "cors_not_allowed",
				"the API does not accept calls from web pages (CORS): an API key in a browser is visible to everyone who opens the page; call the API from your server and keep the key there"))
			return
		}
		if allow == nil {
			s.writeError(w, r, errNoRoute(r))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if allow == nil {
		s.writeError(w, r, errNoRoute(r))
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.writeError(w, r, snapglyph.Errorf(snapglyph.EMETHOD, "%s is not served at %s; use %s",
		r.Method, snapglyph.LoggedPath(r.URL.Path), strings.Join(slices.DeleteFunc(slices.Clone(allow), func(m string) bool { return m == "HEAD" || m == "OPTIONS" }), ", ")))
}
