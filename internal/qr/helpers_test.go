package qr

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// testLogo draws a w×h logo: a red disc on a transparent square with a
// dark-blue bar, colourful enough to exercise the compositing.
func testLogo(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy, r := float64(w)/2, float64(h)/2, float64(min(w, h))/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			switch {
			case dx*dx+dy*dy <= r*r*0.5:
				img.SetNRGBA(x, y, color.NRGBA{0x10, 0x20, 0x90, 0xFF})
			case dx*dx+dy*dy <= r*r:
				img.SetNRGBA(x, y, color.NRGBA{0xE0, 0x30, 0x30, 0xFF})
			default:
				img.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 0})
			}
		}
	}
	return img
}

// darkLogos are logos whose dark pixels reach the image's edges, so that only
// the pad separates them from the modules and alignment patterns around the
// cleared area: a solid dark square, a dark disc on a dark square, and a dark
// frame around a light inside.
func darkLogos() map[string]*image.NRGBA {
	const n = 256
	out := map[string]*image.NRGBA{}
	for _, name := range []string{"dark-square", "disc-on-dark", "dark-frame"} {
		img := image.NewNRGBA(image.Rect(0, 0, n, n))
		for y := 0; y < n; y++ {
			for x := 0; x < n; x++ {
				dx, dy := float64(x)+0.5-n/2, float64(y)+0.5-n/2
				inDisc := dx*dx+dy*dy <= n*n/5
				edge := min(x, y, n-1-x, n-1-y) < n/10
				c := color.NRGBA{0x10, 0x10, 0x10, 0xFF}
				switch {
				case name == "disc-on-dark" && !inDisc:
					c = color.NRGBA{0x20, 0x20, 0x50, 0xFF}
				case name == "dark-frame" && !edge:
					c = color.NRGBA{0xF0, 0xF0, 0xF0, 0xFF}
				}
				img.SetNRGBA(x, y, c)
			}
		}
		out[name] = img
	}
	return out
}

func testLogoPNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, testLogo(w, h)); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func testLogoJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testLogo(w, h), &jpeg.Options{Quality: 85}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}
