package server

import (
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// MaxURILength bounds a request's path and query together (as sent, in
// bytes); a longer one is answered 414 uri_too_long before any routing.
// net/http's MaxHeaderBytes (1 MiB) would let far longer ones through.
const MaxURILength = 8 << 10

// maxLoggedPath bounds what of a path is logged or echoed in an error.
const maxLoggedPath = 200

// uriLength is the length of the request target as sent.
func uriLength(r *http.Request) int {
	if n := len(r.RequestURI); n > 0 {
		return n
	}
	return len(r.URL.EscapedPath()) + len(r.URL.RawQuery)
}

// loggedPath is a request path as it may be logged or echoed back: at
// most about 200 bytes of valid UTF-8 with control characters
// percent-encoded, cleaned (path.Clean: "//invite/x" and "/./invite/x"
// are "/invite/x"), with whatever follows an invite segment (a token, a
// secret) cut off and any API key reduced to its display prefix. An
// ordinary path comes back as it is, without allocating.
func loggedPath(p string) string {
	if plainPath(p) {
		return p
	}
	return redactPath(p)
}

// plainPath reports whether p needs none of loggedPath's work: short,
// printable ASCII, canonical, no invite segment and nothing that may be
// a key.
func plainPath(p string) bool {
	if len(p) == 0 || len(p) > maxLoggedPath || p[0] != '/' {
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
			if i >= 7 && strings.EqualFold(p[i-7:i+1], "qr_live_") {
				return false
			}
			run = 0
		case isAlnum(c):
			if run++; run >= 32 {
				return false
			}
		default:
			run = 0
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// redactPath is loggedPath's slow path.
func redactPath(p string) string {
	if len(p) > 4*maxLoggedPath {
		// Only the start is shown; cut at a segment boundary so no
		// half segment (half a key) is judged on its own.
		p = p[:4*maxLoggedPath]
		if i := strings.LastIndexByte(p, '/'); i > 0 {
			p = p[:i] + "/…"
		}
	}
	p = path.Clean("/" + strings.ToValidUTF8(p, "\uFFFD"))
	var b strings.Builder
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		b.WriteByte('/')
		writeSegment(&b, seg)
		if strings.EqualFold(seg, "invite") && i < len(segs)-1 {
			b.WriteString("/…") // an invitation token
			break
		}
		if b.Len() > maxLoggedPath {
			break
		}
	}
	return truncateUTF8(escapeControls(b.String()), maxLoggedPath)
}

// writeSegment writes a path segment, with any API key in it (with or
// without its qr_live_ prefix, in any case) reduced to the display
// prefix.
func writeSegment(b *strings.Builder, seg string) {
	if i := indexFold(seg, "qr_live_"); i >= 0 {
		b.WriteString(seg[:i])
		rest := seg[i+len("qr_live_"):]
		n := 0
		for n < len(rest) && n < 4 && isAlnum(rest[n]) {
			n++
		}
		b.WriteString("qr_live_" + rest[:n] + "…")
		return
	}
	// A bare 32-character key: its checksum tells it from other ids.
	for i := 0; i+32 <= len(seg); {
		j := i
		for j < len(seg) && isAlnum(seg[j]) {
			j++
		}
		if j-i == 32 && snapglyph.CheckKey("qr_live_"+seg[i:j]) == nil {
			b.WriteString(seg[:i] + "…")
			return
		}
		i = j + 1
	}
	b.WriteString(seg)
}

// indexFold is strings.Index ignoring ASCII case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
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

// truncateUTF8 cuts s to at most n bytes on a character boundary, marking
// the cut with "…".
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// loggedMethod bounds a request method for a log line or an error (net/http
// accepts any token, of any length).
func loggedMethod(m string) string {
	if len(m) <= 16 {
		return m
	}
	return truncateUTF8(m, 16)
}

// qrPathID is the {id} of a QR-code URL. An id no QR code can have (long,
// not printable ASCII, or an API key pasted in the wrong place) is
// ENOTFOUND at once, with a message that does not echo it: the store's
// "no QR code has the id %q" would repeat it whole.
func qrPathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	ok := len(id) <= 64 && indexFold(id, "qr_live_") < 0
	for i := 0; ok && i < len(id); i++ {
		ok = id[i] > ' ' && id[i] < 0x7f
	}
	if !ok {
		return "", snapglyph.Errorf(snapglyph.ENOTFOUND, "no QR code has the id given in the URL; QR code ids look like qr_8Kd93jfLq0ZtYw2mNc4P")
	}
	return id, nil
}
