package qr

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"

	goqr "github.com/piglig/go-qr"
)

// Capacities of a version 40 symbol, ISO/IEC 18004 table 7.
var (
	maxByte    = map[string]int{"L": 2953, "M": 2331, "Q": 1663, "H": 1273}
	maxAlnum   = map[string]int{"L": 4296, "M": 3391, "Q": 2420, "H": 1852}
	maxNumeric = map[string]int{"L": 7089, "M": 5596, "Q": 3993, "H": 3057}
)

func TestTooLong(t *testing.T) {
	for _, lv := range []string{"L", "M", "Q", "H"} {
		for _, k := range []struct {
			name string
			max  int
			gen  func(n int) string
		}{
			{"byte", maxByte[lv], func(n int) string { return strings.Repeat("a", n) }},
			{"alnum", maxAlnum[lv], func(n int) string { return strings.Repeat("A", n) }},
			{"numeric", maxNumeric[lv], func(n int) string { return strings.Repeat("7", n) }},
			// ECI 26 costs 12 bits: one byte less than plain byte mode.
			{"utf8", maxByte[lv] - 1, func(n int) string { return "é" + strings.Repeat("a", n-2) }},
		} {
			t.Run(lv+"/"+k.name, func(t *testing.T) {
				m, err := Encode(k.gen(k.max), lv)
				if err != nil {
					t.Fatalf("payload of exactly %d bytes: %v", k.max, err)
				}
				if m.Version() != 40 {
					t.Errorf("version = %d, want 40", m.Version())
				}
				_, err = Encode(k.gen(k.max+1), lv)
				var tl *TooLongError
				if !errors.As(err, &tl) || !errors.Is(err, ErrTooLong) {
					t.Fatalf("err = %v, want *TooLongError", err)
				}
				if *tl != (TooLongError{Level: lv, Max: k.max, Got: k.max + 1}) {
					t.Errorf("got %+v, want Max %d Got %d", *tl, k.max, k.max+1)
				}
				if !strings.Contains(tl.Error(), lv) {
					t.Errorf("message %q does not name the level", tl.Error())
				}
			})
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	if _, err := Encode("x", "X"); !errors.Is(err, ErrLevel) {
		t.Errorf("bad level: %v", err)
	}
	if _, err := Encode("", "M"); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
}

// TestEncodeModes decodes with the encoder library's own decoder to check
// the segment mode, level (no boost) and version.
func TestEncodeModes(t *testing.T) {
	tests := []struct {
		payload, level string
		mode           int // first data segment's mode indicator
		version        int
	}{
		{"https://example.com/products/item-12345678", "M", 4, 3},
		{"https://example.com/products/item-12345678", "L", 4, 3},
		{"https://example.com/products/item-12345678", "H", 4, 5},
		{"12345678901234567890", "M", 1, 1},
		{"HTTPS://EXAMPLE.COM/ABC", "Q", 2, 2},
		{"hi", "L", 4, 1}, // would fit at H too: level must stay L
		{"Grüße 😀 日本語", "M", 4, 2},
	}
	for _, tt := range tests {
		t.Run(tt.payload+"/"+tt.level, func(t *testing.T) {
			m, err := Encode(tt.payload, tt.level)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version() != tt.version || m.Size != 17+4*tt.version || m.Level() != tt.level {
				t.Errorf("version %d size %d level %s, want version %d level %s", m.Version(), m.Size, m.Level(), tt.version, tt.level)
			}
			var buf bytes.Buffer
			if err := PNG(&buf, m, DefaultDesign(), 256); err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(&buf)
			if err != nil {
				t.Fatal(err)
			}
			res, err := goqr.DecodeDetailed(img)
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != tt.payload {
				t.Errorf("decoded %q", res.Text)
			}
			if len(res.Segments) != 1 || res.Segments[0].Mode != tt.mode {
				t.Errorf("segments %+v, want one of mode %d", res.Segments, tt.mode)
			}
			if levelNames[res.Ecc] != tt.level || res.Version != tt.version {
				t.Errorf("decoded level %s version %d", levelNames[res.Ecc], res.Version)
			}
		})
	}
}

func TestMatrixDark(t *testing.T) {
	m, err := Encode("hello", "M")
	if err != nil {
		t.Fatal(err)
	}
	// Finder pattern corners are dark, the separator next to them light.
	for _, c := range [][2]int{{0, 0}, {6, 6}, {m.Size - 1, 0}, {0, m.Size - 1}} {
		if !m.Dark(c[0], c[1]) {
			t.Errorf("module %v should be dark", c)
		}
	}
	for _, c := range [][2]int{{7, 7}, {-1, 0}, {0, -1}, {m.Size, 0}, {0, m.Size}} {
		if m.Dark(c[0], c[1]) {
			t.Errorf("module %v should be light", c)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]payloadKind{
		"0123": kindNumeric, "AB 12:$%*+-./": kindAlnum, "Ab": kindByte, "A\n": kindByte,
		"é": kindUTF8, "1é": kindUTF8, "a😀": kindUTF8,
	}
	for s, want := range tests {
		if got := classify(s); got != want {
			t.Errorf("classify(%q) = %d, want %d", s, got, want)
		}
	}
}
