package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Problem is an RFC 9457 problem document with SnapGlyph's stable code.
type Problem struct {
	Type      string                 `json:"type"`
	Title     string                 `json:"title"`
	Status    int                    `json:"status"`
	Detail    string                 `json:"detail"`
	Code      string                 `json:"code"`
	Instance  string                 `json:"instance,omitempty"`
	RequestID string                 `json:"requestId,omitempty"`
	Errors    []snapglyph.FieldError `json:"errors,omitempty"`
}

// problemTypeBase is where the problem pages are: the public URL's
// /problems/ when the node has one, else /problems/ on the host that
// answered (a relative URI, resolved against the request's).
func problemTypeBase(publicURL string) string {
	return strings.TrimRight(publicURL, "/") + "/problems/"
}

// writeError renders err as a problem document. Internal errors are logged
// and shown only as "Internal error."; a database that cannot be reached
// is a 503 that asks to retry in 2 s, a node too busy to render one that
// asks to retry in 1 s.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	in := infoFrom(r.Context())
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client gave up before the answer (a time-out of its own):
		// nobody reads it. Recorded as 499, as proxies do, not as the
		// server's failure, and it costs nothing.
		if in != nil {
			in.code = "client_closed_request"
			s.refundFailed(w, in)
		}
		w.WriteHeader(statusClientClosed)
		return
	}
	if snapglyph.ErrorKind(err) == snapglyph.EINTERNAL && service.IsUnavailable(err) {
		err = unavailable(err)
	}
	code := httpx.Kind(err)
	if code == snapglyph.EINTERNAL {
		s.log.Error("internal error", "method", r.Method, "path", snapglyph.LoggedPath(r.URL.Path), "request_id", requestID(r.Context()), "err", err)
	} else if code == snapglyph.EUNAVAILABLE {
		s.log.Warn("database unavailable", "path", snapglyph.LoggedPath(r.URL.Path), "err", err)
		w.Header().Set("Retry-After", "2")
	} else if code == snapglyph.EBUSY {
		w.Header().Set("Retry-After", "1") // the node is busy, not down
	}
	status, reason := httpx.RuleOf(code).Status, httpx.Code(err)
	var id string
	if in != nil {
		in.code, id = reason, in.id // for the request log
		if status >= 500 {
			s.refundFailed(w, in)
		}
	}
	p := Problem{
		Type:      s.problemBase + reason,
		Instance:  "urn:snapglyph:request:" + id,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    snapglyph.ErrorMessage(err),
		Code:      reason,
		RequestID: id,
	}
	var e *snapglyph.Error
	if errors.As(err, &e) {
		p.Errors = boundFields(e.Fields)
	}
	// Details and field names can carry what a client sent (an unknown
	// field's name, a content type): an answer never grows with the
	// request, nor repeats a key sent in the wrong place.
	p.Detail = echoed(p.Detail, maxDetail)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", wwwAuthenticate(reason))
	}
	writeJSON(w, status, "application/problem+json", p)
}

// statusClientClosed is the status recorded for a request whose client
// left before its answer (nginx's 499; no client ever receives it).
const statusClientClosed = 499

// refundFailed gives back the API call of a request the server could not
// carry out: a client that retries after a 503 pays for the attempt that
// succeeds, not for the outage.
func (s *Server) refundFailed(w http.ResponseWriter, in *requestInfo) {
	if p := in.call; p != nil && !p.refunded {
		s.refundCall(w, p)
	}
}

// Bounds of what a problem echoes.
const (
	maxDetail    = 1000
	maxFieldName = 100
	maxFields    = 50
)

// echoed is text of a problem that may hold what the client sent: any
// API key in it cut to its display prefix, at most n bytes.
func echoed(s string, n int) string {
	return snapglyph.Shorten(snapglyph.RedactKeys(s), n)
}

// boundFields caps the number of field errors and, as echoed, each
// field's name and message.
func boundFields(fs []snapglyph.FieldError) []snapglyph.FieldError {
	if len(fs) > maxFields {
		fs = fs[:maxFields]
	}
	var out []snapglyph.FieldError
	for i, f := range fs {
		g := snapglyph.FieldError{Field: echoed(f.Field, maxFieldName), Message: echoed(f.Message, maxDetail)}
		if g != f && out == nil {
			out = slices.Clone(fs)
		}
		if out != nil {
			out[i] = g
		}
	}
	if out == nil {
		return fs
	}
	return out
}

// wwwAuthenticate builds the RFC 6750 challenge for a 401.
func wwwAuthenticate(reason string) string {
	if reason == "missing_api_key" {
		return `Bearer realm="snapglyph"`
	}
	return `Bearer realm="snapglyph", error="invalid_token", error_description=` + strconv.Quote(reason)
}

func errNoRoute(r *http.Request) error {
	return snapglyph.Errorf(snapglyph.ENOTFOUND, "no API endpoint %s %s; see /api/v1/openapi.json", loggedMethod(r.Method), snapglyph.LoggedPath(r.URL.Path))
}
