package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
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

// OnDraw has f called at the start of every render, its slot held (for
// tests: a render that takes as long as the test needs). Call it before
// the service draws.
func (s *Service) OnDraw(f func()) { s.images.Load().onDraw = f }

// renderVersion is part of every image's key and ETag: change it when the
// renderers' output changes, so clients and caches do not keep old images.
const renderVersion = "1"

// imageKey identifies an image by everything that determines its bytes.
type imageKey struct {
	id      string   // cache key: SHA-256 of the inputs
	etag    string   // quoted, from id
	hasLogo bool     // the design has a logo
	logoSum [32]byte // SHA-256 of the logo file, if any
}

// keyOf computes the key of an image from its inputs, without rendering.
// format is "svg" or "png"; size is normalised (0 is DefaultSize for PNG,
// ignored for SVG).
func keyOf(payload string, d qr.Design, format string, size int) imageKey {
	var sum [32]byte
	if len(d.Logo) > 0 {
		sum = sha256.Sum256(d.Logo)
	}
	return keyWith(payload, d, len(d.Logo) > 0, sum, format, size)
}

// keyWith is keyOf with the logo given by its SHA-256 (d.Logo is not
// read): a stored code's key is computed from its stored hash.
func keyWith(payload string, d qr.Design, hasLogo bool, logoSum [32]byte, format string, size int) imageKey {
	k := imageKey{hasLogo: hasLogo, logoSum: logoSum}
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

// codeKey is the key of a stored code's image, from its LogoSHA256 when
// set (the code may have been read without its logo), else from its logo.
func codeKey(q *snapglyph.QRCode, d qr.Design, format string, size int) (imageKey, error) {
	if q.LogoSHA256 == "" {
		return keyOf(q.Payload, d, format, size), nil
	}
	var sum [32]byte
	if n, err := hex.Decode(sum[:], []byte(q.LogoSHA256)); err != nil || n != len(sum) || len(q.LogoSHA256) != 2*len(sum) {
		return imageKey{}, fmt.Errorf("service: qr code %s: stored logo hash %q is not a hex SHA-256", q.ID, q.LogoSHA256)
	}
	return keyWith(q.Payload, d, true, sum, format, size), nil
}

// ImageTag returns the ETag of the image RenderQRCode would return, from
// the code's stored state alone (its logo's hash, not its logo): a
// conditional request is answered without rendering, and the tag is the
// same on every node. Returns EUNPROCESSABL (logo_requires_png) for SVG of
// a code with a logo.
func (s *Service) ImageTag(q *snapglyph.QRCode, format string, size int) (string, error) {
	if err := checkFormat(q, format); err != nil {
		return "", err
	}
	k, err := codeKey(q, designOf(q), format, size)
	if err != nil {
		return "", err
	}
	return k.etag, nil
}

func checkFormat(q *snapglyph.QRCode, format string) error {
	if format == "svg" && q.HasLogo() {
		return snapglyph.Codef(snapglyph.EUNPROCESSABL, "logo_requires_png",
			"the QR code %q has a logo, and logos are drawn only in PNG: ask for format=png (10 credits)", q.Name)
	}
	return nil
}

// errLogoChanged: the code's logo changed between reading the code and
// reading its logo to draw it.
var errLogoChanged = snapglyph.Codef(snapglyph.ECONFLICT, "qr_code_changed",
	"the QR code's logo changed while its image was being drawn; ask for the image again")

// RenderQRCode draws a QR code as "svg" or "png" (size in pixels, 0 for
// the default). q may have been read without its logo
// (QRCodeWithoutLogo): the logo is then read from the store only when
// neither the image nor the decoded logo is cached. Returns EUNPROCESSABL
// (logo_requires_png) for SVG of a code with a logo, ErrRenderBusy when
// the node is drawing all it can, and ECONFLICT (qr_code_changed) when the
// logo was replaced since q was read.
func (s *Service) RenderQRCode(ctx context.Context, q *snapglyph.QRCode, format string, size int) (*Image, error) {
	if err := checkFormat(q, format); err != nil {
		return nil, err
	}
	d := designOf(q)
	k, err := codeKey(q, d, format, size)
	if err != nil {
		return nil, err
	}
	logo := func() ([]byte, error) {
		if len(q.Logo) > 0 {
			return q.Logo, nil
		}
		// Shared by every request waiting for this render: one client
		// going away does not fail the others.
		b, sum, err := s.db.QRLogo(context.WithoutCancel(ctx), q.OrgID, q.ID)
		if err != nil {
			return nil, err
		}
		if sum != q.LogoSHA256 {
			return nil, errLogoChanged
		}
		return b, nil
	}
	img, err := s.render(k, q.Payload, d, format, size, logo)
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
	return s.render(keyOf(payload, d, format, size), payload, d, format, size,
		func() ([]byte, error) { return d.Logo, nil })
}

// render returns the image of key k, drawing it on a miss; logo returns
// the logo file and is called only when the decoded logo is not cached.
func (s *Service) render(k imageKey, payload string, d qr.Design, format string, size int, logo func() ([]byte, error)) (*Image, error) {
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
		img, err := s.draw(payload, d, k, format, size, logo)
		if err != nil {
			return nil, err
		}
		im.rendered.add(k.id, img, int64(len(img.Data)))
		return img, nil
	})
}

// draw renders an image; the caller holds a render slot.
func (s *Service) draw(payload string, d qr.Design, k imageKey, format string, size int, logoFile func() ([]byte, error)) (*Image, error) {
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
	img := &Image{ContentType: ImageContentType(format), ETag: k.etag}
	if format == "png" {
		var logo *qr.Logo
		if k.hasLogo {
			if logo, err = im.logo(k.logoSum, logoFile); err != nil {
				if snapglyph.ErrorKind(err) != snapglyph.EINTERNAL {
					return nil, err // the store's or errLogoChanged
				}
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

// logo returns the decoded logo whose file has SHA-256 sum, from the
// cache or decoded once however many ask at the same time; file returns
// the logo file and is called only on a miss. The caller holds a render
// slot.
func (im *images) logo(sum [32]byte, file func() ([]byte, error)) (*qr.Logo, error) {
	key := string(sum[:])
	if l, ok := im.logos.get(key); ok {
		return l, nil
	}
	return im.logoFl.do(key, func() (*qr.Logo, error) {
		if l, ok := im.logos.get(key); ok {
			return l, nil
		}
		b, err := file()
		if err != nil {
			return nil, err
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
	return im.logo(sum, func() ([]byte, error) { return b, nil })
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
	utf := downloadName(name)
	if utf == "" {
		utf = ascii
	}
	// An RFC 8187 value keeps its attr-chars: the unreserved ones and !#$&+^`|.
	return fmt.Sprintf(`attachment; filename="%s.%s"; filename*=UTF-8''%s.%s`, ascii, ext, qr.PercentEncode(utf, "!#$&+^`|"), ext)
}

// downloadName is the code's name made a safe file name, as RFC 6266
// §4.3 asks of a recipient, since not every one does it: no path (a slash
// or backslash is a dash), no control or invisible character (a
// right-to-left override would show "exe.png" as "gnp.exe"), one space
// for each run of spaces, no leading dot (a hidden file), at most 100
// characters. "" if nothing is left.
func downloadName(name string) string {
	var b strings.Builder
	n := 0
	for _, c := range strings.Join(strings.Fields(name), " ") {
		switch {
		case n == 100:
			return strings.TrimSpace(b.String())
		case c == '/' || c == '\\':
			c = '-'
		case snapglyph.Hidden(c), b.Len() == 0 && (c == '.' || c == ' '):
			continue
		}
		b.WriteRune(c)
		n++
	}
	return strings.TrimSpace(b.String())
}
