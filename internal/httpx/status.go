package httpx

import (
	"net/http"
	"slices"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Rule is how one kind of error is answered over HTTP.
type Rule struct {
	Status int    // the HTTP status
	Code   string // the API's "code" for an error of the kind that carries none
}

// rules is the one table from an error's kind to its HTTP answer: the API
// (internal/server) and the dashboard (internal/web) both read it.
var rules = map[string]Rule{
	snapglyph.EINVALID:      {http.StatusBadRequest, "invalid_request"},
	snapglyph.EUNAUTHORIZED: {http.StatusUnauthorized, "unauthorized"},
	snapglyph.EFORBIDDEN:    {http.StatusForbidden, "forbidden"},
	snapglyph.ENOTFOUND:     {http.StatusNotFound, "not_found"},
	snapglyph.ECONFLICT:     {http.StatusConflict, "conflict"},
	snapglyph.EPRECONDITION: {http.StatusPreconditionFailed, "precondition_failed"},
	snapglyph.ERATELIMIT:    {http.StatusTooManyRequests, "rate_limited"},
	snapglyph.ETOOLARGE:     {http.StatusRequestEntityTooLarge, "request_too_large"},
	snapglyph.EUNSUPPORTED:  {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	snapglyph.EMETHOD:       {http.StatusMethodNotAllowed, "method_not_allowed"},
	snapglyph.EUNPROCESSABL: {http.StatusUnprocessableEntity, "unprocessable"},
	snapglyph.EURITOOLONG:   {http.StatusRequestURITooLong, "uri_too_long"},
	snapglyph.EUNAVAILABLE:  {http.StatusServiceUnavailable, "service_unavailable"},
	snapglyph.EBUSY:         {http.StatusServiceUnavailable, "busy"},
	snapglyph.EINTERNAL:     {http.StatusInternalServerError, "internal_error"},
}

// RuleOf returns the rule of an error kind. A kind not in the table is a
// bug, answered as EINTERNAL.
func RuleOf(kind string) Rule {
	if r, ok := rules[kind]; ok {
		return r
	}
	return rules[snapglyph.EINTERNAL]
}

// Kind returns the kind err is answered as: its own (snapglyph.ErrorKind),
// or EINTERNAL for a kind the table does not know.
func Kind(err error) string {
	k := snapglyph.ErrorKind(err)
	if _, ok := rules[k]; !ok {
		return snapglyph.EINTERNAL
	}
	return k
}

// Status returns the HTTP status of err's kind.
func Status(err error) int { return RuleOf(snapglyph.ErrorKind(err)).Status }

// Code returns the API's "code" of err: its own (snapglyph.Error.Code), or
// else its kind's default.
func Code(err error) string {
	if c := snapglyph.ErrorCode(err); c != "" {
		return c
	}
	return RuleOf(snapglyph.ErrorKind(err)).Code
}

// Kinds returns every kind of the table, sorted.
func Kinds() []string {
	out := make([]string, 0, len(rules))
	for k := range rules {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
