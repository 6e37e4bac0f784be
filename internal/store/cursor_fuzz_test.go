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
// to "<int64>:qr_…", and every cursor it accepts is the one makeCursor
// writes for that position, byte for byte (so a cursor with a character
// added, or anything the store would not have written, is refused).
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
		makeCursor(1764590400000, "qr_FJ9V1pYfmsmOtK8rZPDM") + "x",
		base64.RawURLEncoding.EncodeToString([]byte("+5:qr_a")),
		base64.RawURLEncoding.EncodeToString([]byte("1:qr_a ")),
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
		if again := makeCursor(at, id); again != s {
			t.Fatalf("parseCursor(%q) = %d, %q, which makeCursor writes %q", s, at, id, again)
		}
	})
}

// TestParseCursorRefusesTampering: a cursor this API returned is taken;
// the same with a character added, changed into another encoding of the
// same bytes, or holding an id no QR code can have, is refused (one more
// character at the end used to decode to another id and repeat a page's
// last code).
func TestParseCursorRefusesTampering(t *testing.T) {
	good := makeCursor(1764590400000, "qr_FJ9V1pYfmsmOtK8rZPDM")
	if at, id, err := parseCursor(good); err != nil || at != 1764590400000 || id != "qr_FJ9V1pYfmsmOtK8rZPDM" {
		t.Fatalf("parseCursor(%q) = %d, %q, %v", good, at, id, err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		good + "x", good + "A", good[:len(good)-1] + "B", good + " ",
		enc([]byte("+1764590400000:qr_FJ9V1pYfmsmOtK8rZPDM")),
		enc([]byte("01764590400000:qr_FJ9V1pYfmsmOtK8rZPDM")),
		enc([]byte("-1:qr_FJ9V1pYfmsmOtK8rZPDM")),
		enc([]byte("1:qr_")), enc([]byte("1:qr_a\x00")), enc([]byte("1:qr_\xff\xfe")), enc([]byte("1:qr_a' OR 1=1--")),
		enc([]byte("1:qr_a ")), enc([]byte("1:qr_a:x")), enc([]byte("1:qr_" + strings.Repeat("a", 65))),
	} {
		if _, _, err := parseCursor(s); snapglyph.ErrorCode(err) != "invalid_request" {
			t.Errorf("parseCursor(%q) = %v, want invalid_request", s, err)
		}
	}
}
