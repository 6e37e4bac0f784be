package server

import "net/http"

// PanickingAPI is an API endpoint whose handler panics, as a bug would:
// for the tests of what a panicking request still counts.
func (s *Server) PanickingAPI() http.Handler {
	return s.requireAPIKey(nil, func(w http.ResponseWriter, r *http.Request, p *principal) { panic("a handler bug") })
}
