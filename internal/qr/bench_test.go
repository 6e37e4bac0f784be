package qr

import (
	"io"
	"testing"
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

// BenchmarkEncodePNG512 is encode + render. Its comparison with another
// library, which the product does not depend on, is in the e2e module
// (e2e/qrbench).
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
