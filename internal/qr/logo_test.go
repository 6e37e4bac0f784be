package qr

import (
	"bytes"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"testing"
)

// TestDecodeLogoPixels checks that DecodeLogo's conversion (in place for
// NRGBA) gives exactly the premultiplied pixels of draw.Draw, for every
// kind of image the PNG and JPEG decoders return, with every alpha value.
func TestDecodeLogoPixels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const w, h = 61, 37
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range nrgba.Pix {
		nrgba.Pix[i] = uint8(rng.IntN(256))
	}
	for i := 3; i < 256*4 && i < len(nrgba.Pix); i += 4 {
		nrgba.Pix[i] = uint8(i / 4) // every alpha value at least once
	}
	opaque := image.NewRGBA(image.Rect(0, 0, w, h))
	pal := image.NewPaletted(image.Rect(0, 0, w, h), palette.Plan9)
	gray := image.NewGray16(image.Rect(0, 0, w, h))
	deep := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			opaque.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 6), uint8(x + y), 0xFF})
			pal.SetColorIndex(x, y, uint8(rng.IntN(256)))
			gray.SetGray16(x, y, color.Gray16{uint16(rng.IntN(1 << 16))})
			deep.SetNRGBA64(x, y, color.NRGBA64{uint16(rng.IntN(1 << 16)), 0x8000, 0x1234, uint16(rng.IntN(1 << 16))})
		}
	}
	encPNG := func(img image.Image) []byte {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, opaque, nil); err != nil {
		t.Fatal(err)
	}
	for name, file := range map[string][]byte{
		"nrgba": encPNG(nrgba), "rgba": encPNG(opaque), "paletted": encPNG(pal),
		"gray16": encPNG(gray), "nrgba64": encPNG(deep), "jpeg": jb.Bytes(),
	} {
		t.Run(name, func(t *testing.T) {
			src, err := decodeLogo(file)
			if err != nil {
				t.Fatal(err)
			}
			want := image.NewRGBA(image.Rect(0, 0, w, h))
			draw.Draw(want, want.Bounds(), src, src.Bounds().Min, draw.Src)
			// decodeLogo again: DecodeLogo may convert its own copy in place.
			l, err := DecodeLogo(file)
			if err != nil {
				t.Fatal(err)
			}
			if l.Bounds() != want.Bounds() || l.MemSize() != w*h*4 {
				t.Fatalf("bounds %v, %d bytes; want %v, %d", l.Bounds(), l.MemSize(), want.Bounds(), w*h*4)
			}
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					if got, exp := l.img.RGBAAt(x, y), want.RGBAAt(x, y); got != exp {
						t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, exp)
					}
				}
			}
		})
	}
}

// TestDecodeLogoRefuses checks that DecodeLogo applies Validate's limits.
func TestDecodeLogoRefuses(t *testing.T) {
	big := testLogoPNG(t, 2, 2)
	for name, file := range map[string][]byte{
		"empty":     nil,
		"gif":       []byte("GIF89a\x01\x00\x01\x00"),
		"truncated": big[:len(big)-20],
		"too wide":  testLogoPNG(t, MaxLogoDim+1, 1),
		"too large": append(append([]byte{}, pngMagic...), make([]byte, MaxLogoBytes)...),
	} {
		if l, err := DecodeLogo(file); err == nil {
			t.Errorf("%s: decoded %v, want an error", name, l.Bounds())
		}
	}
}

// TestPNGWithLogoSameBytes checks that drawing a decoded logo gives the
// same file as PNG, which decodes it itself, and that a design with a logo
// but no decoded logo is refused rather than drawn without it.
func TestPNGWithLogoSameBytes(t *testing.T) {
	m, err := Encode("https://example.com/logo", "H")
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultDesign()
	d.ErrorCorrection = "H"
	d.Logo = testLogoPNG(t, 90, 60)
	var a, b bytes.Buffer
	if err := PNG(&a, m, d, 700); err != nil {
		t.Fatal(err)
	}
	l, err := DecodeLogo(d.Logo)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the decoded logo is not changed by drawing it
		b.Reset()
		if err := PNGWithLogo(&b, m, d, l, 700); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("PNGWithLogo differs from PNG")
		}
	}
	if err := PNGWithLogo(&b, m, d, nil, 700); err == nil {
		t.Fatal("a logo design without the decoded logo was drawn")
	}
}
