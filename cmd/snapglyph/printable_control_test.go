package main

import (
	"encoding/json"
	"testing"
)

// TestPrintable: escapes as Go writes them, plain text as it is, without
// allocating for printable ASCII.
func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"acme-sdk/1.0":               "acme-sdk/1.0",
		"":                           "",
		"é 漢 🎉":                      "é 漢 🎉",
		"a\x1b]0;x\x07b":             `a\x1b]0;x\ab`,
		"line\nfake\r\tx\x7f":        `line\nfake\r\tx\x7f`,
		"c1\u009b31m\u0085":          `c1\u009b31m\u0085`,
		"bidi\u202e\u200b\u2028":     `bidi\u202e\u200b\u2028`,
		"blank\u3164letter":          `blank\u3164letter`,
		"bad\xff\xfe utf8 \ufffd ok": `bad\xff\xfe utf8 ` + "\ufffd" + ` ok`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"
	if n := testing.AllocsPerRun(100, func() { printable(ua) }); n != 0 {
		t.Errorf("%v allocations for printable ASCII", n)
	}
	// JSON: the same strings come back; nothing invisible goes out raw.
	for _, s := range []string{"sdk\u009b31m\x7f", "\u202eevil\U000e0001", "plain", "é\x1b"} {
		b, _ := json.Marshal(map[string]string{"v": s})
		out := string(escapeHidden(b))
		var back map[string]string
		if err := json.Unmarshal([]byte(out), &back); err != nil || back["v"] != s {
			t.Errorf("escapeHidden(%s) = %s, decodes to %q (%v)", b, out, back["v"], err)
		}
		if r := rawControl(out); r >= 0 {
			t.Errorf("escapeHidden(%s) = %s keeps U+%04X", b, out, r)
		}
	}
}
