package snapglyph

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text from clients is stored in TEXT columns, and PostgreSQL refuses a
// whole statement (and with it the transaction) over a NUL byte or a
// byte sequence that is not UTF-8. Two rules keep such text out:
//
//   - Values a client chooses (names, emails, ids, cursors, filters) are
//     checked with CheckText and refused with EINVALID naming the field:
//     the client can correct them.
//   - Values we record about a request (its user agent, its address) are
//     made storable with Storable, or StorableMultiline for text of
//     several lines (a webhook receiver's answer, an error): nobody is
//     there to correct them, and a request is not refused for its user
//     agent. Both also drop control and format characters, which would
//     act on a terminal or hide text wherever the value is shown.

// TextProblem returns what makes s unfit to store as text, or "" if it is
// fine: it must be valid UTF-8 and hold no NUL character.
func TextProblem(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8 text"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL character (%00 or \\u0000)"
	}
	return ""
}

// CheckText returns an EINVALID error naming field when s is not valid
// UTF-8 or holds a NUL character, and nil otherwise. The error never
// repeats s.
func CheckText(field, s string) error {
	msg := TextProblem(s)
	if msg == "" {
		return nil
	}
	return &Error{Kind: EINVALID, Code: "invalid_request", Message: field + " " + msg,
		Fields: []FieldError{{Field: field, Message: msg}}}
}

// CheckValues checks every name and value of a query string or form
// (url.Values) with CheckText, naming the field. A bad name is reported
// without repeating it. The first problem found is returned.
func CheckValues(values map[string][]string) error {
	for name, vs := range values {
		if msg := TextProblem(name); msg != "" {
			return &Error{Kind: EINVALID, Code: "invalid_request", Message: "a parameter name " + msg,
				Fields: []FieldError{{Field: "(parameter name)", Message: msg}}}
		}
		for _, v := range vs {
			if err := CheckText(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckEncoded checks the names and values of an urlencoded string (a
// raw query, or a form body) with CheckText, as a handler would see them
// after decoding. Plain printable ASCII without escapes, the common case,
// is not decoded.
func CheckEncoded(raw string) error {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c == '%' || c < 0x20 || c >= 0x7f {
			values, _ := url.ParseQuery(raw) // what parses is what handlers see
			return CheckValues(values)
		}
	}
	return nil
}

// CheckPathValues checks the value of every wildcard of a route pattern
// such as "GET /qr-codes/{id}/edit" (value returns it, as
// http.Request.PathValue does) and names the wildcard in the error.
func CheckPathValues(pattern string, value func(name string) string) error {
	return checkPathValues(pattern, value, CheckText)
}

// CheckPathIDs is CheckPathValues for a route whose wildcards are all
// ids (the API's {id}): each value is checked with CheckID.
func CheckPathIDs(pattern string, value func(name string) string) error {
	return checkPathValues(pattern, value, CheckID)
}

func checkPathValues(pattern string, value func(name string) string, check func(field, s string) error) error {
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "...")
		rest = rest[i+j+1:]
		if name == "$" || name == "" {
			continue
		}
		if err := check(name, value(name)); err != nil {
			return err
		}
	}
}

// IDProblem is TextProblem for an id a client sends: besides bytes that
// are not UTF-8 and NUL, it refuses the characters Hidden names (a
// control character, or a format character such as a right-to-left
// override or a zero-width space). No id holds one, and one would be
// kept in the request log, where it reorders or hides the text around
// it. Plain ASCII without controls, every real id, is read once.
func IDProblem(s string) string {
	if msg := TextProblem(s); msg != "" {
		return msg
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c >= 0x7f {
			for _, r := range s[i:] {
				if Hidden(r) {
					return fmt.Sprintf("contains a control or invisible character (U+%04X)", r)
				}
			}
			break
		}
	}
	return ""
}

// CheckID is CheckText with IDProblem: an EINVALID error naming field,
// which never repeats s.
func CheckID(field, s string) error {
	msg := IDProblem(s)
	if msg == "" {
		return nil
	}
	return &Error{Kind: EINVALID, Code: "invalid_request", Message: field + " " + msg,
		Fields: []FieldError{{Field: field, Message: msg}}}
}

// Storable returns s made fit to store as one line of text: each byte
// that is not part of valid UTF-8 becomes U+FFFD, control characters
// (C0 U+0000–U+001F, DEL U+007F, C1 U+0080–U+009F: NUL, ESC, BEL, CR,
// LF, tab…) and format characters (Unicode's Cf: bidi overrides and
// isolates such as U+202E and U+2066, zero-width spaces) are dropped, and
// the result is cut on a character boundary to at most max bytes. It is
// for single-line values recorded about a request (its user agent, its
// address, a path's id, a URL): they are kept rather than refused, and
// nobody is there to correct them.
//
// A control character would act on the terminal of whoever reads the
// value (an escape sequence that retitles or clears it) or start a line
// that passes for another entry; a format character would reorder or
// hide the text around it wherever the value is shown (the request log,
// its exports, the dashboard, the CLI). Such characters are dropped, not
// replaced by U+FFFD, as NUL always was: none of them shows as anything,
// so what is left reads as the client sent it, and a key split by one is
// whole again for RedactKeys (StorableRedacted). Bytes that are not UTF-8
// do become U+FFFD: they were meant as some character. A string that is
// already fit is returned as is, without allocating.
func Storable(s string, max int) string {
	return storableText(s, max, false)
}

// StorableMultiline is Storable for text recorded as several lines: a
// webhook receiver's answer, an error, a notice's body. It keeps line
// feeds and tabs, and makes every line break a line feed (CRLF, common in
// HTTP answers, a lone CR, which would move a terminal's cursor back over
// the line it ends, and the separators U+2028 and U+2029); every other control character and format
// character is dropped as Storable drops it.
func StorableMultiline(s string, max int) string {
	return storableText(s, max, true)
}

func storableText(s string, max int, multiline bool) string {
	if len(s) <= max && storable(s, multiline) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), max))
	for i, r := range s { // an invalid byte comes as utf8.RuneError, one byte wide
		if multiline && r == '\r' {
			if strings.HasPrefix(s[i+1:], "\n") {
				continue // the \n that follows is the break
			}
			r = '\n'
		}
		if multiline && (r == '\u2028' || r == '\u2029') {
			r = '\n' // a line or paragraph separator: a break as well
		}
		if dropped(r, multiline) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// dropped reports whether Storable (or, with multiline,
// StorableMultiline) leaves r out: the line and paragraph separators
// (U+2028, U+2029) too, which break a line as a line feed does.
func dropped(r rune, multiline bool) bool {
	switch {
	case r < 0x20:
		return !multiline || r != '\n' && r != '\t'
	case r < 0x7f:
		return false
	case r <= 0x9f:
		return true // DEL and C1
	}
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// storable reports whether s is valid UTF-8 without the characters
// Storable (or StorableMultiline) drops or changes: what it leaves as it
// is. Printable ASCII, the common case, is read a byte at a time, and
// only the other characters are looked up.
func storable(s string, multiline bool) bool {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if (c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\t')) {
				return false // a CR too: it becomes \n
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || dropped(r, multiline) {
			return false
		}
		i += n
	}
	return true
}

// FormatCount writes n with a comma between each group of three digits,
// as counts and limits are shown to people: 10000 is "10,000", -1234 is
// "-1,234".
func FormatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	digits := s
	if n < 0 {
		digits = s[1:]
	}
	if len(digits) <= 3 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + (len(digits)-1)/3)
	if n < 0 {
		b.WriteByte('-')
	}
	for i := 0; i < len(digits); i++ {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(digits[i])
	}
	return b.String()
}

// Head returns the longest start of s that is at most n bytes and does
// not end inside a UTF-8 sequence: s itself when it fits.
func Head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// QuoteID quotes an id someone gave, for a message that says no such
// thing exists: at most 64 bytes of it, with an API key in it cut to its
// prefix, so a pasted key or a megabyte of text is not echoed back.
func QuoteID(id string) string {
	return strconv.Quote(Shorten(RedactKeys(id), 64))
}

// Shorten cuts s to at most n bytes on a character boundary, marking the
// cut with "…" (three bytes more). A string that fits is returned as it
// is. It bounds what a client sent before it is echoed or logged.
func Shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return Head(s, n) + "…"
}
