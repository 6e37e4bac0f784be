package qr

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// PNG sizes in pixels.
const (
	MinSize     = 64
	MaxSize     = 4096
	DefaultSize = 512
)

// ErrSize reports a PNG size outside MinSize..MaxSize.
var ErrSize = fmt.Errorf("qr: PNG size must be between %d and %d pixels", MinSize, MaxSize)

// PixelSize is the width (= height) in pixels of the PNG that PNG renders for
// m, design d and requested size: with n = m.Size + 2*d.Margin modules, every
// module is scale = max(1, size/n) pixels (integer division) and the image is
// n*scale pixels square. That is the largest multiple of n not above size,
// except when size < n: then it is n (1 pixel per module) and so larger than
// size. size 0 means DefaultSize. With a logo, versions 7-13 are drawn at
// version 14 (see PNG), which changes n.
func PixelSize(m *Matrix, d Design, size int) int {
	if len(d.Logo) > 0 {
		if lm, err := logoMatrix(m); err == nil {
			m = lm
		}
	}
	n, scale := pngGeometry(m, d.Margin, size)
	return n * scale
}

func pngGeometry(m *Matrix, margin, size int) (n, scale int) {
	if size == 0 {
		size = DefaultSize
	}
	n = m.Size + 2*margin
	return n, max(1, size/n)
}

// PNG writes a PNG image of m, size pixels square or slightly less (see
// PixelSize: every module, quiet zone included, is the same whole number of
// pixels). size 0 means DefaultSize; other values outside MinSize..MaxSize
// give ErrSize. Colours and margin are taken from d (after Normalize);
// contrast is not checked here, call Validate first.
//
// The PNG is written directly, not through image/png, with a pooled zlib
// writer. Without a logo it is a 1-bit, 2-colour palette image (index 0
// background, 1 foreground): one "None"-filtered scanline per module row,
// then "Up"-filtered copies, which are all zero bytes. With a logo (see
// logo.go) it is an 8-bit RGB image built the same way, except for the
// scanlines through the logo.
func PNG(w io.Writer, m *Matrix, d Design, size int) error {
	var logo *Logo
	if len(d.Logo) > 0 {
		var err error
		if logo, err = DecodeLogo(d.Logo); err != nil {
			return fmt.Errorf("qr: logo %w", err)
		}
	}
	return PNGWithLogo(w, m, d, logo, size)
}

// PNGWithLogo is PNG with d.Logo already decoded: logo must be
// DecodeLogo(d.Logo), so that a caller that draws the same logo many times
// decodes it once. It is required when d has a logo; a non-nil logo is
// drawn also when d.Logo is empty, so a caller that holds the decoded logo
// need not hold its file.
func PNGWithLogo(w io.Writer, m *Matrix, d Design, logo *Logo, size int) error {
	if size == 0 {
		size = DefaultSize
	}
	if size < MinSize || size > MaxSize {
		return ErrSize
	}
	d, fg, bg, err := prepare(d)
	if err != nil {
		return err
	}
	if len(d.Logo) > 0 || logo != nil {
		if logo == nil {
			return errors.New("qr: a design with a logo needs the decoded logo")
		}
		return pngWithLogo(w, m, d, logo, fg, bg, size)
	}
	n, scale := pngGeometry(m, d.Margin, size)
	px := n * scale
	stride := (px+7)/8 + 1 // filter byte + packed pixels

	e := pngEncPool.Get().(*pngEnc)
	defer e.release()
	plte := [6]byte{bg.r, bg.g, bg.b, fg.r, fg.g, fg.b}
	e.begin(px, 1, 3, plte[:]) // bit depth 1, palette

	// Scanline buffers: line is one module row, ups is the scale-1
	// Up-filtered copies (filter byte 2, then zeros: "same as the line above").
	e.line = grow(e.line, stride)
	line := e.line
	ups := grow(e.ups, stride*(scale-1))
	e.ups = ups
	clear(ups)
	for i := 0; i < len(ups); i += stride {
		ups[i] = 2
	}
	for y := 0; y < n; y++ {
		clear(line)
		my := y - d.Margin
		if my >= 0 && my < m.Size {
			row := m.mods[my*m.Size : (my+1)*m.Size]
			bits := line[1:]
			for x := 0; x < len(row); {
				if row[x] == 0 {
					x++
					continue
				}
				s := x
				for x < len(row) && row[x] != 0 {
					x++
				}
				setBits(bits, (s+d.Margin)*scale, (x+d.Margin)*scale)
			}
		}
		if _, err := e.zw.Write(line); err != nil {
			return err
		}
		if len(ups) > 0 {
			if _, err := e.zw.Write(ups); err != nil {
				return err
			}
		}
	}
	return e.finish(w)
}

type pngEnc struct {
	buf   bytes.Buffer
	zw    *zlib.Writer
	start int // offset of the IDAT chunk in buf
	line  []byte
	ups   []byte
	tmp   []byte
}

// pngLevel is the zlib level. BestSpeed is 3-5 times faster than the
// default level here and the images stay small, since most of the data are
// runs of zero bytes.
const pngLevel = zlib.BestSpeed

var pngEncPool = sync.Pool{New: func() any {
	zw, err := zlib.NewWriterLevel(io.Discard, pngLevel)
	if err != nil {
		panic(err) // unreachable: constant valid level
	}
	return &pngEnc{zw: zw}
}}

// begin writes the signature, IHDR, PLTE (if plte is not empty) and the
// head of the single IDAT chunk, and points the zlib writer at the buffer:
// scanlines are then written to e.zw.
func (e *pngEnc) begin(px int, depth, colorType byte, plte []byte) {
	buf := &e.buf
	buf.Reset()
	buf.Write(pngMagic)
	var ihdr [13]byte
	binary.BigEndian.PutUint32(ihdr[0:], uint32(px))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(px))
	ihdr[8] = depth
	ihdr[9] = colorType
	// compression 0 (deflate), filter method 0, no interlace
	writeChunk(buf, "IHDR", ihdr[:])
	if len(plte) > 0 {
		writeChunk(buf, "PLTE", plte)
	}
	// IDAT: length and type now, the length patched once the data is known.
	e.start = buf.Len()
	buf.Write([]byte{0, 0, 0, 0, 'I', 'D', 'A', 'T'})
	e.zw.Reset(buf)
}

// finish closes the IDAT and IEND chunks and writes the PNG to w in one call.
func (e *pngEnc) finish(w io.Writer) error {
	if err := e.zw.Close(); err != nil {
		return err
	}
	buf := &e.buf
	b := buf.Bytes()
	binary.BigEndian.PutUint32(b[e.start:], uint32(len(b)-e.start-8))
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(b[e.start+4:]))
	buf.Write(sum[:])
	writeChunk(buf, "IEND", nil)
	_, err := w.Write(buf.Bytes())
	return err
}

// release returns e to the pool, dropping buffers too big to keep around.
func (e *pngEnc) release() {
	if e.buf.Cap() > 1<<20 {
		e.buf = bytes.Buffer{}
	}
	if cap(e.line) > 64<<10 {
		e.line = nil
	}
	if cap(e.ups) > 1<<20 {
		e.ups = nil
	}
	pngEncPool.Put(e)
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// setBits sets bits [from, to) of the MSB-first packed row b.
func setBits(b []byte, from, to int) {
	for from < to && from&7 != 0 {
		b[from>>3] |= 0x80 >> (from & 7)
		from++
	}
	for from+8 <= to {
		b[from>>3] = 0xFF
		from += 8
	}
	for from < to {
		b[from>>3] |= 0x80 >> (from & 7)
		from++
	}
}

func writeChunk(buf *bytes.Buffer, typ string, data []byte) {
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
	copy(hdr[4:], typ)
	start := buf.Len()
	buf.Write(hdr[:])
	buf.Write(data)
	// The CRC is taken from the buffer: handing stack arrays to crc32
	// would move them to the heap.
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE(buf.Bytes()[start+4:]))
	buf.Write(sum[:])
}
