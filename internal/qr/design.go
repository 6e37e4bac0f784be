package qr

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math"
	"strings"
)

// Limits of a Design.
const (
	DefaultMargin = 4
	MaxMargin     = 16
	// MaxLogoBytes is the largest accepted logo file (256 KiB).
	MaxLogoBytes = 256 << 10
	// MaxLogoDim is the largest accepted logo width and height in pixels. It
	// is checked from the image header before decoding, so a small file that
	// declares a huge image cannot make the server allocate gigabytes.
	MaxLogoDim = 2048
	// MinContrast is the smallest accepted WCAG 2 contrast ratio between
	// foreground and background: 3:1, the WCAG threshold for graphical
	// objects (success criterion 1.4.11).
	MinContrast = 3.0
)

// Design is how a code looks. JSON field names are the API's.
type Design struct {
	Foreground      string `json:"foreground"`      // "#RRGGBB" (hex digits in either case), default "#000000"
	Background      string `json:"background"`      // "#RRGGBB", default "#FFFFFF"
	ErrorCorrection string `json:"errorCorrection"` // "L", "M", "Q", "H" (either case; Normalize makes it upper case); default "M"; "H" required with a logo
	Margin          int    `json:"margin"`          // quiet zone in modules, 0..16; 0 is taken literally
	Logo            []byte `json:"logo,omitempty"`  // PNG or JPEG file (base64 in JSON), at most 256 KiB and 2048×2048 px
}

// DefaultDesign is black on white, error correction M, a 4-module quiet zone
// and no logo. To apply defaults to a request, unmarshal the request's
// "design" object onto DefaultDesign(): fields the client left out keep their
// default, including Margin (whose zero value, 0, is a legal margin and is
// therefore never replaced by Normalize).
func DefaultDesign() Design {
	return Design{Foreground: "#000000", Background: "#FFFFFF", ErrorCorrection: "M", Margin: DefaultMargin}
}

// Normalize fills the empty string fields (colours, error correction) with
// their defaults and canonicalises valid values to upper case ("#ff0000" →
// "#FF0000", "h" → "H"). Invalid values are left as they are for Validate to
// report. Margin and Logo are not touched.
func (d *Design) Normalize() {
	def := DefaultDesign()
	if d.Foreground == "" {
		d.Foreground = def.Foreground
	} else if _, ok := parseColor(d.Foreground); ok {
		d.Foreground = strings.ToUpper(d.Foreground)
	}
	if d.Background == "" {
		d.Background = def.Background
	} else if _, ok := parseColor(d.Background); ok {
		d.Background = strings.ToUpper(d.Background)
	}
	if d.ErrorCorrection == "" {
		d.ErrorCorrection = def.ErrorCorrection
	} else if l, _, err := parseLevel(d.ErrorCorrection); err == nil {
		d.ErrorCorrection = l
	}
}

// Validate reports every problem of the design (as Normalize would leave it;
// d itself is not modified), with paths "design.foreground",
// "design.background", "design.errorCorrection", "design.margin" and
// "design.logo":
//   - colours must be "#RRGGBB";
//   - the foreground must be darker than the background (light-on-dark codes
//     are not read by many scanners) with a WCAG contrast ratio of at least
//     MinContrast (3:1);
//   - margin must be 0..MaxMargin;
//   - a logo must be a PNG or JPEG file of at most MaxLogoBytes that decodes,
//     at most MaxLogoDim pixels wide and high, and needs error correction "H".
//
// Validate decodes the logo completely (with DecodeLogo); ValidateWith
// lets the caller decode it through a cache instead.
func (d *Design) Validate() []FieldError {
	return d.ValidateWith(DecodeLogo)
}

// ValidateWith is Validate with the logo checked by decode, which must
// behave as DecodeLogo (a cache in front of it, for example).
func (d *Design) ValidateWith(decode func([]byte) (*Logo, error)) []FieldError {
	c := *d
	c.Normalize()
	var errs []FieldError
	fg, fgOK := parseColor(c.Foreground)
	if !fgOK {
		errs = append(errs, FieldError{"design.foreground", `must be a colour "#RRGGBB"`})
	}
	bg, bgOK := parseColor(c.Background)
	if !bgOK {
		errs = append(errs, FieldError{"design.background", `must be a colour "#RRGGBB"`})
	}
	if fgOK && bgOK {
		lf, lb := luminance(fg), luminance(bg)
		ratio := (math.Max(lf, lb) + 0.05) / (math.Min(lf, lb) + 0.05)
		switch {
		case lf > lb && ratio >= MinContrast:
			errs = append(errs, FieldError{"design.foreground", "must be darker than the background: many scanners cannot read light-on-dark codes"})
		case ratio < MinContrast:
			errs = append(errs, FieldError{"design.foreground", fmt.Sprintf("contrast with the background is %.2f:1, at least %g:1 is needed (and the foreground must be the darker colour)", math.Floor(ratio*100)/100, MinContrast)})
		}
	}
	if _, _, err := parseLevel(c.ErrorCorrection); err != nil {
		errs = append(errs, FieldError{"design.errorCorrection", `must be "L", "M", "Q" or "H" (either case)`})
	} else if len(c.Logo) > 0 && c.ErrorCorrection != "H" {
		errs = append(errs, FieldError{"design.errorCorrection", `a logo needs error correction "H"`})
	}
	if c.Margin < 0 || c.Margin > MaxMargin {
		errs = append(errs, FieldError{"design.margin", fmt.Sprintf("must be between 0 and %d modules", MaxMargin)})
	}
	if len(c.Logo) > 0 {
		if _, err := decode(c.Logo); err != nil {
			errs = append(errs, FieldError{"design.logo", err.Error()})
		}
	}
	return errs
}

type rgb struct{ r, g, b uint8 }

// parseColor parses "#RRGGBB" (either case).
func parseColor(s string) (rgb, bool) {
	if len(s) != 7 || s[0] != '#' {
		return rgb{}, false
	}
	var v [3]uint8
	for i := range v {
		hi, ok1 := hexVal(s[1+2*i])
		lo, ok2 := hexVal(s[2+2*i])
		if !ok1 || !ok2 {
			return rgb{}, false
		}
		v[i] = hi<<4 | lo
	}
	return rgb{v[0], v[1], v[2]}, true
}

func hexVal(c byte) (uint8, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// luminance is the WCAG 2 relative luminance of an sRGB colour.
func luminance(c rgb) float64 {
	lin := func(v uint8) float64 {
		s := float64(v) / 255
		if s <= 0.04045 {
			return s / 12.92
		}
		return math.Pow((s+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(c.r) + 0.7152*lin(c.g) + 0.0722*lin(c.b)
}

// ContrastRatio is the WCAG 2 contrast ratio (1..21) of two "#RRGGBB"
// colours; ok is false if either does not parse.
func ContrastRatio(a, b string) (ratio float64, ok bool) {
	ca, ok1 := parseColor(a)
	cb, ok2 := parseColor(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	la, lb := luminance(ca), luminance(cb)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05), true
}

type logoError string

func (e logoError) Error() string { return string(e) }

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// decodeLogo checks the limits and decodes a PNG or JPEG logo. Its error
// messages are meant for API clients.
func decodeLogo(b []byte) (image.Image, error) {
	if len(b) > MaxLogoBytes {
		return nil, logoError(fmt.Sprintf("must be at most %d bytes (256 KiB), got %d", MaxLogoBytes, len(b)))
	}
	var (
		cfgFn func([]byte) (image.Config, error)
		decFn func([]byte) (image.Image, error)
	)
	switch {
	case bytes.HasPrefix(b, pngMagic):
		cfgFn = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
		decFn = func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
	case bytes.HasPrefix(b, jpegMagic):
		cfgFn = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
		decFn = func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
	default:
		return nil, logoError("must be a PNG or JPEG image")
	}
	cfg, err := cfgFn(b)
	if err != nil {
		return nil, logoError("is not a decodable PNG or JPEG image")
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > MaxLogoDim || cfg.Height > MaxLogoDim {
		return nil, logoError(fmt.Sprintf("must be at most %d×%d pixels, got %d×%d", MaxLogoDim, MaxLogoDim, cfg.Width, cfg.Height))
	}
	img, err := decFn(b)
	if err != nil {
		return nil, logoError("is not a decodable PNG or JPEG image")
	}
	return img, nil
}

// Logo is a decoded logo, ready to be drawn by PNGWithLogo: its pixels in
// premultiplied RGBA. It is immutable and safe for concurrent use, so a
// caller can decode a logo once and draw it any number of times.
type Logo struct {
	img *image.RGBA
}

// DecodeLogo checks a logo file against the limits of Validate (PNG or
// JPEG, at most MaxLogoBytes and MaxLogoDim×MaxLogoDim pixels) and decodes
// it. Its error messages are meant for API clients. A non-premultiplied
// image (a PNG with transparency) is converted in place, so the decoded
// pixels are held once, not twice.
func DecodeLogo(b []byte) (*Logo, error) {
	img, err := decodeLogo(b)
	if err != nil {
		return nil, err
	}
	return &Logo{img: toRGBA(img)}, nil
}

// MemSize is the number of bytes the decoded logo holds.
func (l *Logo) MemSize() int { return len(l.img.Pix) }

// Bounds is the logo's size in pixels.
func (l *Logo) Bounds() image.Rectangle { return l.img.Bounds() }

// toRGBA returns img as premultiplied RGBA, with the same pixel values as
// draw.Draw(…, draw.Src) would give, reusing an NRGBA image's pixels.
func toRGBA(img image.Image) *image.RGBA {
	switch src := img.(type) {
	case *image.RGBA:
		return src
	case *image.NRGBA:
		pix := src.Pix
		for y := 0; y < src.Rect.Dy(); y++ {
			row := pix[y*src.Stride : y*src.Stride+src.Rect.Dx()*4]
			for i := 0; i < len(row); i += 4 {
				a := uint32(row[i+3]) * 0x101
				row[i+0] = uint8(uint32(row[i+0]) * a / 0xff >> 8)
				row[i+1] = uint8(uint32(row[i+1]) * a / 0xff >> 8)
				row[i+2] = uint8(uint32(row[i+2]) * a / 0xff >> 8)
			}
		}
		return &image.RGBA{Pix: pix, Stride: src.Stride, Rect: src.Rect}
	}
	b := img.Bounds()
	rs := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(rs, rs.Bounds(), img, b.Min, draw.Src)
	return rs
}
