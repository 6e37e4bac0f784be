// Package snapglyph holds the domain types and rules of SnapGlyph:
// organisations, users, members, invitations, sessions, API keys, plans,
// roles, QR codes, usage and its counters, the change log's entries, and
// the one error type every other package returns. Every other package may
// import it; it imports nothing of ours.
package snapglyph

import (
	"errors"
	"fmt"
)

// Kinds of error. A kind is the internal category of an error and selects its
// HTTP status (the one table is in internal/httpx/status.go); the API's
// machine-readable code (Error.Code, for example "api_key_paused") is finer.
const (
	EINVALID      = "invalid"       // bad input; nothing changed
	EUNAUTHORIZED = "unauthorized"  // no or bad credentials
	EFORBIDDEN    = "forbidden"     // authenticated, but not allowed
	ENOTFOUND     = "not_found"     // no such thing (or not visible to the caller)
	ECONFLICT     = "conflict"      // state does not allow the action
	EPRECONDITION = "precondition"  // the client's condition on the current state (If-Match) is false; nothing changed
	ERATELIMIT    = "rate_limit"    // a monthly allowance is spent
	ETOOLARGE     = "too_large"     // request body over the limit
	EUNSUPPORTED  = "unsupported"   // wrong content type
	EMETHOD       = "method"        // the resource exists, but not with this method
	EUNPROCESSABL = "unprocessable" // well-formed but cannot be done (content too long, logo needs PNG)
	EURITOOLONG   = "uri_too_long"  // the request's path and query are over the limit
	EUNAVAILABLE  = "unavailable"   // a dependency (the database) is down; try again
	EBUSY         = "busy"          // this node is at capacity for the work (images); try again in a second
	EINTERNAL     = "internal"      // a bug or an unexpected failure
)

// FieldError names one invalid input field by its JSON path.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error meant to be shown to the caller. Kind is its category
// (one of the E* constants) and selects the HTTP status; Code is the stable
// machine-readable code the API sends as "code" (for example
// "api_key_paused"), empty when the kind's default code says enough; Message
// is a sentence for a person.
type Error struct {
	Kind    string
	Code    string
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return e.Message
}

// Errorf returns an *Error of the kind with a formatted message.
func Errorf(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Codef returns an *Error with a kind, the API's code and a message.
func Codef(kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorKind returns the kind of err if it is (or wraps) an *Error, and
// EINTERNAL otherwise.
func ErrorKind(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Kind
	}
	return EINTERNAL
}

// ErrorCode returns the API code of err, or "" when it has none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrorMessage returns the message of err if it is an *Error, and a generic
// text otherwise, so internal details never reach a user.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
