package server

import (
	"net/http"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// MaxURILength bounds a request's path and query together (as sent, in
// bytes); a longer one is answered 414 uri_too_long before any routing.
// net/http's MaxHeaderBytes (1 MiB) would let far longer ones through.
const MaxURILength = 8 << 10

// uriLength is the length of the request target as sent.
func uriLength(r *http.Request) int {
	if n := len(r.RequestURI); n > 0 {
		return n
	}
	return len(r.URL.EscapedPath()) + len(r.URL.RawQuery)
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

// loggedMethod bounds a request method for a log line, the request log or
// an error (net/http accepts any token, of any length: a key, too, which
// is cut to its display prefix).
func loggedMethod(m string) string {
	return snapglyph.Shorten(snapglyph.RedactKeys(m), 16)
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
