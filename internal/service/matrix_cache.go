package service

import (
	"sync"

	"github.com/snapglyph/snapglyph/internal/qr"
)

// matrixCache keeps encoded QR matrices by payload and error-correction
// level: encoding (choosing among eight masks) costs more than rendering,
// and clients fetch the same code's image again and again. Matrices are
// immutable, and the key is the content itself, so an entry can never be
// stale. It holds at most max entries, dropping arbitrary ones when full.
type matrixCache struct {
	mu  sync.Mutex
	m   map[string]*qr.Matrix
	max int
}

func newMatrixCache(max int) *matrixCache {
	return &matrixCache{m: make(map[string]*qr.Matrix), max: max}
}

// encode returns the matrix for payload at level, from the cache if it
// is there.
func (c *matrixCache) encode(payload, level string) (*qr.Matrix, error) {
	key := level + payload
	c.mu.Lock()
	m := c.m[key]
	c.mu.Unlock()
	if m != nil {
		return m, nil
	}
	m, err := qr.Encode(payload, level)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		n := c.max / 8
		for k := range c.m {
			delete(c.m, k)
			if n--; n <= 0 {
				break
			}
		}
	}
	c.m[key] = m
	c.mu.Unlock()
	return m, nil
}
