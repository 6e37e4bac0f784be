package main

import (
	"os"
	"strings"
	"sync"
	"time"
)

// fileClock reads the current time (RFC 3339) from a file, so tests can
// move the clock of server processes, e.g. across a month boundary. It is
// enabled only by the SNAPGLYPH_FAKE_TIME_FILE variable and re-reads the
// file at most every few milliseconds; the time then advances with the
// real clock from the value read.
type fileClock struct {
	path string

	mu       sync.Mutex
	checked  time.Time // real time the file was last read
	readAt   time.Time // real time its content last changed
	base     time.Time // the file's time at that change
	lastText string
}

func (c *fileClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if now.Sub(c.checked) > 5*time.Millisecond {
		c.checked = now
		if b, err := os.ReadFile(c.path); err == nil {
			text := strings.TrimSpace(string(b))
			if text != c.lastText {
				if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
					c.base, c.lastText = t, text
					c.readAt = now
					return t
				}
			}
		}
		if c.base.IsZero() {
			return now
		}
	}
	return c.base.Add(now.Sub(c.readAt))
}
