package server

import (
	"net/http"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// checkInput refuses, with 400 invalid_request naming the parameter, a
// request whose path values (the route's {id}…) or query parameters hold
// a NUL character or bytes that are not UTF-8 (sent as %00, %ff…): such
// text can never name anything and cannot be stored. It runs after
// authentication, so like any 400 the request counts as a call.
func (s *Server) checkInput(next apiHandler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		if err := requestText(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		next(w, r, p)
	}
}

// requestText checks the request's path values and query parameters with
// snapglyph.CheckText.
func requestText(r *http.Request) error {
	if err := snapglyph.CheckPathValues(r.Pattern, r.PathValue); err != nil {
		return err
	}
	return snapglyph.CheckEncoded(r.URL.RawQuery)
}
