package store

import (
	"encoding/base64"
	"math"
	"strings"
	"testing"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// FuzzParseCursor feeds any string to the list cursor's decoder: it never
// panics, refuses with EINVALID invalid_request, accepts only what decodes
// to "<int64>:qr_…", and every cursor it accepts is one makeCursor gives
// back unchanged for the same position (so a cursor cannot smuggle anything
// the store would not have written).
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{
		makeCursor(1764590400000, "qr_abc"), makeCursor(0, "qr_"), makeCursor(-1, "qr_x"),
		makeCursor(math.MaxInt64, "qr_"+strings.Repeat("z", 40)), "", "=", "!!!!", "MTox",
		base64.RawURLEncoding.EncodeToString([]byte("1:qr_\x00")),
		base64.RawURLEncoding.EncodeToString([]byte("99999999999999999999:qr_a")),
		base64.RawURLEncoding.EncodeToString([]byte(":qr_a")),
		base64.RawURLEncoding.EncodeToString([]byte("1:key_a")),
		base64.StdEncoding.EncodeToString([]byte("1:qr_a?")),
		base64.RawURLEncoding.EncodeToString([]byte("1:qr_a' OR 1=1 --")),
		strings.Repeat("A", 10<<10),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, id, err := parseCursor(s)
		if err != nil {
			if snapglyph.ErrorKind(err) != snapglyph.EINVALID || snapglyph.ErrorCode(err) != "invalid_request" {
				t.Fatalf("parseCursor(%q) = %v, want EINVALID invalid_request", s, err)
			}
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("parseCursor(%q): the error repeats the cursor", s)
			}
			return
		}
		if !strings.HasPrefix(id, "qr_") {
			t.Fatalf("parseCursor(%q) accepted the id %q", s, id)
		}
		again := makeCursor(at, id)
		at2, id2, err := parseCursor(again)
		if err != nil || at2 != at || id2 != id {
			t.Fatalf("parseCursor(%q) = %d, %q; makeCursor of that does not parse back: %d, %q, %v", s, at, id, at2, id2, err)
		}
	})
}
