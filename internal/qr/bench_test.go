package qr

import (
	"io"
	"testing"

	skip2 "github.com/skip2/go-qrcode"
)

const benchURL = "https://example.com/products/item-12345678" // 42 bytes: version 3 at M

func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(benchURL, "M"); err != nil {
			b.Fatal(err)
		}
	}
}

func benchMatrix(b *testing.B) *Matrix {
	m, err := Encode(benchURL, "M")
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkSVG(b *testing.B) {
	m, d := benchMatrix(b), DefaultDesign()
	b.ReportAllocs()
	for b.Loop() {
		if err := SVG(io.Discard, m, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPNG512 renders an already encoded matrix.
func BenchmarkPNG512(b *testing.B) {
	m, d := benchMatrix(b), DefaultDesign()
	b.ReportAllocs()
	for b.Loop() {
		if err := PNG(io.Discard, m, d, 512); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePNG512 is encode + render, the same work as the skip2
// baseline below.
func BenchmarkEncodePNG512(b *testing.B) {
	d := DefaultDesign()
	b.ReportAllocs()
	for b.Loop() {
		m, err := Encode(benchURL, "M")
		if err != nil {
			b.Fatal(err)
		}
		if err := PNG(io.Discard, m, d, 512); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPNG512Skip2 is the baseline: github.com/skip2/go-qrcode encoding and
// rendering the same URL (it uses image/png at default compression).
func BenchmarkPNG512Skip2(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		q, err := skip2.New(benchURL, skip2.Medium)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := q.PNG(512); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPNG512Logo(b *testing.B) {
	m, err := Encode(benchURL, "H")
	if err != nil {
		b.Fatal(err)
	}
	d := DefaultDesign()
	d.ErrorCorrection = "H"
	d.Logo = testLogoPNG(b, 200, 120)
	b.ReportAllocs()
	for b.Loop() {
		if err := PNG(io.Discard, m, d, 512); err != nil {
			b.Fatal(err)
		}
	}
}
