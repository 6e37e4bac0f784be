package service

import (
	"context"
	"testing"
)

// BenchmarkLogoPNG compares, in one run, a logo PNG drawn the way it was
// before the caches (the 2048×2048 logo decoded for every image), a first
// render with the logo already decoded, and a repeated request (a cache
// hit), at 512 and 4096 px.
//
//	go test -run x -bench LogoPNG -benchmem ./internal/service/
func BenchmarkLogoPNG(b *testing.B) {
	q := logoCode(b, bigLogo(b, 2048, 2048, 0x10), "https://example.com/products/item-12345678")
	for _, size := range []int{512, 4096} {
		b.Run(sizeName(size)+"/no-cache", func(b *testing.B) {
			s := New(nil)
			s.SetImageOptions(ImageOptions{CacheBytes: 0, LogoCacheBytes: 0, Renders: 4, RenderWait: -1})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.RenderQRCode(context.Background(), q, "png", size); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(size)+"/logo-cached", func(b *testing.B) {
			s := New(nil)
			s.SetImageOptions(ImageOptions{CacheBytes: 0, LogoCacheBytes: 48 << 20, Renders: 4, RenderWait: -1})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.RenderQRCode(context.Background(), q, "png", size); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(size)+"/repeated", func(b *testing.B) {
			s := New(nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.RenderQRCode(context.Background(), q, "png", size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func sizeName(size int) string {
	return map[int]string{512: "512px", 4096: "4096px"}[size]
}
