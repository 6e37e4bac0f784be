package snapglyph

import (
	"strings"
	"testing"
)

// hasControl reports whether s holds a control character (C0, DEL, C1)
// other than those in keep.
func hasControl(s, keep string) bool {
	for _, r := range s {
		if (r < 0x20 || r >= 0x7f && r <= 0x9f) && !strings.ContainsRune(keep, r) {
			return true
		}
	}
	return false
}

// TestStorableDropsControlCharacters: what a client puts in a path's id
// or a header (an escape sequence that retitles a terminal, a bell, a
// line break that starts a forged log line, DEL, an 8-bit CSI) is not
// recorded as it came: every control character is dropped, as NUL is.
func TestStorableDropsControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"qr_\x1b]0;x\x07":                        "qr_]0;x",
		"qr_\nfake-line":                         "qr_fake-line",
		"qr_\r\n2026-11-15T12:00:00Z GET 200":    "qr_2026-11-15T12:00:00Z GET 200",
		"curl/8.5 \x1b[2J\x1b[1;31mred\x1b[0m":   "curl/8.5 [2J[1;31mred[0m",
		"sdk\u009b31mC1 CSI\u0085NEL\u009d":      "sdk31mC1 CSINEL",
		"del\x7f tab\there\x0bvt\x0cff\x08bs":    "del tabherevtffbs",
		"mixed\x00\x1b\u202e\xff/1.0 é 漢 \u00a0": "mixed\ufffd/1.0 é 漢 \u00a0",
	} {
		got := Storable(in, 256)
		if got != want {
			t.Errorf("Storable(%q) = %q, want %q", in, got, want)
		}
		if hasControl(got, "") {
			t.Errorf("Storable(%q) = %q keeps a control character", in, got)
		}
	}
	// The cut counts what is kept.
	if got := Storable(strings.Repeat("\x1b", 100)+"abc", 3); got != "abc" {
		t.Errorf("cut: %q", got)
	}
	// A key split by a control character is whole again, and cut.
	key := GenerateKey()
	for _, sep := range []string{"\x1b", "\n", "\r\n", "\u009b", "\x7f"} {
		if got := StorableRedacted("sdk "+key[:15]+sep+key[15:], 256); strings.Contains(got, key[15:]) || hasControl(got, "") {
			t.Errorf("StorableRedacted kept a key split by %q: %q", sep, got)
		}
	}
}

func BenchmarkStorable(b *testing.B) {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	b.ReportAllocs()
	for b.Loop() {
		Storable(ua, 256)
	}
}
