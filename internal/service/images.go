package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Image is a rendered QR code. Images come from a cache shared by every
// request: Data must not be modified.
type Image struct {
	Data        []byte
	ContentType string // image/svg+xml or image/png
	ETag        string // quoted; the same code, format and size give the same bytes and tag
}

// ImageOptions bound the memory and CPU that images take on a node.
type ImageOptions struct {
	// CacheBytes bounds the rendered images kept (bytes of image data).
	CacheBytes int64
	// LogoCacheBytes bounds the decoded logos kept (bytes of pixels; a
	// 2048×2048 logo holds 16 MiB).
	LogoCacheBytes int64
	// Renders is how many renders (and logo decodes) may run at once.
	Renders int
	// RenderWait is how long a render waits for a free slot before it is
	// refused with ErrRenderBusy.
	RenderWait time.Duration
}

// DefaultImageOptions: 64 MiB of images, 48 MiB of logos (three of the
// largest), two renders per CPU, and a wait of at most 5 s for a slot (a
// burst of the largest images is queued, not refused, while the memory
// stays bounded by the slots).
func DefaultImageOptions() ImageOptions {
	return ImageOptions{CacheBytes: 64 << 20, LogoCacheBytes: 48 << 20, Renders: 2 * runtime.GOMAXPROCS(0), RenderWait: 5 * time.Second}
}

// maxLogoPixels is the size of the largest decoded logo.
const maxLogoPixels = qr.MaxLogoDim * qr.MaxLogoDim * 4

// images holds the image caches and the bound on renders in flight.
type images struct {
	rendered *lru[*Image]
	logos    *lru[*qr.Logo]
	slots    *renderSlots
	flights  flight[*Image]
	logoFl   flight[*qr.Logo]

	draws, decodes atomic.Int64 // renders and logo decodes done (for tests and metrics)
	onDraw         func()       // tests: called at the start of every render, slot held
}

func newImages(o ImageOptions) *images {
	return &images{
		rendered: newLRU[*Image](o.CacheBytes, o.CacheBytes/4),
		logos:    newLRU[*qr.Logo](o.LogoCacheBytes, maxLogoPixels),
		slots:    newRenderSlots(o.Renders, o.RenderWait),
	}
}

// SetImageOptions replaces the image caches and the render bound. Call it
// before the service is used.
func (s *Service) SetImageOptions(o ImageOptions) { s.images.Store(newImages(o)) }

// renderVersion is part of every image's key and ETag: change it when the
// renderers' output changes, so clients and caches do not keep old images.
const renderVersion = "1"

// imageKey identifies an image by everything that determines its bytes.
type imageKey struct {
	id      string   // cache key: SHA-256 of the inputs
	etag    string   // quoted, from id
	logoSum [32]byte // SHA-256 of the logo file, if any
}

// keyOf computes the key of an image from its inputs, without rendering.
// format is "svg" or "png"; size is normalised (0 is DefaultSize for PNG,
// ignored for SVG).
func keyOf(payload string, d qr.Design, format string, size int) imageKey {
	var k imageKey
	if len(d.Logo) > 0 {
		k.logoSum = sha256.Sum256(d.Logo)
	}
	if format != "png" {
		size = 0
	} else if size == 0 {
		size = qr.DefaultSize
	}
	h := sha256.New()
	for _, f := range []string{renderVersion, format, strconv.Itoa(size), d.Foreground, d.Background,
		d.ErrorCorrection, strconv.Itoa(d.Margin), payload, string(k.logoSum[:])} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		io.WriteString(h, f)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	k.id = string(sum[:])
	k.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return k
}

// ImageTag returns the ETag of the image RenderQRCode would return, from
// the code's stored state alone: a conditional request is answered without
// rendering, and the tag is the same on every node. Returns EUNPROCESSABL
// (logo_requires_png) for SVG of a code with a logo.
func (s *Service) ImageTag(q *snapglyph.QRCode, format string, size int) (string, error) {
	d := designOf(q)
	if err := checkFormat(q, d, format); err != nil {
		return "", err
	}
	return keyOf(q.Payload, d, format, size).etag, nil
}

func checkFormat(q *snapglyph.QRCode, d qr.Design, format string) error {
	if format == "svg" && len(d.Logo) > 0 {
		return snapglyph.Reasonf(snapglyph.EUNPROCESSABL, "logo_requires_png",
			"the QR code %q has a logo, and logos are drawn only in PNG: ask for format=png (10 credits)", q.Name)
	}
	return nil
}

// RenderQRCode draws a QR code as "svg" or "png" (size in pixels, 0 for
// the default). Returns EUNPROCESSABL (logo_requires_png) for SVG of a code
// with a logo, and ErrRenderBusy when the node is drawing all it can.
func (s *Service) RenderQRCode(q *snapglyph.QRCode, format string, size int) (*Image, error) {
	d := designOf(q)
	if err := checkFormat(q, d, format); err != nil {
		return nil, err
	}
	img, err := s.Render(q.Payload, d, format, size)
	if err != nil {
		return nil, fmt.Errorf("service: render %s: %w", q.ID, err)
	}
	return img, nil
}

// Render draws a payload with a design, saved or not (the dashboard's
// live preview draws unsaved forms). Images are cached by content, so a
// repeated request costs a hash and a map lookup; concurrent requests for
// the same image share one render; at most ImageOptions.Renders renders
// run at once, and a render that finds no slot within RenderWait gets
// ErrRenderBusy.
func (s *Service) Render(payload string, d qr.Design, format string, size int) (*Image, error) {
	k := keyOf(payload, d, format, size)
	im := s.images.Load()
	if img, ok := im.rendered.get(k.id); ok {
		return img, nil
	}
	return im.flights.do(k.id, func() (*Image, error) {
		if img, ok := im.rendered.get(k.id); ok {
			return img, nil
		}
		release, err := im.slots.acquire()
		if err != nil {
			return nil, err
		}
		defer release()
		img, err := s.draw(payload, d, k, format, size)
		if err != nil {
			return nil, err
		}
		im.rendered.add(k.id, img, int64(len(img.Data)))
		return img, nil
	})
}

// draw renders an image; the caller holds a render slot.
func (s *Service) draw(payload string, d qr.Design, k imageKey, format string, size int) (*Image, error) {
	im := s.images.Load()
	im.draws.Add(1)
	if im.onDraw != nil {
		im.onDraw()
	}
	m, err := s.matrices.encode(payload, d.ErrorCorrection)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	img := &Image{ContentType: "image/svg+xml", ETag: k.etag}
	if format == "png" {
		img.ContentType = "image/png"
		var logo *qr.Logo
		if len(d.Logo) > 0 {
			if logo, err = im.logo(k.logoSum, d.Logo); err != nil {
				return nil, fmt.Errorf("qr: logo %w", err)
			}
		}
		err = qr.PNGWithLogo(&buf, m, d, logo, size)
	} else {
		err = qr.SVG(&buf, m, d)
	}
	if err != nil {
		return nil, err
	}
	img.Data = buf.Bytes()
	return img, nil
}

// logo returns the decoded logo file b (whose SHA-256 is sum), from the
// cache or decoded once however many ask at the same time. The caller
// holds a render slot.
func (im *images) logo(sum [32]byte, b []byte) (*qr.Logo, error) {
	key := string(sum[:])
	if l, ok := im.logos.get(key); ok {
		return l, nil
	}
	return im.logoFl.do(key, func() (*qr.Logo, error) {
		if l, ok := im.logos.get(key); ok {
			return l, nil
		}
		im.decodes.Add(1)
		l, err := qr.DecodeLogo(b)
		if err != nil {
			return nil, err
		}
		im.logos.add(key, l, int64(l.MemSize()))
		return l, nil
	})
}

// DecodeLogo decodes a logo file as qr.DecodeLogo does, through the same
// cache and the same bound on work in flight as rendering: a form that is
// previewed again and again decodes its logo once. Returns ErrRenderBusy
// when no slot frees up in time, and qr's message for a bad logo.
func (s *Service) DecodeLogo(b []byte) (*qr.Logo, error) {
	sum := sha256.Sum256(b)
	im := s.images.Load()
	if l, ok := im.logos.get(string(sum[:])); ok {
		return l, nil
	}
	release, err := im.slots.acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	return im.logo(sum, b)
}

// AcquireRender takes one of the node's render slots, as Render does,
// for other work of the same weight; call release when done. Returns
// ErrRenderBusy when none frees up within RenderWait.
func (s *Service) AcquireRender() (release func(), err error) {
	return s.images.Load().slots.acquire()
}

// Attachment is the Content-Disposition of a download named after the QR
// code: an ASCII fallback and the exact UTF-8 name (RFC 6266, RFC 8187).
func Attachment(name, ext string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	ascii := strings.Trim(b.String(), "-")
	if ascii == "" {
		ascii = "qr-code"
	}
	return fmt.Sprintf(`attachment; filename="%s.%s"; filename*=UTF-8''%s.%s`, ascii, ext, url.PathEscape(name), ext)
}
