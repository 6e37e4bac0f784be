package snapglyph

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestStorableMultiline: text of several lines (a webhook receiver's
// answer, an error) keeps its line feeds and tabs, its line breaks become
// line feeds (CRLF and a lone CR, which would write over a line on a
// terminal), and every other control or format character goes.
func TestStorableMultiline(t *testing.T) {
	for in, want := range map[string]string{
		"HTTP 502\r\nBad Gateway\r\n": "HTTP 502\nBad Gateway\n",
		"line 1\rline 2\n\tindented":  "line 1\nline 2\n\tindented",
		"\r\r\n":                      "\n\n",
		"error: \x1b]0;owned\x07\x1b[2Jgone\u009b1m\x7f\u202e": "error: ]0;owned[2Jgone1m",
		"nul\x00 and \xff stay storable":                       "nul and \ufffd stay storable",
		"{\n\t\"ok\": false\n}":                                "{\n\t\"ok\": false\n}",
		"line\u2028separated\u2029paragraph":                   "line\nseparated\nparagraph",
	} {
		got := StorableMultiline(in, 1000)
		if got != want {
			t.Errorf("StorableMultiline(%q) = %q, want %q", in, got, want)
		}
		if hasControl(got, "\n\t") {
			t.Errorf("StorableMultiline(%q) = %q keeps a control character", in, got)
		}
	}
	if got := StorableMultiline("ab\r\ncd", 3); got != "ab\n" {
		t.Errorf("cut: %q", got)
	}
}

// TestStorableProperties: for any bytes, what is kept is valid UTF-8
// within the bound without the characters dropped, and making it storable
// again changes nothing.
func TestStorableProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "\x00", "\x1b", "\x07", "\n", "\r", "\t", "\x7f", "\u0085", "\u009b", "\u202e", "\u200b", "\u2028", "\u2029", "\xff", "\xe6\xbc", "漢", "é", " "}
	for i := 0; i < 2000; i++ {
		var b strings.Builder
		for n := rng.IntN(40); n > 0; n-- {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		in, max := b.String(), rng.IntN(60)
		for _, f := range []struct {
			name  string
			fn    func(string, int) string
			keeps string
		}{{"Storable", Storable, ""}, {"StorableMultiline", StorableMultiline, "\n\t"}} {
			got := f.fn(in, max)
			if len(got) > max || !utf8.ValidString(got) || hasControl(got, f.keeps) || strings.ContainsAny(got, "\u202e\u200b\u2028\u2029") {
				t.Fatalf("%s(%q, %d) = %q", f.name, in, max, got)
			}
			if again := f.fn(got, max); again != got {
				t.Fatalf("%s(%q) = %q, and again %q", f.name, in, got, again)
			}
		}
	}
}

// TestStorableFastPath: text that is fit already, the common case, is
// returned as it is without allocating: a user agent, and an answer of
// several lines.
func TestStorableFastPath(t *testing.T) {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	answer := "{\n\t\"error\": \"bad signature\",\n\t\"hint\": \"Пример 漢字\"\n}\n"
	for _, tt := range []struct {
		name string
		fn   func() string
		want string
	}{
		{"Storable", func() string { return Storable(ua, 256) }, ua},
		{"StorableMultiline", func() string { return StorableMultiline(answer, 1000) }, answer},
	} {
		if got := tt.fn(); got != tt.want {
			t.Errorf("%s changed fit text: %q", tt.name, got)
		}
		if n := testing.AllocsPerRun(100, func() { tt.fn() }); n != 0 {
			t.Errorf("%s: %v allocations for fit text", tt.name, n)
		}
	}
}
