package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// bigLogo is a w×h PNG logo with transparency (a disc with a soft edge),
// of the kind whose decoding made every logo PNG cost tens of megabytes.
func bigLogo(tb testing.TB, w, h int, tint uint8) []byte {
	tb.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy, r := float64(w)/2, float64(h)/2, float64(min(w, h))/2
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			d := dx*dx + dy*dy
			a := uint8(0)
			switch {
			case d < r*r*0.81:
				a = 0xFF
			case d < r*r:
				a = 0x80
			}
			img.SetNRGBA(x, y, color.NRGBA{tint, 0x30, 0x90, a})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	if b.Len() > qr.MaxLogoBytes {
		tb.Fatalf("test logo is %d bytes", b.Len())
	}
	return b.Bytes()
}

func logoCode(tb testing.TB, logo []byte, payload string) *snapglyph.QRCode {
	return &snapglyph.QRCode{ID: "qr_test", Name: "Menu", Payload: payload,
		Design: snapglyph.QRDesign{Foreground: "#000000", Background: "#FFFFFF", ErrorCorrection: "H", Margin: 4},
		Logo:   logo, LogoType: "image/png"}
}

func TestLRUBoundedInBytes(t *testing.T) {
	c := newLRU[int](1000, 250)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 10_000 {
		c.add(fmt.Sprint(rng.IntN(300)), i, int64(rng.IntN(300)))
		n, used := c.stats()
		var sum int64
		for e := c.order.Front(); e != nil; e = e.Next() {
			sum += e.Value.(*lruEntry[int]).size
		}
		if used > 1000 || used != sum || n != c.order.Len() || n != len(c.items) {
			t.Fatalf("after %d adds: %d entries, used %d, sizes sum to %d", i+1, n, used, sum)
		}
	}
	// The least recently used goes first; a recent get keeps an entry.
	c = newLRU[int](300, 300)
	c.add("a", 1, 100)
	c.add("b", 2, 100)
	c.add("c", 3, 100)
	c.get("a")
	c.add("d", 4, 100)
	if _, ok := c.get("b"); ok {
		t.Error("b was kept; it was the least recently used")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("%s was evicted", k)
		}
	}
	c.add("huge", 5, 301)
	if _, ok := c.get("huge"); ok {
		t.Error("an entry over the per-entry bound was kept")
	}
}

// TestImageTagWithoutRendering checks that the ETag computed from the
// stored state is the one the rendered image carries, the same on another
// node, and different whenever the bytes can differ.
func TestImageTagWithoutRendering(t *testing.T) {
	a, b := New(nil), New(nil) // two nodes; neither touches the database here
	logo := bigLogo(t, 120, 80, 0x10)
	plain := logoCode(t, nil, "https://example.com/a")
	plain.Design.ErrorCorrection = "M"
	withLogo := logoCode(t, logo, "https://example.com/a")
	seen := map[string]string{}
	for _, tt := range []struct {
		q      *snapglyph.QRCode
		format string
		size   int
	}{
		{plain, "svg", 0}, {plain, "png", 0}, {plain, "png", 300}, {plain, "png", 4096},
		{withLogo, "png", 0}, {withLogo, "png", 1000},
	} {
		name := fmt.Sprintf("%s logo=%v %d", tt.format, tt.q.Logo != nil, tt.size)
		tag, err := a.ImageTag(tt.q, tt.format, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		img, err := b.RenderQRCode(context.Background(), tt.q, tt.format, tt.size)
		if err != nil {
			t.Fatal(err)
		}
		if img.ETag != tag {
			t.Errorf("%s: rendered ETag %s, ImageTag %s", name, img.ETag, tag)
		}
		if prev, ok := seen[tag]; ok {
			t.Errorf("%s has the ETag of %s", name, prev)
		}
		seen[tag] = name
	}
	if t0, _ := a.ImageTag(plain, "png", 0); t0 != mustTag(t, a, plain, "png", qr.DefaultSize) {
		t.Error("size 0 and the default size have different ETags")
	}
	// Every input that changes the bytes changes the tag.
	base := mustTag(t, a, withLogo, "png", 512)
	for name, change := range map[string]func(q *snapglyph.QRCode){
		"payload":    func(q *snapglyph.QRCode) { q.Payload += "x" },
		"foreground": func(q *snapglyph.QRCode) { q.Design.Foreground = "#000001" },
		"background": func(q *snapglyph.QRCode) { q.Design.Background = "#FFFFFE" },
		"margin":     func(q *snapglyph.QRCode) { q.Design.Margin = 5 },
		"logo":       func(q *snapglyph.QRCode) { q.Logo = bigLogo(t, 120, 80, 0x11) },
	} {
		q := *withLogo
		change(&q)
		if mustTag(t, a, &q, "png", 512) == base {
			t.Errorf("changing the %s kept the ETag", name)
		}
	}
	if _, err := a.ImageTag(withLogo, "svg", 0); snapglyph.ErrorCode(err) != "logo_requires_png" {
		t.Errorf("SVG of a logo code: %v, want logo_requires_png", err)
	}
}

func mustTag(t *testing.T, s *Service, q *snapglyph.QRCode, format string, size int) string {
	t.Helper()
	tag, err := s.ImageTag(q, format, size)
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

// TestLogoPNGConcurrent is the burst: 24 concurrent logo PNG
// requests at the largest size. The logo is decoded once, the renders in
// flight never exceed the bound, identical requests render once, and the
// memory allocated stays far below one logo decode per request.
func TestLogoPNGConcurrent(t *testing.T) {
	s := New(nil)
	const slots = 4
	s.SetImageOptions(ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: slots, RenderWait: time.Hour})
	var inDraw, peak atomic.Int64
	s.images.Load().onDraw = func() {
		n := inDraw.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		runtime.Gosched()
		inDraw.Add(-1)
	}
	q := logoCode(t, bigLogo(t, 2048, 2048, 0x10), "https://example.com/menu")
	run := func(size func(i int) int) {
		var wg sync.WaitGroup
		errs := make(chan error, 24)
		for i := range 24 {
			wg.Go(func() {
				img, err := s.RenderQRCode(context.Background(), q, "png", size(i))
				if err == nil && !bytes.HasPrefix(img.Data, []byte("\x89PNG")) {
					err = errors.New("not a PNG")
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	// 24 distinct images (one size each): 24 renders, one decode.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	largest := qr.MaxSize
	if raceEnabled {
		largest = 1024
	}
	run(func(i int) int { return largest - i })
	runtime.ReadMemStats(&after)
	if d := s.images.Load().decodes.Load(); d != 1 {
		t.Errorf("the logo was decoded %d times, want 1", d)
	}
	if n := s.images.Load().draws.Load(); n != 24 {
		t.Errorf("%d renders, want 24", n)
	}
	if p := peak.Load(); p > slots {
		t.Errorf("%d renders at once, the bound is %d", p, slots)
	}
	// One decode of a 2048×2048 logo is 16 MiB of pixels (32 before the
	// fix, and once per request); 24 renders at 4096 px need their logo
	// area and output buffers (about 3.5 MiB). Allow 10 MiB per request.
	perRequest := (after.TotalAlloc - before.TotalAlloc) / 24
	t.Logf("allocated %.1f MiB per request", float64(perRequest)/(1<<20))
	if perRequest > 10<<20 {
		t.Errorf("allocated %d MiB per request", perRequest>>20)
	}

	// 24 identical requests for a new image: one render, shared.
	s.images.Load().draws.Store(0)
	run(func(int) int { return largest / 2 })
	if n := s.images.Load().draws.Load(); n != 1 {
		t.Errorf("24 identical requests rendered %d times, want 1", n)
	}
	// And again: served from the cache.
	run(func(int) int { return largest / 2 })
	if n := s.images.Load().draws.Load(); n != 1 {
		t.Errorf("cached image rendered again (%d renders)", n)
	}
}

// TestRenderBusy fills the render slots and checks that other renders are
// refused at once with ErrRenderBusy (RenderWait 0), that cached images are
// still served, and that the slots work again once released.
func TestRenderBusy(t *testing.T) {
	s := New(nil)
	const slots = 4
	s.SetImageOptions(ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: slots, RenderWait: 0})
	q := logoCode(t, bigLogo(t, 300, 300, 0x20), "https://example.com/busy")
	cached, err := s.RenderQRCode(context.Background(), q, "png", 256)
	if err != nil {
		t.Fatal(err)
	}
	entered, gate := make(chan struct{}), make(chan struct{})
	s.images.Load().onDraw = func() {
		entered <- struct{}{}
		<-gate
	}
	results := make(chan error, 24)
	for i := range 24 {
		go func() {
			_, err := s.RenderQRCode(context.Background(), q, "png", 1000+i)
			results <- err
		}()
	}
	for range slots {
		<-entered
	}
	// The 20 others find no slot and are refused without waiting for one.
	for range 24 - slots {
		select {
		case err := <-results:
			if !errors.Is(err, ErrRenderBusy) || snapglyph.ErrorKind(err) != snapglyph.EBUSY {
				t.Fatalf("got %v, want ErrRenderBusy", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a render beyond the bound was not refused")
		}
	}
	if img, err := s.RenderQRCode(context.Background(), q, "png", 256); err != nil || img != cached {
		t.Errorf("cached image while busy: %v", err)
	}
	if _, err := s.DecodeLogo(bigLogo(t, 50, 50, 0x30)); !errors.Is(err, ErrRenderBusy) {
		t.Errorf("logo decode while busy: %v, want ErrRenderBusy", err)
	}
	close(gate)
	for range slots {
		if err := <-results; err != nil {
			t.Fatal(err)
		}
	}
	s.images.Load().onDraw = nil
	if _, err := s.RenderQRCode(context.Background(), q, "png", 999); err != nil {
		t.Fatalf("after the burst: %v", err)
	}
}

// TestDecodeLogoCached checks the service's logo decoder: cached by
// content, qr's message for a bad file, nothing cached for it.
func TestDecodeLogoCached(t *testing.T) {
	s := New(nil)
	logo := bigLogo(t, 200, 100, 0x40)
	for range 3 {
		l, err := s.DecodeLogo(logo)
		if err != nil || l.Bounds().Dx() != 200 {
			t.Fatalf("%v %v", l, err)
		}
	}
	if d := s.images.Load().decodes.Load(); d != 1 {
		t.Errorf("decoded %d times, want 1", d)
	}
	for range 2 {
		if _, err := s.DecodeLogo(logo[:len(logo)/2]); err == nil || err.Error() != "is not a decodable PNG or JPEG image" {
			t.Errorf("truncated logo: %v", err)
		}
	}
	if n, _ := s.images.Load().logos.stats(); n != 1 {
		t.Errorf("%d logos cached, want 1", n)
	}
}

// TestRenderSlotReleasedTwice: giving a slot back twice frees one slot.
func TestRenderSlotReleasedTwice(t *testing.T) {
	s := newRenderSlots(2, 0)
	a, err := s.acquire()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquire(); err != nil {
		t.Fatal(err)
	}
	a()
	a()
	if _, err := s.acquire(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquire(); !errors.Is(err, ErrRenderBusy) {
		t.Fatalf("a third slot of two: %v", err)
	}
}

// TestAttachmentNames: the download name of any QR code's name is one
// header parameter pair: a plain ASCII filename and an RFC 8187 filename*
// of attr-chars and escapes only (no quote, semicolon, equals sign or
// colon a client could read as another parameter), which decodes to the
// name.
func TestAttachmentNames(t *testing.T) {
	for _, name := range []string{"Menu", "Café Menü", `a";filename="evil.html`, "x:y=z;w", "100% (new) <b>", "tab\there", "漢字", "\xff\xfe", strings.Repeat("é", 200)} {
		cd := Attachment(name, "svg")
		plain, ext, ok := strings.Cut(cd, "; filename*=UTF-8''")
		if !ok || !strings.HasPrefix(plain, `attachment; filename="`) || strings.Count(plain, `"`) != 2 {
			t.Errorf("%q: %s", name, cd)
			continue
		}
		for i := 0; i < len(ext); i++ {
			c := ext[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~%", c) >= 0) {
				t.Errorf("%q: filename* holds %q, not an attr-char: %s", name, c, ext)
				break
			}
		}
		if got, err := url.PathUnescape(strings.TrimSuffix(ext, ".svg")); err != nil || got != downloadName(name) {
			t.Errorf("%q: filename* decodes to %q (%v)", name, got, err)
		}
	}
	// The UTF-8 name is the code's, made a safe file name (RFC 6266
	// §4.3): no path, no control or invisible character, no leading dot.
	for name, want := range map[string]string{
		"Café Menü":               "Café Menü",
		"漢字":                      "漢字",
		"tab\there  and\r\nthere": "tab here and there",
		"../../etc/passwd":        "-..-etc-passwd",
		`C:\Windows\evil`:         "C:-Windows-evil",
		"\u202eevil.exe":          "evil.exe",
		"zero\u200bwidth\x01":     "zerowidth",
		".hidden":                 "hidden",
		"nul\x00byte\xff":         "nulbyte\ufffd",
		strings.Repeat("é", 200):  strings.Repeat("é", 100),
	} {
		if got := downloadName(name); got != want {
			t.Errorf("downloadName(%q) = %q, want %q", name, got, want)
		}
	}
	if cd := Attachment("\u202e\u200b", "png"); !strings.HasSuffix(cd, "filename*=UTF-8''qr-code.png") {
		t.Errorf("a name of nothing visible: %s", cd)
	}
}
