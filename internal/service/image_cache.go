package service

import (
	"container/list"
	"sync"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// lru is a least-recently-used cache bounded by the bytes its values
// hold (as reported to add). A value larger than maxEntry is not kept: it
// would evict many others for one entry. Its methods are safe for
// concurrent use.
type lru[V any] struct {
	mu       sync.Mutex
	max      int64
	maxEntry int64
	used     int64
	order    *list.List // front: most recently used; values are *lruEntry[V]
	items    map[string]*list.Element
}

type lruEntry[V any] struct {
	key  string
	val  V
	size int64
}

func newLRU[V any](maxBytes, maxEntry int64) *lru[V] {
	return &lru[V]{max: maxBytes, maxEntry: min(maxEntry, maxBytes), order: list.New(), items: make(map[string]*list.Element)}
}

// get returns the value of key and marks it as recently used.
func (c *lru[V]) get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*lruEntry[V]).val, true
}

// add stores val under key, counting size bytes, and evicts the least
// recently used entries until the cache is within its bound again.
func (c *lru[V]) add(key string, val V, size int64) {
	if size > c.maxEntry {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		old := e.Value.(*lruEntry[V])
		c.used += size - old.size
		old.val, old.size = val, size
		c.order.MoveToFront(e)
	} else {
		c.items[key] = c.order.PushFront(&lruEntry[V]{key: key, val: val, size: size})
		c.used += size
	}
	for c.used > c.max {
		e := c.order.Back()
		old := e.Value.(*lruEntry[V])
		c.order.Remove(e)
		delete(c.items, old.key)
		c.used -= old.size
	}
}

// stats returns the number of entries and the bytes they hold.
func (c *lru[V]) stats() (entries int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items), c.used
}

// flight makes concurrent calls for the same key share one execution: the
// first caller runs fn, the others wait for its result. Twenty-four
// requests for the same uncached image render it once.
type flight[V any] struct {
	mu    sync.Mutex
	calls map[string]*flightCall[V]
}

type flightCall[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func (f *flight[V]) do(key string, fn func() (V, error)) (V, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = make(map[string]*flightCall[V])
	}
	if c, ok := f.calls[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &flightCall[V]{done: make(chan struct{})}
	f.calls[key] = c
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.calls, key)
		f.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	return c.val, c.err
}

// renderSlots bounds the renders (and logo decodes) in flight on a node:
// each can hold tens of megabytes for a fraction of a second, so without a
// bound a burst of them takes the node's memory.
type renderSlots struct {
	ch   chan struct{}
	wait time.Duration
}

func newRenderSlots(n int, wait time.Duration) *renderSlots {
	return &renderSlots{ch: make(chan struct{}, max(n, 1)), wait: wait}
}

// ErrRenderBusy is returned (as a snapglyph.Error, EBUSY / render_busy)
// when no render slot frees up within the wait.
var ErrRenderBusy = snapglyph.Codef(snapglyph.EBUSY, "render_busy",
	"this server is drawing as many images as it can at the moment; try again in a second")

// acquire takes a slot, waiting at most s.wait, and returns the function
// that gives it back (calling it again does nothing).
func (s *renderSlots) acquire() (release func(), err error) {
	select {
	case s.ch <- struct{}{}:
		return sync.OnceFunc(s.release), nil
	default:
	}
	if s.wait <= 0 {
		return nil, ErrRenderBusy
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.ch <- struct{}{}:
		return sync.OnceFunc(s.release), nil
	case <-t.C:
		return nil, ErrRenderBusy
	}
}

func (s *renderSlots) release() { <-s.ch }
