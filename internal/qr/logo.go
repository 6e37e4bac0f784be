package qr

import (
	"errors"
	"image"
	"io"
	"math"
)

// Logo geometry. A logo hides the modules under it and under its pad; the
// code is still read because error correction H repairs up to ecc/2 wrong
// codewords per Reed-Solomon block. The logo area is therefore sized by the
// damage it does, not only by its share of the area (see placeLogo); the
// limits were checked with zbarimg, jsQR and ZXing-C++ on versions 1-40,
// logos light at their edges and logos dark up to them (a dark square, a
// disc on a dark square, dark frames, a JPEG with a black background) and
// image sizes from 64 to 2000 pixels, those under 3 pixels a module enlarged
// to 3 (TestRoundTrip and TestRoundTripDarkLogos keep a sample of it).
const (
	// logoMaxCover is the largest share of the symbol's area (quiet zone
	// excluded) that the logo and its pad may hide.
	logoMaxCover = 0.15
	// logoBudget is the share of each RS block's correction capacity that
	// the logo may use up; the rest is left for real-world damage (glare,
	// blur, printing defects, a curved surface).
	logoBudget = 0.6
)

// logoBox is where a logo goes: the cleared area in modules (module-aligned,
// centred, odd sides like the symbol's) and the logo's rectangle in pixels of
// the final image.
type logoBox struct {
	mx0, my0, mx1, my1 int             // cleared modules [mx0, mx1) × [my0, my1), symbol coordinates
	logo               image.Rectangle // logo pixels, image coordinates
}

// placeLogo fits a logo of lw0×lh0 pixels, keeping its aspect ratio, in a
// centred, module-aligned area that it clears (logo plus pad):
//   - at most logoMaxCover of the symbol's area;
//   - overlapping no alignment pattern except the central one (for zbar and
//     other decoders that use every alignment pattern to fit their grid);
//   - hitting no RS block with more than logoBudget of what it can correct,
//     counting every codeword with a hidden module as wrong.
//
// The pad is at least one module on each side of the logo. The largest area
// meeting all three is used; ok is false if not even 3×3 modules do.
func placeLogo(version, margin, scale, lw0, lh0 int) (logoBox, bool) {
	size := 17 + 4*version
	l := layoutH(version)
	allowed := int(float64(l.ecc/2) * logoBudget)
	c := int(math.Sqrt(logoMaxCover * float64(size*size)))
	c = min(c, 2*alignmentLimit(version)+1)
	if c%2 == 0 {
		c--
	}
	pad := scale // one module
	for ; c >= 3; c -= 2 {
		avail := c*scale - 2*pad
		if avail < 1 {
			break
		}
		lw, lh := avail, avail
		if lw0 >= lh0 {
			lh = max(1, int(math.Round(float64(avail)*float64(lh0)/float64(lw0))))
		} else {
			lw = max(1, int(math.Round(float64(avail)*float64(lw0)/float64(lh0))))
		}
		odd := func(px int) int { // modules to hold px pixels, rounded up to odd
			k := (px + scale - 1) / scale
			if k%2 == 0 {
				k++
			}
			return min(k, c)
		}
		cw, ch := odd(lw+2*pad), odd(lh+2*pad)
		// Hide the central alignment pattern completely or not at all.
		if cs := centralSpan(version); cs > 0 && cs <= c {
			cw, ch = max(cw, cs), max(ch, cs)
		}
		b := logoBox{mx0: (size - cw) / 2, my0: (size - ch) / 2}
		b.mx1, b.my1 = b.mx0+cw, b.my0+ch
		if l.worstBlockDamage(b.mx0, b.my0, b.mx1, b.my1) > allowed {
			continue
		}
		x := (margin+b.mx0)*scale + (cw*scale-lw)/2
		y := (margin+b.my0)*scale + (ch*scale-lh)/2
		b.logo = image.Rect(x, y, x+lw, y+lh)
		return b, true
	}
	return logoBox{}, false
}

// ErrLogoLevel is returned by PNG for a design with a logo and a matrix not
// encoded at error correction "H".
var ErrLogoLevel = errors.New(`qr: a logo needs error correction "H"`)

// logoMatrix returns the matrix to draw a logo on, re-encoding the payload
// at a larger version where the logo would otherwise be too small or hide
// the central alignment pattern:
//   - versions 1-4 are drawn at version 5: their error correction leaves
//     room for a logo of only 1 to 5 modules;
//   - versions 7-13 have one alignment pattern at the very centre, from which
//     zbar builds its whole sampling grid; hidden by the logo, zbar failed on
//     about 5% of the images. They are drawn at version 14, the smallest
//     whose alignment patterns all lie outside the logo area. Versions 21-27
//     and 35-40 also hide a central pattern, but there decoders predict it
//     from several neighbours and read the codes reliably.
func logoMatrix(m *Matrix) (*Matrix, error) {
	if m.level != "H" {
		return nil, ErrLogoLevel
	}
	if m.payload == "" {
		return m, nil
	}
	switch {
	case m.version < 5:
		return encode(m.payload, "H", 5)
	case m.version >= 7 && m.version <= 13:
		return encode(m.payload, "H", 14)
	}
	return m, nil
}

// pngWithLogo writes an 8-bit RGB PNG: the code with the logo area cleared
// to the background colour and the scaled logo composited over it. Scanlines
// outside the logo are built once per module row and repeated as zero "Up"
// lines, like the 1-bit path; the logo is resampled once into its own buffer.
func pngWithLogo(w io.Writer, m *Matrix, d Design, logo *Logo, fg, bg rgb, size int) error {
	m, err := logoMatrix(m)
	if err != nil {
		return err
	}
	n, scale := pngGeometry(m, d.Margin, size)
	px := n * scale
	lb := logo.Bounds()
	box, ok := placeLogo(m.version, d.Margin, scale, lb.Dx(), lb.Dy())
	if !ok { // not expected: every version has room for at least 3×3 modules
		return errors.New("qr: no room for the logo")
	}
	lr := box.logo
	logoRGB := make([]byte, lr.Dx()*lr.Dy()*3)
	drawLogo(logoRGB, lr.Dx(), lr.Dy(), logo.img, bg)

	e := pngEncPool.Get().(*pngEnc)
	defer e.release()
	e.begin(px, 8, 2, nil) // 8-bit RGB
	stride := px*3 + 1
	e.line = grow(e.line, stride)
	line := e.line
	e.ups = grow(e.ups, stride)
	up := e.ups
	clear(up)
	up[0] = 2 // Up filter, no difference to the line above
	for y := 0; y < n; y++ {
		// The module row, with the cleared area in background colour.
		my := y - d.Margin
		line[0] = 0
		for x := 0; x < n; x++ {
			mx := x - d.Margin
			c := bg
			if m.Dark(mx, my) && !(mx >= box.mx0 && mx < box.mx1 && my >= box.my0 && my < box.my1) {
				c = fg
			}
			p := line[1+x*scale*3 : 1+(x+1)*scale*3]
			for i := 0; i < len(p); i += 3 {
				p[i], p[i+1], p[i+2] = c.r, c.g, c.b
			}
		}
		repeat := false // whether the previous scanline equals line
		for k := 0; k < scale; k++ {
			py := y*scale + k
			var err error
			switch {
			case py >= lr.Min.Y && py < lr.Max.Y:
				// Through the logo: write line with the logo's pixels over
				// it, then put the module row back for the next scanline.
				off := 1 + lr.Min.X*3
				seg := line[off : off+lr.Dx()*3]
				keep := append(e.tmp[:0], seg...)
				copy(seg, logoRGB[(py-lr.Min.Y)*lr.Dx()*3:])
				_, err = e.zw.Write(line)
				copy(seg, keep)
				e.tmp = keep
				repeat = false
			case repeat:
				_, err = e.zw.Write(up)
			default:
				_, err = e.zw.Write(line)
				repeat = true
			}
			if err != nil {
				return err
			}
		}
	}
	return e.finish(w)
}

type tap struct {
	i int
	w float32
}

// filterTaps returns, for every destination index, the source indices and
// weights of a triangle (linear) filter whose support widens with the
// downscaling factor, so that shrinking averages every source pixel and
// enlarging interpolates linearly.
func filterTaps(srcN, dstN int) [][]tap {
	scale := float64(srcN) / float64(dstN)
	support := math.Max(1, scale)
	out := make([][]tap, dstN)
	for d := range out {
		center := (float64(d)+0.5)*scale - 0.5
		lo := int(math.Floor(center-support)) + 1
		hi := int(math.Ceil(center + support))
		var taps []tap
		var sum float64
		for s := lo; s < hi; s++ {
			wt := 1 - math.Abs(float64(s)-center)/support
			if wt <= 0 {
				continue
			}
			i := min(max(s, 0), srcN-1)
			taps = append(taps, tap{i, float32(wt)})
			sum += wt
		}
		if len(taps) == 0 { // cannot happen with support >= 1; stay safe
			taps = []tap{{min(max(int(math.Round(center)), 0), srcN-1), 1}}
			sum = 1
		}
		for k := range taps {
			taps[k].w /= float32(sum)
		}
		out[d] = taps
	}
	return out
}

// drawLogo resamples src to w×h pixels and composites it (source over,
// premultiplied) onto the background colour bg, into dst (RGB, w*h*3 bytes).
func drawLogo(dst []byte, w, h int, rs *image.RGBA, bg rgb) {
	sb := rs.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	xt, yt := filterTaps(sw, w), filterTaps(sh, h)
	acc := make([]float32, sw*4)
	bgr, bgg, bgb := float32(bg.r), float32(bg.g), float32(bg.b)
	for dy, ytaps := range yt {
		clear(acc)
		for _, t := range ytaps {
			off := rs.PixOffset(sb.Min.X, sb.Min.Y+t.i)
			row := rs.Pix[off : off+sw*4]
			for i, v := range row {
				acc[i] += t.w * float32(v)
			}
		}
		out := dst[dy*w*3 : (dy+1)*w*3]
		for dx, xtaps := range xt {
			var cr, cg, cb, ca float32
			for _, t := range xtaps {
				a := acc[t.i*4 : t.i*4+4]
				cr += t.w * a[0]
				cg += t.w * a[1]
				cb += t.w * a[2]
				ca += t.w * a[3]
			}
			k := 1 - ca/255
			o := out[dx*3 : dx*3+3]
			o[0] = clamp8(cr + bgr*k)
			o[1] = clamp8(cg + bgg*k)
			o[2] = clamp8(cb + bgb*k)
		}
	}
}

func clamp8(v float32) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// alignmentCentres returns the row/column coordinates of the alignment
// pattern centres of a version (ISO/IEC 18004 annex E); patterns sit at every
// pair of them except the three that would overlap the finder patterns.
func alignmentCentres(version int) []int {
	if version < 2 {
		return nil
	}
	num := version/7 + 2
	step := 26
	if version != 32 {
		step = (version*4 + num*2 + 1) / (num*2 - 2) * 2
	}
	res := make([]int, num)
	res[0] = 6
	for i, pos := num-1, version*4+17-7; i >= 1; i-- {
		res[i] = pos
		pos -= step
	}
	return res
}

// alignmentLimit is the largest half-side h such that the square
// [ctr-h, ctr+h]² (ctr the symbol's centre module) overlaps no alignment
// pattern other than one that contains the centre module itself.
func alignmentLimit(version int) int {
	size := 17 + 4*version
	ctr := size / 2
	lim := size
	ps := alignmentCentres(version)
	last := len(ps) - 1
	for i, a := range ps {
		for j, b := range ps {
			if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) {
				continue
			}
			if len(ps)%2 == 1 && i == last/2 && j == last/2 {
				continue // the central pattern: hidden by any logo
			}
			lim = min(lim, max(abs(a-ctr), abs(b-ctr))-3)
		}
	}
	return lim
}

// centralSpan is the smallest odd side of a centred square that contains the
// central alignment pattern (versions with an odd number of alignment
// pattern rows, from 7 on), or 0 if there is none.
func centralSpan(version int) int {
	ps := alignmentCentres(version)
	if len(ps) < 3 || len(ps)%2 == 0 {
		return 0
	}
	return 2*(abs(ps[len(ps)/2]-(17+4*version)/2)+2) + 1
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
