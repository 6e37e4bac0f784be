package qr

import (
	"errors"
	"fmt"

	goqr "github.com/piglig/go-qr"
)

// ErrTooLong reports a payload that does not fit in a version 40 symbol at the
// requested error correction level. Encode returns it wrapped in a
// *TooLongError; test with errors.Is(err, ErrTooLong) or errors.As.
var ErrTooLong = errors.New("qr: payload too long")

// ErrLevel reports an error correction level other than "L", "M", "Q", "H".
var ErrLevel = errors.New(`qr: error correction must be "L", "M", "Q" or "H"`)

// ErrEmpty reports an empty payload.
var ErrEmpty = errors.New("qr: empty payload")

// TooLongError tells how far a payload is over capacity. Max and Got are
// bytes of the payload (for the all-digit and upper-case alphanumeric
// payloads that are encoded in the denser modes, Max is the capacity in that
// mode, still counted in bytes of the payload).
type TooLongError struct {
	Level string // "L", "M", "Q" or "H"
	Max   int    // the largest payload of this kind that fits in version 40
	Got   int    // len(payload)
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("qr: payload is %d bytes, at most %d fit at error correction %s", e.Got, e.Max, e.Level)
}

// Unwrap makes errors.Is(err, ErrTooLong) true.
func (e *TooLongError) Unwrap() error { return ErrTooLong }

// Matrix is an encoded QR symbol: Size×Size modules without quiet zone.
type Matrix struct {
	Size    int
	version int
	level   string
	mods    []byte // row-major, 1 = dark
	payload string // to re-encode at a larger version for a logo (see PNG)
}

// Dark reports whether module (x, y) is dark; coordinates outside the symbol
// (the quiet zone) are light.
func (m *Matrix) Dark(x, y int) bool {
	return x >= 0 && y >= 0 && x < m.Size && y < m.Size && m.mods[y*m.Size+x] != 0
}

// Version is the QR version, 1..40 (Size = 17 + 4*Version).
func (m *Matrix) Version() int { return m.version }

// Level is the error correction level the symbol was encoded at.
func (m *Matrix) Level() string { return m.level }

// eciUTF8 is the ECI assignment number of UTF-8.
const eciUTF8 = 26

// Encode returns the module matrix for payload at error correction level ec
// ("L", "M", "Q" or "H"). It picks the smallest version that fits, keeps the
// requested level (no automatic boost, so the symbol's format information
// states what the customer chose) and lets the encoder pick the mask with the
// lowest penalty.
//
// Segments: a payload of only digits uses numeric mode, one of only QR
// alphanumeric characters (0-9 A-Z space $%*+-./:) uses alphanumeric mode,
// any other ASCII payload one byte-mode segment, and a payload with non-ASCII
// bytes an ECI 26 (UTF-8) designator followed by one byte-mode segment. Kanji
// mode is never used.
func Encode(payload string, ec string) (*Matrix, error) {
	return encode(payload, ec, goqr.MinVersion)
}

// encode is Encode with a smallest version.
func encode(payload string, ec string, minVersion int) (*Matrix, error) {
	level, lv, err := parseLevel(ec)
	if err != nil {
		return nil, err
	}
	if payload == "" {
		return nil, ErrEmpty
	}
	kind := classify(payload)
	if max := capacity(kind, lv); len(payload) > max {
		return nil, &TooLongError{Level: level, Max: max, Got: len(payload)}
	}
	var segs []*goqr.QrSegment
	switch kind {
	case kindNumeric:
		s, err := goqr.MakeNumeric(payload)
		if err != nil {
			return nil, err
		}
		segs = []*goqr.QrSegment{s}
	case kindAlnum:
		s, err := goqr.MakeAlphanumeric(payload)
		if err != nil {
			return nil, err
		}
		segs = []*goqr.QrSegment{s}
	case kindByte, kindUTF8:
		s, err := goqr.MakeBytes([]byte(payload))
		if err != nil {
			return nil, err
		}
		segs = []*goqr.QrSegment{s}
		if kind == kindUTF8 {
			e, err := goqr.MakeEci(eciUTF8)
			if err != nil {
				return nil, err
			}
			segs = []*goqr.QrSegment{e, s}
		}
	}
	q, err := goqr.EncodeSegments(segs, eccOf[lv], minVersion, goqr.MaxVersion, -1, false)
	if err != nil {
		if errors.Is(err, goqr.ErrDataTooLong) { // not expected: capacity() is exact
			return nil, &TooLongError{Level: level, Max: capacity(kind, lv), Got: len(payload)}
		}
		return nil, fmt.Errorf("qr: encode: %w", err)
	}
	n := q.Size()
	m := &Matrix{Size: n, version: (n - 17) / 4, level: level, mods: make([]byte, n*n), payload: payload}
	for y := 0; y < n; y++ {
		row := m.mods[y*n : (y+1)*n]
		for x := range row {
			if q.Module(x, y) {
				row[x] = 1
			}
		}
	}
	return m, nil
}

var (
	levelNames = [4]string{"L", "M", "Q", "H"}
	eccOf      = [4]goqr.Ecc{goqr.Low, goqr.Medium, goqr.Quartile, goqr.High}
	// dataCodewords40 is the number of data codewords of a version 40 symbol
	// per level (ISO/IEC 18004 table 7).
	dataCodewords40 = [4]int{2956, 2334, 1666, 1276}
)

func parseLevel(ec string) (string, int, error) {
	switch ec {
	case "L", "l":
		return "L", 0, nil
	case "M", "m":
		return "M", 1, nil
	case "Q", "q":
		return "Q", 2, nil
	case "H", "h":
		return "H", 3, nil
	}
	return "", 0, ErrLevel
}

type payloadKind int

const (
	kindNumeric payloadKind = iota
	kindAlnum
	kindByte
	kindUTF8
)

func classify(s string) payloadKind {
	kind := kindNumeric
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return kindUTF8
		case c >= '0' && c <= '9':
		case isAlnumQR(c):
			if kind == kindNumeric {
				kind = kindAlnum
			}
		default:
			kind = kindByte
		}
	}
	return kind
}

func isAlnumQR(c byte) bool {
	switch {
	case c >= '0' && c <= '9', c >= 'A' && c <= 'Z':
		return true
	}
	switch c {
	case ' ', '$', '%', '*', '+', '-', '.', '/', ':':
		return true
	}
	return false
}

// capacity is the largest payload of the given kind (in bytes, which equal
// characters for the ASCII kinds) that fits in version 40 at level lv.
// Version 40 uses the longest character count indicators: 14 bits numeric,
// 13 alphanumeric, 16 byte.
func capacity(kind payloadKind, lv int) int {
	bits := dataCodewords40[lv]*8 - 4 // every segment starts with a 4-bit mode
	switch kind {
	case kindNumeric:
		bits -= 14
		n := bits / 10 * 3 // 10 bits per group of 3 digits
		switch r := bits % 10; {
		case r >= 7:
			n += 2
		case r >= 4:
			n++
		}
		return n
	case kindAlnum:
		bits -= 13
		n := bits / 11 * 2 // 11 bits per pair
		if bits%11 >= 6 {
			n++
		}
		return n
	case kindUTF8:
		bits -= 4 + 8 // ECI mode + 8-bit assignment number
	}
	return (bits - 16) / 8
}
