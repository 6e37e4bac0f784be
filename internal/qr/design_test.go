package qr

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultDesign(t *testing.T) {
	want := Design{Foreground: "#000000", Background: "#FFFFFF", ErrorCorrection: "M", Margin: 4}
	if got := DefaultDesign(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultDesign() = %+v, want %+v", got, want)
	}
	d := DefaultDesign()
	if errs := d.Validate(); len(errs) != 0 {
		t.Errorf("default design invalid: %v", errs)
	}
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   Design
		want Design
	}{
		{"empty", Design{}, Design{Foreground: "#000000", Background: "#FFFFFF", ErrorCorrection: "M"}},
		{"lower case", Design{Foreground: "#1a2b3c", Background: "#fafafa", ErrorCorrection: "q", Margin: 2},
			Design{Foreground: "#1A2B3C", Background: "#FAFAFA", ErrorCorrection: "Q", Margin: 2}},
		{"invalid kept", Design{Foreground: "red", Background: "#ggg", ErrorCorrection: "x", Margin: -3},
			Design{Foreground: "red", Background: "#ggg", ErrorCorrection: "x", Margin: -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.in
			d.Normalize()
			if !reflect.DeepEqual(d, tt.want) {
				t.Errorf("got %+v, want %+v", d, tt.want)
			}
		})
	}
}

// bigPNG is a valid PNG whose header declares w×h pixels.
func bigPNG(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestValidate(t *testing.T) {
	logo := testLogoPNG(t, 64, 64)
	type fe = FieldError
	tests := []struct {
		name string
		d    Design
		want []fe // Message: substring
	}{
		{"empty gets defaults", Design{}, nil},
		{"brand blue", Design{Foreground: "#3b82f6", Background: "#ffffff"}, nil},
		{"exactly black on white H logo", Design{Foreground: "#000000", Background: "#FFFFFF", ErrorCorrection: "H", Logo: logo, Margin: 16}, nil},
		{"jpeg logo", Design{ErrorCorrection: "h", Logo: testLogoJPEG(t, 40, 30)}, nil},
		{"margin 0 ok", Design{Margin: 0}, nil},
		{"bad colours", Design{Foreground: "black", Background: "#FFFFF"},
			[]fe{{"design.foreground", "#RRGGBB"}, {"design.background", "#RRGGBB"}}},
		{"bad hex digit", Design{Foreground: "#00000G"}, []fe{{"design.foreground", "#RRGGBB"}}},
		{"short form not accepted", Design{Background: "#FFF"}, []fe{{"design.background", "#RRGGBB"}}},
		{"low contrast", Design{Foreground: "#999999", Background: "#FFFFFF"}, []fe{{"design.foreground", "2.84:1, at least 3:1"}}},
		{"same colour", Design{Foreground: "#123456", Background: "#123456"}, []fe{{"design.foreground", "1.00:1"}}},
		{"inverted", Design{Foreground: "#FFFFFF", Background: "#000000"}, []fe{{"design.foreground", "darker than the background"}}},
		{"inverted low contrast", Design{Foreground: "#AAAAAA", Background: "#999999"}, []fe{{"design.foreground", "must be the darker"}}},
		{"bad level", Design{ErrorCorrection: "X"}, []fe{{"design.errorCorrection", `"L", "M", "Q" or "H" (either case)`}}},
		{"margin negative", Design{Margin: -1}, []fe{{"design.margin", "between 0 and 16"}}},
		{"margin too big", Design{Margin: 17}, []fe{{"design.margin", "between 0 and 16"}}},
		{"logo needs H", Design{ErrorCorrection: "M", Logo: logo}, []fe{{"design.errorCorrection", `a logo needs error correction "H"`}}},
		{"logo empty EC defaults to M", Design{Logo: logo}, []fe{{"design.errorCorrection", `needs error correction "H"`}}},
		{"logo not image", Design{ErrorCorrection: "H", Logo: []byte("GIF89a....")}, []fe{{"design.logo", "PNG or JPEG"}}},
		{"logo truncated png", Design{ErrorCorrection: "H", Logo: logo[:len(logo)/2]}, []fe{{"design.logo", "not a decodable"}}},
		{"logo broken header", Design{ErrorCorrection: "H", Logo: pngMagic}, []fe{{"design.logo", "not a decodable"}}},
		{"logo broken jpeg", Design{ErrorCorrection: "H", Logo: []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0}}, []fe{{"design.logo", "not a decodable"}}},
		{"logo too large file", Design{ErrorCorrection: "H", Logo: append(append([]byte{}, logo...), make([]byte, MaxLogoBytes)...)},
			[]fe{{"design.logo", "at most 262144 bytes"}}},
		{"logo too many pixels", Design{ErrorCorrection: "H", Logo: bigPNG(t, 3000, 1)}, []fe{{"design.logo", "at most 2048×2048 pixels, got 3000×1"}}},
		{"everything wrong", Design{Foreground: "#FFFFFF", Background: "#FEFEFE", ErrorCorrection: "L", Margin: 99, Logo: []byte("x")},
			[]fe{{"design.foreground", "contrast"}, {"design.errorCorrection", "logo"}, {"design.margin", "between"}, {"design.logo", "PNG or JPEG"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.d
			errs := tt.d.Validate()
			if !reflect.DeepEqual(before, tt.d) {
				t.Errorf("Validate modified the design")
			}
			var got, want []string
			for _, e := range errs {
				got = append(got, e.Field)
			}
			for _, e := range tt.want {
				want = append(want, e.Field)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fields = %q, want %q (errors %v)", got, want, errs)
			}
			for i, e := range errs {
				if !strings.Contains(e.Message, tt.want[i].Message) {
					t.Errorf("%s: %q does not contain %q", e.Field, e.Message, tt.want[i].Message)
				}
			}
		})
	}
}

func TestContrastRatio(t *testing.T) {
	tests := []struct {
		a, b string
		want float64
	}{
		{"#000000", "#FFFFFF", 21},
		{"#FFFFFF", "#000000", 21},
		{"#777777", "#FFFFFF", 4.48},
		{"#3B82F6", "#FFFFFF", 3.68},
		{"#FFFFFF", "#ffffff", 1},
	}
	for _, tt := range tests {
		got, ok := ContrastRatio(tt.a, tt.b)
		if !ok || math.Abs(got-tt.want) > 0.01 {
			t.Errorf("ContrastRatio(%s, %s) = %.3f, %v; want %.2f", tt.a, tt.b, got, ok, tt.want)
		}
	}
	if _, ok := ContrastRatio("#000", "#FFFFFF"); ok {
		t.Error("ContrastRatio accepted #000")
	}
}
