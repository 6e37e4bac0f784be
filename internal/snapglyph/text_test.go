package snapglyph

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStorable(t *testing.T) {
	cjk := strings.Repeat("漢", 100) // 300 bytes, 3 per character
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"fine", "acme-sdk/1.0", 256, "acme-sdk/1.0"},
		{"empty", "", 256, ""},
		{"invalid byte", "sdk\xff/1", 256, "sdk\uFFFD/1"},
		{"truncated sequence", "sdk\xe6\xbc", 256, "sdk\uFFFD\uFFFD"},
		{"NUL dropped", "sd\x00k", 256, "sdk"},
		{"only NULs", "\x00\x00", 256, ""},
		{"cut on a character boundary", cjk, 256, strings.Repeat("漢", 85)},
		{"cut exactly", cjk, 255, strings.Repeat("漢", 85)},
		{"cut ASCII", strings.Repeat("a", 300), 256, strings.Repeat("a", 256)},
		{"replacement does not pass max", strings.Repeat("\xff", 10), 7, "\uFFFD\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Storable(tt.in, tt.max)
			if got != tt.want {
				t.Fatalf("Storable(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if len(got) > tt.max || !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 || TextProblem(got) != "" {
				t.Fatalf("Storable(%q, %d) = %q is not storable", tt.in, tt.max, got)
			}
		})
	}
}

// TestStorableHuge: a header of a megabyte of hostile bytes is cut
// without building the whole cleaned string.
func TestStorableHuge(t *testing.T) {
	in := strings.Repeat("\xff\x00é", 1<<20)
	got := Storable(in, 256)
	if len(got) > 256 || !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
		t.Fatalf("not storable: %q", got)
	}
}

func TestStorableDoesNotAllocateWhenFine(t *testing.T) {
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
	if n := testing.AllocsPerRun(100, func() { Storable(ua, 256) }); n != 0 {
		t.Fatalf("%v allocations for a fine user agent", n)
	}
}

func TestCheckText(t *testing.T) {
	for _, s := range []string{"plain", "", "é 漢 🎉", "\uFFFD"} {
		if err := CheckText("name", s); err != nil {
			t.Errorf("CheckText(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"a\x00b", "\xff", "caf\xc3", strings.Repeat("x", 1000) + "\x00"} {
		err := CheckText("email", s)
		if ErrorKind(err) != EINVALID {
			t.Fatalf("CheckText(%q) = %v, want EINVALID", s, err)
		}
		e := err.(*Error)
		if len(e.Fields) != 1 || e.Fields[0].Field != "email" || !strings.HasPrefix(e.Message, "email ") {
			t.Fatalf("CheckText(%q) does not name the field: %+v", s, e)
		}
		if strings.Contains(e.Message, s) || strings.ContainsRune(e.Message, 0) || !utf8.ValidString(e.Message) {
			t.Fatalf("the message repeats the value: %q", e.Message)
		}
	}
}

func TestCheckValues(t *testing.T) {
	if err := CheckValues(map[string][]string{"type": {"url"}, "cursor": {"", "abc"}}); err != nil {
		t.Fatal(err)
	}
	err := CheckValues(map[string][]string{"type": {"url"}, "cursor": {"ok", "a\x00"}})
	if e, ok := err.(*Error); !ok || e.Fields[0].Field != "cursor" {
		t.Fatalf("got %v, want a problem with cursor", err)
	}
	err = CheckValues(map[string][]string{"bad\xff": {"x"}})
	if e, ok := err.(*Error); !ok || strings.Contains(e.Message, "\xff") || !strings.Contains(e.Message, "parameter name") {
		t.Fatalf("got %v, want a problem with a parameter name that does not repeat it", err)
	}
}

func TestCheckPathValues(t *testing.T) {
	vals := map[string]string{"id": "qr_1", "token": "t\x00k", "rest": "a/b"}
	get := func(n string) string { return vals[n] }
	if err := CheckPathValues("GET /qr-codes/{id}/edit", get); err != nil {
		t.Fatal(err)
	}
	if err := CheckPathValues("GET /{$}", get); err != nil {
		t.Fatal(err)
	}
	if err := CheckPathValues("GET /static/{rest...}", get); err != nil {
		t.Fatal(err)
	}
	err := CheckPathValues("POST /invite/{token}", get)
	if e, ok := err.(*Error); !ok || e.Fields[0].Field != "token" {
		t.Fatalf("got %v, want a problem with token", err)
	}
}

func TestFormatCount(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1,000"},
		{10000, "10,000"},
		{123456, "123,456"},
		{1234567, "1,234,567"},
		{-1, "-1"},
		{-999, "-999"},
		{-1000, "-1,000"},
		{-123456, "-123,456"},
		{math.MaxInt64, "9,223,372,036,854,775,807"},
		{math.MinInt64, "-9,223,372,036,854,775,808"},
	}
	for _, tt := range tests {
		if got := FormatCount(tt.in); got != tt.want {
			t.Errorf("FormatCount(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeadAndShorten(t *testing.T) {
	cjk := strings.Repeat("漢", 10) // 30 bytes, 3 per character
	tests := []struct {
		name, in  string
		n         int
		head, cut string
	}{
		{"fits", "abc", 3, "abc", "abc"},
		{"empty", "", 0, "", ""},
		{"ASCII", "abcdef", 4, "abcd", "abcd…"},
		{"on a boundary", cjk, 6, "漢漢", "漢漢…"},
		{"inside a character", cjk, 7, "漢漢", "漢漢…"},
		{"inside the first character", cjk, 2, "", "…"},
		{"zero", "abc", 0, "", "…"},
		{"invalid bytes count as characters", "ab\xff\xffcd", 3, "ab\xff", "ab\xff…"},
		{"stray continuation bytes are cut back over", "a\x80\x80\x80b", 3, "", "…"},
		{"stray continuation bytes before a boundary stay", "a\x80\x80\x80b", 4, "a\x80\x80\x80", "a\x80\x80\x80…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Head(tt.in, tt.n); got != tt.head {
				t.Errorf("Head(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.head)
			}
			if got := Shorten(tt.in, tt.n); got != tt.cut {
				t.Errorf("Shorten(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.cut)
			}
		})
	}
	for n := 0; n <= len(cjk)+1; n++ {
		if h := Head(cjk, n); len(h) > n || !utf8.ValidString(h) {
			t.Errorf("Head(cjk, %d) = %q: longer than %d bytes or not valid UTF-8", n, h, n)
		}
	}
}
