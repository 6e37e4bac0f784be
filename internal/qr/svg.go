package qr

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// ErrLogoSVG is returned by SVG and AppendSVG for a design with a logo: logos
// are only rendered into PNG images.
var ErrLogoSVG = errors.New("qr: a logo can only be rendered as PNG")

// prepare checks the fields a renderer needs (not contrast: that is
// Validate's job) and returns the normalised design with parsed colours.
func prepare(d Design) (Design, rgb, rgb, error) {
	d.Normalize()
	fg, ok := parseColor(d.Foreground)
	if !ok {
		return d, rgb{}, rgb{}, fmt.Errorf("qr: foreground %q is not a colour #RRGGBB", d.Foreground)
	}
	bg, ok := parseColor(d.Background)
	if !ok {
		return d, rgb{}, rgb{}, fmt.Errorf("qr: background %q is not a colour #RRGGBB", d.Background)
	}
	if d.Margin < 0 || d.Margin > MaxMargin {
		return d, rgb{}, rgb{}, fmt.Errorf("qr: margin %d is outside 0..%d", d.Margin, MaxMargin)
	}
	return d, fg, bg, nil
}

// AppendSVG appends the SVG image of m to dst. The viewBox is in modules,
// quiet zone included, with no width or height attributes (the image scales to
// its container; a rasteriser picks the size). A background <rect> covers the
// whole image and a single <path> draws the dark modules as one sub-path per
// horizontal run of dark modules; shape-rendering="crispEdges" keeps module
// edges sharp. Colours and margin are taken from d (after Normalize); contrast
// is not checked here. A design with a logo gives ErrLogoSVG.
func AppendSVG(dst []byte, m *Matrix, d Design) ([]byte, error) {
	d, _, _, err := prepare(d)
	if err != nil {
		return dst, err
	}
	if len(d.Logo) > 0 {
		return dst, ErrLogoSVG
	}
	n := m.Size + 2*d.Margin
	dst = append(dst, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `" shape-rendering="crispEdges"><rect width="`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `" height="`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, `" fill="`...)
	dst = append(dst, d.Background...) // validated: '#' and 6 hex digits
	dst = append(dst, `"/><path fill="`...)
	dst = append(dst, d.Foreground...)
	dst = append(dst, `" d="`...)

	// Sub-paths "m dx dy h w v1 h-w z": after "z" the current point is the
	// start of the last run, so each move is relative to the previous run.
	px, py := 0, 0
	first := true
	size := m.Size
	for y := 0; y < size; y++ {
		row := m.mods[y*size : (y+1)*size]
		for x := 0; x < size; {
			if row[x] == 0 {
				x++
				continue
			}
			start := x
			for x < size && row[x] != 0 {
				x++
			}
			w := int64(x - start)
			ax, ay := start+d.Margin, y+d.Margin
			if first {
				dst = append(dst, 'M')
				dst = strconv.AppendInt(dst, int64(ax), 10)
				dst = append(dst, ' ')
				dst = strconv.AppendInt(dst, int64(ay), 10)
				first = false
			} else {
				dst = append(dst, 'm')
				dst = strconv.AppendInt(dst, int64(ax-px), 10)
				dst = append(dst, ' ')
				dst = strconv.AppendInt(dst, int64(ay-py), 10)
			}
			px, py = ax, ay
			dst = append(dst, 'h')
			dst = strconv.AppendInt(dst, w, 10)
			dst = append(dst, "v1h-"...)
			dst = strconv.AppendInt(dst, w, 10)
			dst = append(dst, 'z')
		}
	}
	dst = append(dst, "\"/></svg>\n"...)
	return dst, nil
}

var svgPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// SVG writes the image AppendSVG describes to w in one Write call.
func SVG(w io.Writer, m *Matrix, d Design) error {
	bp := svgPool.Get().(*[]byte)
	b, err := AppendSVG((*bp)[:0], m, d)
	if err == nil {
		_, err = w.Write(b)
	}
	if cap(b) <= 1<<20 {
		*bp = b[:0]
		svgPool.Put(bp)
	}
	return err
}
