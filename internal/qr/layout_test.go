package qr

import (
	"bytes"
	"image/png"
	"strings"
	"testing"

	goqr "github.com/piglig/go-qr"
)

func TestLayoutShape(t *testing.T) {
	// Total and H data codewords, ISO/IEC 18004 tables 1 and 7.
	known := map[int][2]int{1: {26, 9}, 2: {44, 16}, 3: {70, 26}, 5: {134, 46}, 7: {196, 66}, 10: {346, 122}, 13: {532, 180}, 20: {1085, 385}, 40: {3706, 1276}}
	for v := 1; v <= 40; v++ {
		l := layoutH(v)
		data := l.raw - l.nBlocks*l.ecc
		if k, ok := known[v]; ok && (l.raw != k[0] || data != k[1]) {
			t.Errorf("v%d: %d codewords, %d data; want %d, %d", v, l.raw, data, k[0], k[1])
		}
		count := make([]int, l.raw)
		for _, b := range l.bit {
			if b >= 0 {
				count[b>>3]++
			}
		}
		perBlock := make([]int, l.nBlocks)
		for k, n := range count {
			if n != 8 {
				t.Fatalf("v%d: codeword %d has %d modules", v, k, n)
			}
			perBlock[l.block[k]]++
		}
		for b, n := range perBlock {
			if n != l.raw/l.nBlocks && n != l.raw/l.nBlocks+1 {
				t.Fatalf("v%d: block %d has %d codewords", v, b, n)
			}
		}
	}
	if l := layoutH(40); l.raw-l.nBlocks*l.ecc != dataCodewords40[3] {
		t.Errorf("v40 H data codewords disagree with dataCodewords40")
	}
}

// gfExp/gfLog: GF(256) with the QR polynomial 0x11D, for checking blocks.
var gfExp, gfLog = func() (e [512]byte, l [256]int) {
	x := 1
	for i := 0; i < 255; i++ {
		e[i] = byte(x)
		l[x] = i
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11D
		}
	}
	for i := 255; i < 512; i++ {
		e[i] = e[i-255]
	}
	return
}()

// TestLayoutMatchesEncoder reads the codewords out of real symbols through
// the layout and checks that every block is a valid Reed-Solomon codeword
// (all syndromes zero): this holds only if the module→bit map and the block
// assignment are both right.
func TestLayoutMatchesEncoder(t *testing.T) {
	for _, plen := range []int{5, 30, 60, 120, 250, 400, 700, 1000, 1273} {
		payload := strings.Repeat("layout check 0123456789 ", 60)[:plen]
		m, err := Encode(payload, "H")
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := PNG(&buf, m, DefaultDesign(), 4*(m.Size+8)); err != nil {
			t.Fatal(err)
		}
		img, _ := png.Decode(&buf)
		res, err := goqr.DecodeDetailed(img)
		if err != nil {
			t.Fatalf("v%d: %v", m.Version(), err)
		}
		l := layoutH(m.Version())
		cws := make([]byte, l.raw)
		for y := 0; y < m.Size; y++ {
			for x := 0; x < m.Size; x++ {
				b := l.bit[y*m.Size+x]
				if b < 0 {
					continue
				}
				if m.Dark(x, y) != maskBit(res.Mask, x, y) {
					cws[b>>3] |= 0x80 >> (b & 7)
				}
			}
		}
		blocks := make([][]byte, l.nBlocks)
		for k, c := range cws {
			blocks[l.block[k]] = append(blocks[l.block[k]], c)
		}
		for bi, blk := range blocks {
			// Data codewords come first in the stream, so a block's
			// codewords are in order: data then ECC.
			for i := 0; i < l.ecc; i++ {
				var s byte
				for _, c := range blk { // Horner at alpha^i
					if s != 0 {
						s = gfExp[gfLog[s]+i]
					}
					s ^= c
				}
				if s != 0 {
					t.Fatalf("v%d block %d: syndrome %d is %d", m.Version(), bi, i, s)
				}
			}
		}
		// The stream starts with the byte-mode indicator 0100.
		if cws[0]>>4 != 4 {
			t.Errorf("v%d: first codeword %08b", m.Version(), cws[0])
		}
	}
}

func maskBit(mask, x, y int) bool {
	switch mask {
	case 0:
		return (x+y)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (x+y)%3 == 0
	case 4:
		return (x/3+y/2)%2 == 0
	case 5:
		return x*y%2+x*y%3 == 0
	case 6:
		return (x*y%2+x*y%3)%2 == 0
	}
	return ((x+y)%2+x*y%3)%2 == 0
}
