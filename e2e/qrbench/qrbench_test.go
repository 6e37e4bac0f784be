package qrbench_test

import (
	"bytes"
	"image/png"
	"io"
	"testing"

	skip2 "github.com/skip2/go-qrcode"

	"github.com/snapglyph/snapglyph/internal/qr"
)

// benchURL is the URL of internal/qr's benchmarks: 42 bytes, version 3 at
// error correction M.
const benchURL = "https://example.com/products/item-12345678"

const size = 512

// TestSameWork checks that the comparison compares like with like: both
// libraries encode the URL as a version 3 symbol at level M into a PNG of
// about 512 pixels square.
func TestSameWork(t *testing.T) {
	m, err := qr.Encode(benchURL, "M")
	if err != nil {
		t.Fatal(err)
	}
	q, err := skip2.New(benchURL, skip2.Medium)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 3 || m.Level() != "M" || q.VersionNumber != 3 || q.Level != skip2.Medium {
		t.Errorf("snapglyph: version %d level %s; skip2: version %d level %v; want 3 and M for both", m.Version(), m.Level(), q.VersionNumber, q.Level)
	}
	var ours bytes.Buffer
	if err := qr.PNG(&ours, m, qr.DefaultDesign(), size); err != nil {
		t.Fatal(err)
	}
	theirs, err := q.PNG(size)
	if err != nil {
		t.Fatal(err)
	}
	// A version 3 symbol is 29 modules, 37 with the quiet zone of 4:
	// ours draws each module 13 pixels (the largest whole number that
	// fits, see qr.PixelSize), skip2 fills 512 pixels exactly.
	for _, c := range []struct {
		name string
		png  []byte
		want int
	}{{"snapglyph", ours.Bytes(), 37 * 13}, {"skip2", theirs, size}} {
		cfg, err := png.DecodeConfig(bytes.NewReader(c.png))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if cfg.Width != c.want || cfg.Height != c.want {
			t.Errorf("%s: %d×%d pixels, want %d square", c.name, cfg.Width, cfg.Height, c.want)
		}
	}
}

// BenchmarkEncodePNG512 encodes the URL at level M and renders a PNG of
// 512 pixels, with each library (skip2 renders through image/png at its
// default compression).
func BenchmarkEncodePNG512(b *testing.B) {
	b.Run("snapglyph", func(b *testing.B) {
		d := qr.DefaultDesign()
		b.ReportAllocs()
		for b.Loop() {
			m, err := qr.Encode(benchURL, "M")
			if err != nil {
				b.Fatal(err)
			}
			if err := qr.PNG(io.Discard, m, d, size); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("skip2", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q, err := skip2.New(benchURL, skip2.Medium)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := q.PNG(size); err != nil {
				b.Fatal(err)
			}
		}
	})
}
