package httpx

// Conditional requests (RFC 9110 §13): the one rule by which the API and
// the dashboard compare a request's If-None-Match and If-Match with a
// representation's entity tag.
//
// Choices:
//
//   - Every line of the field counts, as one comma-separated list
//     (RFC 9110 §5.3); empty list elements are skipped (§5.6.1), and a
//     field with nothing in it is no condition at all.
//   - A field that is not "*" or a list of entity tags (an unquoted tag,
//     "w/" in lower case, "*" inside a list) is malformed and matches
//     nothing: If-None-Match then lets the full response be sent, and
//     If-Match fails, so nothing is changed on a condition the server could
//     not read.
//   - "*" matches when the representation exists (etag is not "").

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// NoneMatch reports whether r's If-None-Match condition is false for a
// representation tagged etag (RFC 9110 §13.1.2): the field is "*" or
// lists a tag equal to etag by weak comparison, so a GET or HEAD is
// answered 304 Not Modified (another method 412 Precondition Failed).
// Without the field, or with a malformed one, it returns false.
func NoneMatch(r *http.Request, etag string) bool {
	return matches(fieldLines(r, "If-None-Match"), etag, weakEqual)
}

// MatchFails reports whether r has an If-Match condition that is false for
// a representation tagged etag (RFC 9110 §13.1.1), so the request must be
// refused with 412 Precondition Failed: the field is neither "*" (with a
// representation present) nor a list holding a tag equal to etag by strong
// comparison. A weak etag never matches. Without the field it returns
// false; a malformed field fails.
func MatchFails(r *http.Request, etag string) bool {
	values := fieldLines(r, "If-Match")
	if len(values) == 0 {
		return false
	}
	return !matches(values, etag, strongEqual)
}

// UnmodifiedSinceFails reports whether r has an If-Unmodified-Since
// condition that is false for a representation last changed at modified
// (RFC 9110 §13.1.4), so the request must be refused with 412
// Precondition Failed. The field counts only without If-Match, which
// decides alone when sent (§13.2.2); a missing, repeated or invalid date
// is no condition, and neither is a zero modified. It is false when the
// change is at or after the date: the mirror of If-Modified-Since (see
// below): a client holding the end-of-second Last-Modified of the
// representation as it is passes, and a change since, even within that
// second, fails it. A Last-Modified sent within the second of the change
// (its start) fails it too until the representation is read again: a
// needless 412, never a lost update.
func UnmodifiedSinceFails(r *http.Request, modified time.Time) bool {
	if len(fieldLines(r, "If-Match")) > 0 || modified.IsZero() {
		return false
	}
	since, ok := dateField(r, "If-Unmodified-Since")
	return ok && !modified.Before(since)
}

// NotModified answers a GET or HEAD whose If-None-Match lists etag (or
// is "*") with 304 Not Modified and returns true; otherwise it writes
// nothing and returns false. Set every header the full response would
// have (ETag, Cache-Control, …) before: a 304 carries them (RFC 9110
// §15.4.5). Other methods are left to the caller (412 applies to them).
func NotModified(w http.ResponseWriter, r *http.Request, etag string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead || !NoneMatch(r, etag) {
		return false
	}
	w.WriteHeader(http.StatusNotModified)
	return true
}

// Last-Modified and If-Modified-Since (RFC 9110 §8.8.2, §13.1.3) are
// HTTP dates, to the second, while a resource's modification time is
// finer. Two changes within one second would share a Last-Modified, and a
// client holding the first would be told 304 after the second. So:
//
//   - Last-Modified is the end of the second of the last change (its time
//     truncated to the second, plus one second): the resource did not
//     change at or after it. Until that moment has come (a response made
//     within the second of the change) it is the start of that second
//     instead: a date is never later than the response's own (§8.8.2.1).
//   - If-Modified-Since is answered 304 only when the change is strictly
//     before the date sent. The end-of-second date sent back gives 304
//     until the next change; the start-of-second date, or a client's
//     clock, or the Date of a response made in the second of the change,
//     gives 200, as a change later in that second would have to.
//
// Nodes' clocks are assumed in step to well under a second; an entity tag
// is exact and wins when both are sent (§13.2.2).

// LastModified returns the Last-Modified date of a resource changed at
// modified, in a response made at now (see above). It is the zero time
// when modified is.
func LastModified(modified, now time.Time) time.Time {
	if modified.IsZero() {
		return time.Time{}
	}
	start := modified.Truncate(time.Second)
	if end := start.Add(time.Second); !now.Before(end) {
		return end.UTC()
	}
	return start.UTC()
}

// SetLastModified sets the Last-Modified field of a resource changed at
// modified, in a response made at now; nothing when modified is zero.
func SetLastModified(h http.Header, modified, now time.Time) {
	if lm := LastModified(modified, now); !lm.IsZero() {
		h.Set("Last-Modified", lm.Format(http.TimeFormat))
	}
}

// NotModifiedSince answers a GET or HEAD with 304 Not Modified, and returns
// true, when the representation tagged etag and last changed at modified
// is the one the client holds: If-None-Match lists etag (or is "*"), or,
// only when If-None-Match is absent (RFC 9110 §13.2.2), If-Modified-Since
// holds a single valid HTTP date strictly after modified. Otherwise it
// writes nothing and returns false. Set every header the full response
// would have before, as for NotModified.
func NotModifiedSince(w http.ResponseWriter, r *http.Request, etag string, modified time.Time) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if len(fieldLines(r, "If-None-Match")) > 0 {
		return NotModified(w, r, etag)
	}
	if modified.IsZero() || !unmodifiedSince(r, modified) {
		return false
	}
	w.WriteHeader(http.StatusNotModified)
	return true
}

// unmodifiedSince reports whether r's If-Modified-Since is one valid HTTP
// date strictly after modified. A missing, repeated or invalid field is
// no condition (RFC 9110 §13.1.3).
func unmodifiedSince(r *http.Request, modified time.Time) bool {
	since, ok := dateField(r, "If-Modified-Since")
	return ok && modified.Before(since)
}

// dateField returns the date a conditional field holds, and false when
// it is missing, repeated or no valid HTTP date (then it is no condition).
func dateField(r *http.Request, name string) (time.Time, bool) {
	values := fieldLines(r, name)
	if len(values) != 1 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(strings.Trim(values[0], " \t"))
	return t, err == nil
}

// HasField reports whether r has a line of the field name that holds
// something: a request whose first If-Match line is blank and whose
// second lists a tag has a precondition, though Header.Get says "".
func HasField(r *http.Request, name string) bool {
	return len(fieldLines(r, name)) > 0
}

// FirstField is the first line of the field name that holds something,
// or "".
func FirstField(r *http.Request, name string) string {
	if values := fieldLines(r, name); len(values) > 0 {
		return values[0]
	}
	return ""
}

// fieldLines returns the lines of a field that hold something: a line
// with nothing but whitespace is as good as absent (net/http's own
// conditional requests treat it so).
func fieldLines(r *http.Request, name string) []string {
	values := r.Header.Values(name)
	if !slices.ContainsFunc(values, blank) {
		return values
	}
	var out []string
	for _, v := range values {
		if !blank(v) {
			out = append(out, v)
		}
	}
	return out
}

func blank(s string) bool { return strings.Trim(s, " \t") == "" }

// matches reports whether the field lines hold "*" (and etag is set) or a
// tag equal to etag by eq. A malformed field matches nothing.
func matches(values []string, etag string, eq func(a, b string) bool) bool {
	if len(values) == 0 || etag == "" {
		return false
	}
	field := strings.Join(values, ",")
	if strings.Trim(field, " \t") == "*" {
		return true
	}
	found := false
	for s := field; ; {
		tag, rest, ok := nextTag(s)
		switch {
		case !ok:
			return false
		case tag == "":
			return found
		}
		found = found || eq(tag, etag)
		s = rest
	}
}

// nextTag reads the first entity tag of a list (RFC 9110 §8.8.3):
//
//	entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
//	etagc      = %x21 / %x23-7E / obs-text
//
// separated by commas and optional whitespace; empty elements are
// allowed. It returns the tag and the rest of the list, tag "" at the
// end, and ok false when anything else is in the list.
func nextTag(s string) (tag, rest string, ok bool) {
	s = strings.TrimLeft(s, " \t,")
	if s == "" {
		return "", "", true
	}
	start := s
	if strings.HasPrefix(s, "W/") {
		s = s[2:]
	}
	if s == "" || s[0] != '"' {
		return "", "", false
	}
	i := 1
	for i < len(s) && etagc(s[i]) {
		i++
	}
	if i == len(s) || s[i] != '"' {
		return "", "", false
	}
	tag = start[:len(start)-len(s)+i+1]
	rest = strings.TrimLeft(s[i+1:], " \t")
	if rest != "" && rest[0] != ',' {
		return "", "", false // two tags without a comma, or junk after one
	}
	return tag, rest, true
}

// etagc reports whether c may appear between an entity tag's quotes.
func etagc(c byte) bool { return c == 0x21 || c >= 0x23 && c != 0x7f }

// weakEqual is the weak comparison: the opaque tags are equal, whether
// either is weak or not.
func weakEqual(a, b string) bool {
	return strings.TrimPrefix(a, "W/") == strings.TrimPrefix(b, "W/")
}

// strongEqual is the strong comparison: neither tag is weak and they are
// equal.
func strongEqual(a, b string) bool {
	return !strings.HasPrefix(a, "W/") && !strings.HasPrefix(b, "W/") && a == b
}
