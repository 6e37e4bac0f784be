// Package snapglyph holds the domain types of SnapGlyph: organisations,
// users, API keys, plans, roles, usage, and the one error type every other
// package returns. It imports nothing of ours.
package snapglyph

import (
	"errors"
	"fmt"
)

// Application error codes. Each maps to one HTTP status in the server.
const (
	EINVALID      = "invalid"       // bad input; nothing changed
	EUNAUTHORIZED = "unauthorized"  // no or bad credentials
	EFORBIDDEN    = "forbidden"     // authenticated, but not allowed
	ENOTFOUND     = "not_found"     // no such thing (or not visible to the caller)
	ECONFLICT     = "conflict"      // state does not allow the action
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

// Error is an error meant to be shown to the caller. Code selects the HTTP
// status; Reason is the stable machine-readable code of the API (for
// example "api_key_paused"); Message is a sentence for a person.
type Error struct {
	Code    string
	Reason  string
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s: %s", e.Reason, e.Message)
	}
	return e.Message
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Reasonf returns an *Error with a code, a stable API reason and a message.
func Reasonf(code, reason, format string, args ...any) *Error {
	return &Error{Code: code, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorReason returns the API reason of err, or "" when it has none.
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
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
