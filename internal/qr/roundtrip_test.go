package qr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The round-trip tests decode rendered images with independent tools:
// zbarimg (Debian zbar-tools) and, for SVG, rsvg-convert (librsvg2-bin) to
// rasterise first. Without them the tests are skipped, unless
// SNAPGLYPH_TEST_DECODER=1, which makes their absence a failure.

func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			msg := fmt.Sprintf("%s not found (apt-get install zbar-tools librsvg2-bin): round-trip decoding not tested", n)
			if os.Getenv("SNAPGLYPH_TEST_DECODER") == "1" {
				t.Fatal(msg + "; SNAPGLYPH_TEST_DECODER=1 requires it")
			}
			t.Skip(msg)
		}
	}
}

// zbarDecode returns what zbarimg reads from the image file. --raw prints the
// data converted to UTF-8 according to the symbol's ECI (no "QR-Code:"
// prefix) followed by one newline, which is removed.
func zbarDecode(file string) (string, error) {
	var out, stderr bytes.Buffer
	cmd := exec.Command("zbarimg", "--nodbus", "--raw", "-q", "-Sdisable", "-Sqrcode.enable", file)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("zbarimg: %v (%s)", err, strings.TrimSpace(stderr.String()))
	}
	s, ok := strings.CutSuffix(out.String(), "\n")
	if !ok {
		return "", fmt.Errorf("zbarimg output %q lacks the final newline", out.String())
	}
	return s, nil
}

type rtCase struct {
	name    string
	typ     string
	content string
}

func roundTripCases() []rtCase {
	lorem := "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "
	utf8Long := strings.Repeat("Grüße, café crème brûlée! 日本語のテキスト 中文 한국어 😀🎉 ", 15) // > 1,000 bytes
	return []rtCase{
		{"url", "url", `{"url":"https://example.com/products/item-12345678"}`},
		{"url-utf8", "url", `{"url":"https://bücher.example/straße?q=日本"}`},
		{"text", "text", `{"text":"Hello, SnapGlyph! 123"}`},
		{"text-utf8", "text", `{"text":"Grüße aus Köln — café, crème brûlée. 😀 🎉 日本語のテキスト 中文 한국어"}`},
		{"text-1000-ascii", "text", fmt.Sprintf(`{"text":%q}`, strings.Repeat(lorem, 9))},
		{"text-1000-utf8", "text", fmt.Sprintf(`{"text":%q}`, utf8Long)},
		{"email", "email", `{"to":"sales+qr@example.com","subject":"Quote, please","body":"Hello,\nI would like 10 units.\nThanks"}`},
		{"email-utf8", "email", `{"to":"info@example.com","subject":"Grüße 😀","body":"日本語"}`},
		{"phone", "phone", `{"number":"+1 (555) 123-4567"}`},
		{"sms", "sms", `{"number":"+1 555 123 4567","message":"Hi: see you at 5; ok?"}`},
		{"sms-utf8", "sms", `{"number":"+81 3 1234 5678","message":"こんにちは 😀"}`},
		{"wifi", "wifi", `{"ssid":"Office;Net","password":"p@ss:w,o\"rd\\1","security":"WPA","hidden":true}`},
		{"wifi-utf8", "wifi", `{"ssid":"Café ☕","security":"none"}`},
		{"vcard", "vcard", `{"firstName":"Ann","lastName":"Lee","organization":"ACME, Inc.","title":"CTO","phones":["+1 555 123 4567"],"emails":["ann@example.com"],"website":"https://example.com","address":{"street":"1 Main St","city":"Springfield","region":"IL","postalCode":"62701","country":"USA"}}`},
		{"vcard-utf8", "vcard", `{"firstName":"Zoë","lastName":"Ångström","organization":"株式会社テスト","address":{"city":"東京","country":"日本"}}`},
	}
}

var designs = []Design{
	{Foreground: "#000000", Background: "#FFFFFF", Margin: 4},
	{Foreground: "#1A3D7C", Background: "#FFF8E7", Margin: 4},
	{Foreground: "#2E7D32", Background: "#FFFFFF", Margin: 2},
}

func TestRoundTrip(t *testing.T) {
	requireTools(t, "zbarimg", "rsvg-convert")
	dir := t.TempDir()
	for ci, c := range roundTripCases() {
		payload, errs := Payload(c.typ, json.RawMessage(c.content))
		if len(errs) > 0 {
			t.Fatalf("%s: %v", c.name, errs)
		}
		for li, level := range []string{"L", "M", "Q", "H"} {
			m, err := Encode(payload, level)
			if err != nil {
				t.Fatalf("%s/%s: %v", c.name, level, err)
			}
			d := designs[(ci+li)%len(designs)]
			d.ErrorCorrection = level
			type variant struct {
				name string
				size int // 0: SVG
				logo bool
			}
			vs := []variant{{"svg", 0, false}}
			for _, size := range []int{64, 512, 2000} {
				vs = append(vs, variant{fmt.Sprint("png", size), size, false})
				if level == "H" {
					vs = append(vs, variant{fmt.Sprint("png", size, "-logo"), size, true})
				}
			}
			for _, v := range vs {
				t.Run(c.name+"/"+level+"/"+v.name, func(t *testing.T) {
					t.Parallel()
					file := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.png", c.name, level, v.name))
					dd := d
					if v.logo {
						dd.Logo = testLogoPNG(t, 256, 256)
					}
					if v.size == 0 {
						var buf bytes.Buffer
						if err := SVG(&buf, m, dd); err != nil {
							t.Fatal(err)
						}
						svgFile := strings.TrimSuffix(file, ".png") + ".svg"
						if err := os.WriteFile(svgFile, buf.Bytes(), 0o644); err != nil {
							t.Fatal(err)
						}
						// 800 px is not a multiple of the module count:
						// crispEdges must still give clean modules.
						out, err := exec.Command("rsvg-convert", "-w", "800", "-o", file, svgFile).CombinedOutput()
						if err != nil {
							t.Fatalf("rsvg-convert: %v %s", err, out)
						}
					} else {
						var buf bytes.Buffer
						if err := PNG(&buf, m, dd, v.size); err != nil {
							t.Fatal(err)
						}
						img, err := png.Decode(bytes.NewReader(buf.Bytes()))
						if err != nil {
							t.Fatal(err)
						}
						px := PixelSize(m, dd, v.size)
						if img.Bounds() != image.Rect(0, 0, px, px) {
							t.Fatalf("image %v, want %d px", img.Bounds(), px)
						}
						data := buf.Bytes()
						// zbar needs about 3 pixels per module; at 64 px a
						// symbol gets 1 or 2. Enlarge by pixel replication
						// (what a screen showing the small image bigger
						// does), which keeps every pixel's value.
						lm := m
						if v.logo {
							lm, _ = logoMatrix(m)
						}
						if scale := px / (lm.Size + 2*dd.Margin); scale < 3 {
							data = enlarge(t, img, (3+scale-1)/scale)
						}
						if err := os.WriteFile(file, data, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					got, err := zbarDecode(file)
					if err != nil {
						t.Fatalf("version %d: %v", m.Version(), err)
					}
					if got != payload {
						t.Fatalf("decoded\n %q\nwant\n %q", got, payload)
					}
				})
			}
		}
	}
}

// enlarge returns img scaled up k times by pixel replication, as PNG.
func enlarge(t *testing.T, img image.Image, k int) []byte {
	b := img.Bounds()
	big := image.NewRGBA(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := 0; y < b.Dy()*k; y++ {
		for x := 0; x < b.Dx()*k; x++ {
			big.Set(x, y, img.At(b.Min.X+x/k, b.Min.Y+y/k))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, big); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRoundTripDarkLogos decodes codes whose logo is dark up to its edges
// (see darkLogos) at 512 px, on versions of every alignment-pattern layout
// a logo is drawn on, among them 35-40, where the cleared area reaches the
// alignment patterns beside it and the logo spans about a quarter of the
// symbol. TestRoundTrip's logo is light at its edges and, with a logo, its
// payloads are drawn only at versions 5, 6, 14, 15, 38 and 40.
func TestRoundTripDarkLogos(t *testing.T) {
	requireTools(t, "zbarimg")
	dir := t.TempDir()
	logos := darkLogos()
	text := strings.Repeat("https://example.com/catalogue/item-0123456789?ref=print&lang=en ", 20)
	for _, v := range []int{14, 21, 28, 35, 36, 37, 38, 39, 40} {
		// The longest prefix of text that Encode puts at version v.
		lo, hi := 1, len(text)
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if m, err := Encode(text[:mid], "H"); err == nil && m.Version() <= v {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		payload := text[:lo]
		m, err := Encode(payload, "H")
		if err != nil || m.Version() != v {
			t.Fatalf("version %d: %d bytes give version %d (%v)", v, lo, m.Version(), err)
		}
		for li, name := range []string{"dark-square", "disc-on-dark", "dark-frame"} {
			t.Run(fmt.Sprintf("v%d/%s", v, name), func(t *testing.T) {
				t.Parallel()
				var lb bytes.Buffer
				if err := png.Encode(&lb, logos[name]); err != nil {
					t.Fatal(err)
				}
				d := designs[(v+li)%len(designs)]
				d.ErrorCorrection = "H"
				d.Logo = lb.Bytes()
				var buf bytes.Buffer
				if err := PNG(&buf, m, d, 512); err != nil {
					t.Fatal(err)
				}
				data := buf.Bytes()
				// As in TestRoundTrip: zbar needs about 3 pixels per module.
				if scale := PixelSize(m, d, 512) / (m.Size + 2*d.Margin); scale < 3 {
					img, err := png.Decode(bytes.NewReader(data))
					if err != nil {
						t.Fatal(err)
					}
					data = enlarge(t, img, (3+scale-1)/scale)
				}
				file := filepath.Join(dir, fmt.Sprintf("v%d-%s.png", v, name))
				if err := os.WriteFile(file, data, 0o644); err != nil {
					t.Fatal(err)
				}
				got, err := zbarDecode(file)
				if err != nil {
					t.Fatal(err)
				}
				if got != payload {
					t.Fatalf("decoded %q, want %q", got, payload)
				}
			})
		}
	}
}
