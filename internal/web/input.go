package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// inputMux is the dashboard's ServeMux. Every handler registered on it
// first refuses, as the API does:
//
//   - a path value ({id}, {token}, {reveal}: all ids) holding a NUL
//     character, bytes that are not UTF-8, or a control or invisible
//     character (a right-to-left override, a zero-width space), with a 400
//     page naming it (snapglyph.CheckPathIDs): no id holds one, so the
//     link is wrong, and a 404 would say the thing is gone;
//   - query parameters or urlencoded form fields holding a NUL character
//     or bytes that are not UTF-8, with a 422 page naming the field: such
//     text names nothing and cannot be stored (multipart forms are
//     checked where they are read, in readQRForm);
//   - a query that net/url would read without a word of what it dropped:
//     a raw ";" in it, or a "%" that begins no escape, with a 400 page
//     naming the parameter and saying how to write it.
//
// It remembers its patterns, for the tests.
type inputMux struct {
	*http.ServeMux
	app      *app
	patterns []string
}

func (a *app) newInputMux() *inputMux {
	return &inputMux{ServeMux: http.NewServeMux(), app: a}
}

// Handle registers h for pattern behind the input check.
func (m *inputMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, m.app.checkInput(h))
}

// HandleFunc registers h for pattern behind the input check.
func (m *inputMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

func (a *app) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := snapglyph.CheckPathIDs(r.Pattern, r.PathValue); err != nil {
			a.badPath(w, r, err)
			return
		}
		if err := requestText(r); err != nil {
			a.badText(w, r, err)
			return
		}
		if msg := queryProblem(r.URL.RawQuery); msg != "" {
			a.renderError(w, r, http.StatusBadRequest, "Check the address", msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// badPath draws the 400 page for a path value that is no id: it names the
// wildcard and says why, with the character's code point, never the
// character itself (a right-to-left override would reorder the page's
// text around it).
func (a *app) badPath(w http.ResponseWriter, r *http.Request, err error) {
	var e *snapglyph.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		a.fail(w, r, err)
		return
	}
	f := e.Fields[0]
	a.renderError(w, r, http.StatusBadRequest, "Check the address",
		fmt.Sprintf("The “%s” in this address %s, so it names nothing here. Check the link you followed, or go back to the dashboard.", f.Field, f.Message))
}

// pageParams are the query parameters dashboard pages read (with the QR
// form's fields, which its preview reads from a GET's query); the test
// TestPageParamsListEveryQueryRead finds every one the package reads.
var pageParams = map[string]bool{
	"next": true, "revoked": true, "from": true, "invited": true, "cursor": true, "before": true,
	"key": true, "status": true, "code": true, "endpoint": true, "ip": true, "range": true, "to": true, "suspicious": true,
	"type": true, "createdByKey": true, "size": true, "v": true, "plan": true, "id": true,
}

// pageParam reports whether a dashboard page reads the query parameter
// name.
func pageParam(name string) bool { return pageParams[name] || qrFormFields[name] }

// queryProblem says, in a sentence naming the parameter, why a raw query
// cannot be read as sent, or returns "". net/url drops a pair holding a
// raw ";" (it no longer separates parameters) or a "%" that begins no
// escape, and says nothing: a filter typed as /settings/logs?status=401;key=x
// would show every request as if it had been applied. Only parameters a
// page reads are looked at (a pair holding a ";" is one when any name in
// it is): others are ignored whatever they hold, as a marketing link's
// utm_source=a;b or utm_content=50%off is, so such a link still opens.
// The wording is the API's (its checkQueryNames), with how to write the
// character in a value.
func queryProblem(raw string) string {
	if !strings.ContainsAny(raw, ";%") {
		return ""
	}
	for part := range strings.SplitSeq(raw, "&") {
		rawName, rawValue, _ := strings.Cut(part, "=")
		name, errName := url.QueryUnescape(rawName)
		if errName != nil {
			name = rawName
		}
		if !readsAny(part) {
			continue
		}
		_, errValue := url.QueryUnescape(rawValue)
		what := "A parameter of this address"
		if name != "" {
			what = "The parameter " + strconv.Quote(snapglyph.Shorten(name, 40)) + " of this address"
		}
		switch {
		case strings.Contains(part, ";"):
			return what + ` holds a ";": separate parameters with "&", and write a ";" that is part of a value as %3B.`
		case errName != nil || errValue != nil:
			return what + ` has a "%" that does not begin an escape such as %25 or %C3%A9: write a "%" that is part of a value as %25.`
		}
	}
	return ""
}

// readsAny reports whether a page reads a parameter named in part, a
// pair of a raw query: its own name, or with a raw ";", any name in it
// ("status=401;key=x" names status and key).
func readsAny(part string) bool {
	for piece := range strings.SplitSeq(part, ";") {
		rawName, _, _ := strings.Cut(piece, "=")
		if name, err := url.QueryUnescape(rawName); err == nil && pageParam(name) {
			return true
		}
	}
	return false
}

// badText draws the 422 page for a field that is not text. The page names
// the field but never repeats what was sent.
func (a *app) badText(w http.ResponseWriter, r *http.Request, err error) {
	var e *snapglyph.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		a.fail(w, r, err)
		return
	}
	f := e.Fields[0]
	a.renderError(w, r, http.StatusUnprocessableEntity, "Please check your input",
		fmt.Sprintf("The field “%s” %s. Go back, correct it and try again.", f.Field, f.Message))
}

// requestText checks a request's query parameters and, for an
// urlencoded post, its form fields with snapglyph.CheckText. The body is
// read (up to the largest form the dashboard takes) and put back for the
// handler, which applies its own limit.
func requestText(r *http.Request) error {
	if err := snapglyph.CheckEncoded(r.URL.RawQuery); err != nil {
		return err
	}
	if r.Method != http.MethodPost || r.Body == nil {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxQRFieldBytes+1))
	if err != nil {
		return nil // the handler reads the rest and says the form could not be read
	}
	if len(body) > maxQRFieldBytes {
		r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		return nil // too large: the handler refuses it
	}
	r.Body = readCloser{bytes.NewReader(body), r.Body}
	return snapglyph.CheckEncoded(string(body))
}

type readCloser struct {
	io.Reader
	io.Closer
}
