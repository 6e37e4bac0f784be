package server

import (
	"net/http"
	"net/url"

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
	if !needsDecoding(r.URL.RawQuery) {
		return nil // plain ASCII without escapes: nothing to find
	}
	values, _ := url.ParseQuery(r.URL.RawQuery) // what parses is what handlers see
	return snapglyph.CheckValues(values)
}

// needsDecoding reports whether a raw query may decode to something other
// than printable ASCII: it has an escape or a byte outside it.
func needsDecoding(raw string) bool {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c == '%' || c < 0x20 || c >= 0x7f {
			return true
		}
	}
	return false
}
