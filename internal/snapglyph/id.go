package snapglyph

import (
	"crypto/rand"
	"strings"
)

// NewID returns prefix + "_" + 20 random base62 characters, e.g. "key_…".
// IDs are safe to show and to put in URLs; they grant nothing.
func NewID(prefix string) string {
	b := make([]byte, len(prefix)+1+20)
	copy(b, prefix)
	b[len(prefix)] = '_'
	var r [64]byte
	n := len(prefix) + 1
	for n < len(b) {
		rand.Read(r[:])
		for _, c := range r {
			if c < 248 && n < len(b) {
				b[n] = base62[c%62]
				n++
			}
		}
	}
	return string(b)
}

// IsIDOf reports whether s has the shape of an id NewID(prefix) makes:
// the prefix, "_", and letters and digits (at most 64 of them), so that
// an id read back from a client (in a cursor) is one the store could
// hold.
func IsIDOf(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if !isBase62(rest[i]) {
			return false
		}
	}
	return true
}
