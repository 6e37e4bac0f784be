package snapglyph

import "crypto/rand"

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
