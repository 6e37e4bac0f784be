package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// checkInput refuses, with 400 invalid_request naming the parameter, a
// request whose path values (the route's {id}…) or query parameters hold
// a NUL character or bytes that are not UTF-8 (sent as %00, %ff…): such
// text can never name anything and cannot be stored. A path value, an
// id, is refused too for a control or invisible character (%E2%80%AE, a
// right-to-left override; %E2%80%8B, a zero-width space): no id holds
// one. It runs after authentication, so like any 400 the request counts
// as a call.
func (s *Server) checkInput(next apiHandler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, p *principal) {
		if err := requestText(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		next(w, r, p)
	}
}

// checkPublicInput is checkInput for a route that takes no key (the API
// document): the same refusals, counted nowhere.
func (s *Server) checkPublicInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := requestText(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requestText checks the request's path values with snapglyph.CheckID
// and its query parameters with snapglyph.CheckText, then that each query
// parameter is one the operation takes, given once.
func requestText(r *http.Request) error {
	if err := snapglyph.CheckPathIDs(r.Pattern, r.PathValue); err != nil {
		return err
	}
	if err := snapglyph.CheckEncoded(r.URL.RawQuery); err != nil {
		return err
	}
	if err := checkQueryNames(r.Pattern, r.URL.RawQuery); err != nil {
		return err
	}
	return checkNoBody(r)
}

// checkNoBody refuses a request body sent to an operation that takes
// none (GET, HEAD, DELETE: every operation of the API document without a
// requestBody): it would be dropped unread, and a client that sent
// {"period":"2026-10"} to /usage would take this month's figures for the
// ones it asked for. An empty body (Content-Length: 0, or a chunked body
// with no data) is no body. A chunked body is read for its first byte
// only; what follows is left to the server to discard.
func checkNoBody(r *http.Request) error {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody || operations()[r.Pattern].body {
		return nil
	}
	if r.ContentLength < 0 {
		var b [1]byte
		if n, _ := io.ReadFull(r.Body, b[:]); n == 0 {
			return nil
		}
	}
	return snapglyph.Codef(snapglyph.EINVALID, "invalid_request",
		"this operation takes no request body: send it without one (or with Content-Length: 0); its options are query parameters and headers")
}

// checkQueryNames refuses a query parameter the operation (its route
// pattern, "GET /api/v1/qr-codes") does not take, one given more than
// once, and a pair net/url would drop (a ";" in it, a bad %-escape):
// each would be silently ignored, and a client that misspelt "limit" or
// sent "type" twice would not learn that its request did not mean what it
// thought. What each operation takes is read from the API document, so
// the two cannot disagree.
func checkQueryNames(pattern, rawQuery string) error {
	if rawQuery == "" {
		return nil
	}
	op, ok := operations()[pattern]
	takes := op.query
	if !ok {
		return nil // not an operation of the document (TestOpenAPIMatchesRoutes)
	}
	var fields []snapglyph.FieldError
	seen := map[string]int{}
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			name = rawName
		}
		_, errValue := url.QueryUnescape(rawValue)
		switch {
		case strings.Contains(part, ";"):
			fields = append(fields, snapglyph.FieldError{Field: name, Message: `holds a ";": separate parameters with "&"`})
			continue
		case err != nil || errValue != nil:
			fields = append(fields, snapglyph.FieldError{Field: name, Message: `has a "%" that does not begin an escape such as %25 or %C3%A9`})
			continue
		}
		if seen[name]++; seen[name] == 2 {
			fields = append(fields, snapglyph.FieldError{Field: name, Message: "is given more than once; send it once"})
		}
		if seen[name] == 1 && !slices.Contains(takes, name) {
			msg := "is not a parameter of this operation; it takes none"
			if len(takes) > 0 {
				msg = "is not a parameter of this operation; it takes " + strings.Join(takes, ", ")
			}
			if slices.Contains(keyQueryParams, name) {
				msg = "is not a parameter of this operation: " + keyInURL + "; the key goes in the Authorization header only"
			}
			fields = append(fields, snapglyph.FieldError{Field: name, Message: msg})
		}
	}
	if len(fields) == 0 {
		return nil
	}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = strconv.Quote(f.Field)
	}
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request",
		Message: "the request has invalid query parameters: " + strings.Join(names, ", "), Fields: fields}
}

// operation is what an operation of the API document takes: the names
// of its query parameters, and whether it has a request body.
type operation struct {
	query []string
	body  bool
}

// operations maps each operation of the API document, as a route pattern
// ("GET /api/v1/qr-codes"), to what it takes.
var operations = sync.OnceValue(func() map[string]operation {
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		panic("server: the embedded API document: " + err.Error())
	}
	out := map[string]operation{}
	for path, ops := range doc.Paths {
		var common []param
		json.Unmarshal(ops["parameters"], &common)
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Parameters  []param         `json:"parameters"`
				RequestBody json.RawMessage `json:"requestBody"`
			}
			json.Unmarshal(raw, &op)
			takes := operation{body: op.RequestBody != nil}
			for _, p := range append(common, op.Parameters...) {
				if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
					p = doc.Components.Parameters[name]
				}
				if p.In == "query" {
					takes.query = append(takes.query, p.Name)
				}
			}
			out[strings.ToUpper(method)+" "+path] = takes
		}
	}
	return out
})
