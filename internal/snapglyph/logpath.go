package snapglyph

import (
	"path"
	"strings"
	"unicode/utf8"
)

// MaxLoggedPath bounds what of a path is logged or echoed in an error.
const MaxLoggedPath = 200

// LoggedPath is a request path as it may be logged or echoed back: at
// most about 200 bytes of valid UTF-8 with control characters
// percent-encoded, cleaned (path.Clean: "//invite/x" and "/./invite/x"
// are "/invite/x"), with whatever follows an invite segment (a token, a
// secret) cut off and any API key reduced to its display prefix (by
// RedactKeys, as the request log does). An ordinary path comes back as
// it is, without allocating. The API and the dashboard log paths with it.
func LoggedPath(p string) string {
	if plainPath(p) {
		return p
	}
	return redactPath(p)
}

// plainPath reports whether p needs none of LoggedPath's work: short,
// printable ASCII, canonical, no invite segment and nothing that may be
// a key.
func plainPath(p string) bool {
	if len(p) == 0 || len(p) > MaxLoggedPath || p[0] != '/' {
		return false
	}
	run := 0 // letters and digits in a row: a key without its prefix is 32
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c <= ' ' || c >= 0x7f:
			return false
		case c == '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				return false
			}
			if len(p)-i > len("invite") && strings.EqualFold(p[i+1:i+1+len("invite")], "invite") {
				return false
			}
			run = 0
		case c == '_':
			if i >= 7 && strings.EqualFold(p[i-7:i+1], KeyPrefix) {
				return false
			}
			run = 0
		case isAlnumByte(c):
			if run++; run >= 32 {
				return false
			}
		default:
			run = 0
		}
	}
	return true
}

// redactPath is LoggedPath's slow path.
func redactPath(p string) string {
	if len(p) > 4*MaxLoggedPath {
		// Only the start is shown; cut at a segment boundary so no
		// half segment (half a key) is judged on its own.
		p = p[:4*MaxLoggedPath]
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			p = p[:i] + "/…"
		}
	}
	p = path.Clean("/" + strings.ToValidUTF8(p, "\uFFFD"))
	var b strings.Builder
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		b.WriteByte('/')
		b.WriteString(RedactKeys(seg))
		if strings.EqualFold(seg, "invite") && i < len(segs)-1 {
			b.WriteString("/…") // an invitation token
			break
		}
		if b.Len() > MaxLoggedPath {
			break
		}
	}
	return Shorten(escapeControls(b.String()), MaxLoggedPath)
}

// escapeControls percent-encodes control characters (C0, DEL and C1), so
// a log line stays one line and a terminal shows what was sent.
func escapeControls(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			var buf [4]byte
			for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
				b.WriteString("%" + strings.ToUpper(hex2(c)))
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
