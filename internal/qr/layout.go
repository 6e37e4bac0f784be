package qr

import "sync"

// This file maps modules to Reed-Solomon blocks so that the logo area can be
// sized by the damage it does: a logo hides modules, every codeword with a
// hidden module counts as an error, and no block may get more errors than a
// share of what its error correction repairs.

// Error correction H block structure, ISO/IEC 18004 table 9, by version:
// ECC codewords per block and number of blocks.
var (
	eccPerBlockH = [41]int{0, 17, 28, 22, 16, 22, 28, 26, 26, 24, 28, 24, 28, 22, 24, 24, 30, 28, 28, 26, 28, 30, 24, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30}
	blocksH      = [41]int{0, 1, 1, 2, 4, 4, 4, 5, 6, 8, 8, 11, 11, 16, 16, 18, 16, 19, 21, 25, 25, 25, 34, 30, 32, 35, 37, 40, 42, 45, 48, 51, 54, 57, 60, 63, 66, 70, 74, 77, 81}
)

// symbolLayout tells, for each module of a version's symbol, which bit of the
// codeword stream it holds (-1 for function patterns and remainder bits), and
// for each codeword its RS block at level H.
type symbolLayout struct {
	size    int
	raw     int     // total codewords
	bit     []int16 // size*size, row-major: index of the module's bit in the interleaved codeword stream (codeword bit>>3), or -1
	block   []int16 // per codeword
	nBlocks int
	ecc     int // ECC codewords per block
}

var layouts [41]struct {
	once sync.Once
	l    *symbolLayout
}

func layoutH(version int) *symbolLayout {
	e := &layouts[version]
	e.once.Do(func() { e.l = buildLayout(version) })
	return e.l
}

func buildLayout(version int) *symbolLayout {
	size := 17 + 4*version
	fn := make([]bool, size*size)
	rect := func(x0, y0, w, h int) {
		for y := y0; y < y0+h; y++ {
			for x := x0; x < x0+w; x++ {
				fn[y*size+x] = true
			}
		}
	}
	// Finder patterns with separators and format information (and the dark
	// module next to the lower-left finder).
	rect(0, 0, 9, 9)
	rect(size-8, 0, 8, 9)
	rect(0, size-8, 9, 8)
	// Timing patterns.
	rect(6, 0, 1, size)
	rect(0, 6, size, 1)
	// Alignment patterns.
	ps := alignmentCentres(version)
	last := len(ps) - 1
	for i, a := range ps {
		for j, b := range ps {
			if (i == 0 && j == 0) || (i == 0 && j == last) || (i == last && j == 0) {
				continue
			}
			rect(a-2, b-2, 5, 5)
		}
	}
	// Version information.
	if version >= 7 {
		rect(size-11, 0, 3, 6)
		rect(0, size-11, 6, 3)
	}
	dataModules := 0
	for _, f := range fn {
		if !f {
			dataModules++
		}
	}
	l := &symbolLayout{
		size: size, raw: dataModules / 8, bit: make([]int16, size*size),
		nBlocks: blocksH[version], ecc: eccPerBlockH[version],
	}
	// Interleaving: data codewords go round-robin over the blocks (short
	// blocks first lack their last data codeword), then the ECC codewords.
	nb := l.nBlocks
	shortLen := l.raw / nb
	numShort := nb - l.raw%nb
	dataShort := shortLen - l.ecc
	l.block = make([]int16, l.raw)
	for k := range l.block {
		switch {
		case k < dataShort*nb:
			l.block[k] = int16(k % nb)
		case k < dataShort*nb+nb-numShort:
			l.block[k] = int16(numShort + k - dataShort*nb)
		default:
			l.block[k] = int16((k - dataShort*nb - (nb - numShort)) % nb)
		}
	}
	for i := range l.bit {
		l.bit[i] = -1
	}
	// The zig-zag placement: two-column strips from the right, alternately
	// upwards and downwards, skipping the vertical timing pattern.
	bit := 0
	for right := size - 1; right >= 1; right -= 2 {
		if right == 6 {
			right = 5
		}
		upward := (right+1)&2 == 0
		for vert := 0; vert < size; vert++ {
			y := vert
			if upward {
				y = size - 1 - vert
			}
			for j := 0; j < 2; j++ {
				x := right - j
				if fn[y*size+x] {
					continue
				}
				if bit < l.raw*8 {
					l.bit[y*size+x] = int16(bit)
				}
				bit++
			}
		}
	}
	return l
}

// worstBlockDamage is the largest number of codewords of one block that have
// a module in the rectangle [x0, x1) × [y0, y1).
func (l *symbolLayout) worstBlockDamage(x0, y0, x1, y1 int) int {
	seen := make([]bool, l.raw)
	perBlock := make([]int, l.nBlocks)
	worst := 0
	for y := y0; y < y1; y++ {
		for x := x0; x < x1; x++ {
			k := l.bit[y*l.size+x] >> 3 // -1 stays -1
			if k < 0 || seen[k] {
				continue
			}
			seen[k] = true
			b := l.block[k]
			perBlock[b]++
			worst = max(worst, perBlock[b])
		}
	}
	return worst
}
