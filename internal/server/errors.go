package server

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// statuses maps application error codes to HTTP statuses: the only place
// that does.
var statuses = map[string]int{
	snapglyph.EINVALID:      http.StatusBadRequest,
	snapglyph.EUNAUTHORIZED: http.StatusUnauthorized,
	snapglyph.EFORBIDDEN:    http.StatusForbidden,
	snapglyph.ENOTFOUND:     http.StatusNotFound,
	snapglyph.ECONFLICT:     http.StatusConflict,
	snapglyph.ERATELIMIT:    http.StatusTooManyRequests,
	snapglyph.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	snapglyph.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	snapglyph.EMETHOD:       http.StatusMethodNotAllowed,
	snapglyph.EUNPROCESSABL: http.StatusUnprocessableEntity,
	snapglyph.EURITOOLONG:   http.StatusRequestURITooLong,
	snapglyph.EUNAVAILABLE:  http.StatusServiceUnavailable,
	snapglyph.EBUSY:         http.StatusServiceUnavailable,
	snapglyph.EINTERNAL:     http.StatusInternalServerError,
}

// defaultReasons is the API's "code" for errors that carry no reason.
var defaultReasons = map[string]string{
	snapglyph.EINVALID:      "invalid_request",
	snapglyph.EUNAUTHORIZED: "unauthorized",
	snapglyph.EFORBIDDEN:    "forbidden",
	snapglyph.ENOTFOUND:     "not_found",
	snapglyph.ECONFLICT:     "conflict",
	snapglyph.ERATELIMIT:    "rate_limited",
	snapglyph.ETOOLARGE:     "request_too_large",
	snapglyph.EUNSUPPORTED:  "unsupported_media_type",
	snapglyph.EMETHOD:       "method_not_allowed",
	snapglyph.EUNPROCESSABL: "unprocessable",
	snapglyph.EURITOOLONG:   "uri_too_long",
	snapglyph.EUNAVAILABLE:  "service_unavailable",
	snapglyph.EBUSY:         "busy",
	snapglyph.EINTERNAL:     "internal_error",
}

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
	if snapglyph.ErrorCode(err) == snapglyph.EINTERNAL && store.IsUnavailable(err) {
		err = unavailable(err)
	}
	code := snapglyph.ErrorCode(err)
	if code == snapglyph.EINTERNAL {
		s.log.Error("internal error", "method", r.Method, "path", loggedPath(r.URL.Path), "request_id", requestID(r.Context()), "err", err)
	} else if code == snapglyph.EUNAVAILABLE {
		s.log.Warn("database unavailable", "path", loggedPath(r.URL.Path), "err", err)
		w.Header().Set("Retry-After", "2")
	} else if code == snapglyph.EBUSY {
		w.Header().Set("Retry-After", "1") // the node is busy, not down
	}
	status := statuses[code]
	reason := snapglyph.ErrorReason(err)
	if reason == "" {
		reason = defaultReasons[code]
	}
	p := Problem{
		Type:      s.problemBase + reason,
		Instance:  "urn:snapglyph:request:" + requestID(r.Context()),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    snapglyph.ErrorMessage(err),
		Code:      reason,
		RequestID: requestID(r.Context()),
	}
	var e *snapglyph.Error
	if errors.As(err, &e) {
		p.Errors = boundFields(e.Fields)
	}
	// Details and field names can carry what a client sent (an unknown
	// field's name): an answer never grows with the request.
	p.Detail = truncateUTF8(p.Detail, maxDetail)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", wwwAuthenticate(reason))
	}
	writeJSON(w, status, "application/problem+json", p)
}

// Bounds of what a problem echoes.
const (
	maxDetail    = 1000
	maxFieldName = 100
	maxFields    = 50
)

// boundFields caps the number of field errors and the length of each
// field's name.
func boundFields(fs []snapglyph.FieldError) []snapglyph.FieldError {
	if len(fs) > maxFields {
		fs = fs[:maxFields]
	}
	long := func(f snapglyph.FieldError) bool { return len(f.Field) > maxFieldName || len(f.Message) > maxDetail }
	if !slices.ContainsFunc(fs, long) {
		return fs
	}
	out := make([]snapglyph.FieldError, len(fs))
	for i, f := range fs {
		out[i] = snapglyph.FieldError{Field: truncateUTF8(f.Field, maxFieldName), Message: truncateUTF8(f.Message, maxDetail)}
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
	return snapglyph.Errorf(snapglyph.ENOTFOUND, "no API endpoint %s %s; see /api/v1/openapi.json", loggedMethod(r.Method), loggedPath(r.URL.Path))
}
