package service

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"github.com/snapglyph/snapglyph/internal/qr"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Image is a rendered QR code.
type Image struct {
	Data        []byte
	ContentType string // image/svg+xml or image/png
	ETag        string // quoted; the same code, format and size give the same bytes and tag
}

// RenderQRCode draws a QR code as "svg" or "png" (size in pixels, 0 for
// the default). Returns EUNPROCESSABL (logo_requires_png) for SVG of a code
// with a logo. Encoded matrices are cached by payload and level.
func (s *Service) RenderQRCode(q *snapglyph.QRCode, format string, size int) (*Image, error) {
	d := designOf(q)
	if format == "svg" && len(d.Logo) > 0 {
		return nil, snapglyph.Reasonf(snapglyph.EUNPROCESSABL, "logo_requires_png",
			"the QR code %q has a logo, and logos are drawn only in PNG: ask for format=png (10 credits)", q.Name)
	}
	img, err := s.Render(q.Payload, d, format, size)
	if err != nil {
		return nil, fmt.Errorf("service: render %s: %w", q.ID, err)
	}
	return img, nil
}

// Render draws a payload with a design, saved or not (the dashboard's
// live preview draws unsaved forms).
func (s *Service) Render(payload string, d qr.Design, format string, size int) (*Image, error) {
	m, err := s.matrices.encode(payload, d.ErrorCorrection)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	img := &Image{ContentType: "image/svg+xml"}
	if format == "png" {
		img.ContentType = "image/png"
		err = qr.PNG(&buf, m, d, size)
	} else {
		err = qr.SVG(&buf, m, d)
	}
	if err != nil {
		return nil, err
	}
	img.Data = buf.Bytes()
	sum := sha256.Sum256(img.Data)
	img.ETag = `"` + hex.EncodeToString(sum[:16]) + `"`
	return img, nil
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
