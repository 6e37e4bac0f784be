package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// inputMux is the dashboard's ServeMux. Every handler registered on it
// first refuses a request whose path values ({id}, {token}), query
// parameters or urlencoded form fields hold a NUL character or bytes that
// are not UTF-8, with a 422 page naming the field: such text names
// nothing and cannot be stored. (Multipart forms are checked where they
// are read, in readQRForm.) It remembers its patterns, for the tests.
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
		if err := requestText(r); err != nil {
			a.badText(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
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

// requestText checks a request's path values, query parameters and, for
// an urlencoded post, its form fields with snapglyph.CheckText. The body
// is read (up to the largest form the dashboard takes) and put back for
// the handler, which applies its own limit.
func requestText(r *http.Request) error {
	if err := snapglyph.CheckPathValues(r.Pattern, r.PathValue); err != nil {
		return err
	}
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
