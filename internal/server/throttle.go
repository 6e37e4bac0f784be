package server

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// DefaultAuthFailures is how many failed authentications a client address
// may make per minute (and at once, as a burst) before its failures are
// answered 429 authentication_throttled. A person fixing a typo, or a
// script that retries a few times a second for a minute, stays under it.
const DefaultAuthFailures = 100

// maxThrottled bounds the addresses the limiter remembers, so a flood
// from many addresses cannot grow memory (about 5 MB at most).
const maxThrottled = 65_536

// failureLimiter is a token bucket of failed authentications per client
// address, in memory on each node (the cheap answer to a flood; a flood
// spread over n nodes gets n times the rate, which is still bounded).
// An IPv6 client is counted by its /64, which one host usually controls
// entirely. Its methods are safe for concurrent use; a nil limiter never
// throttles.
type failureLimiter struct {
	rate  float64 // tokens per second
	burst float64
	max   int

	mu      sync.Mutex
	buckets map[netip.Prefix]bucket
}

// epsilon absorbs floating-point rounding: a bucket that has refilled to
// 0.9999999999 has its failure back.
const epsilon = 1e-9

type bucket struct {
	tokens float64
	at     time.Time
}

// newFailureLimiter allows perMinute failures a minute per address, and
// as many at once. perMinute <= 0 returns nil: no limit.
func newFailureLimiter(perMinute int) *failureLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &failureLimiter{
		rate: float64(perMinute) / 60, burst: float64(perMinute), max: maxThrottled,
		buckets: make(map[netip.Prefix]bucket),
	}
}

// clientKey is what an address is counted by: the address itself (IPv4),
// or its /64 (IPv6). An unparsable address (never from net/http) is
// counted as one shared client.
func clientKey(ip string) netip.Prefix {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// refill returns b's tokens at now.
func (l *failureLimiter) refill(b bucket, now time.Time) float64 {
	return min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
}

// wait is how long until a bucket holding tokens (< 1) has one.
func (l *failureLimiter) wait(tokens float64) time.Duration {
	return time.Duration((1 - tokens) / l.rate * float64(time.Second))
}

// Blocked reports whether ip has no failure left, and how long until it
// has one.
func (l *failureLimiter) Blocked(ip string, now time.Time) (time.Duration, bool) {
	if l == nil {
		return 0, false
	}
	k := clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	if !ok {
		return 0, false
	}
	if t := l.refill(b, now); t < 1-epsilon {
		return l.wait(t), true
	}
	return 0, false
}

// Fail spends one failure of ip. It reports false, and how long until a
// failure is allowed again, when none was left: the request is then
// answered 429 instead of 401.
func (l *failureLimiter) Fail(ip string, now time.Time) (time.Duration, bool) {
	if l == nil {
		return 0, true
	}
	k := clientKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[k]
	t := l.burst
	if ok {
		t = l.refill(b, now)
	} else if len(l.buckets) >= l.max {
		l.evictLocked(now)
	}
	if t < 1-epsilon {
		// Refused: the bucket is left as it is, so rounding does not
		// accumulate over many refusals.
		return l.wait(t), false
	}
	l.buckets[k] = bucket{tokens: max(t-1, 0), at: now}
	return 0, true
}

// evictLocked makes room: first the addresses whose bucket has refilled
// (they are as good as absent), then, if that freed less than a tenth,
// a tenth in map order (random).
func (l *failureLimiter) evictLocked(now time.Time) {
	for k, b := range l.buckets {
		if l.refill(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) < l.max-l.max/10 {
			break
		}
		delete(l.buckets, k)
	}
}

// PerMinute returns the failures allowed per minute (0: no limit).
func (l *failureLimiter) PerMinute() int {
	if l == nil {
		return 0
	}
	return int(l.burst)
}

// Len returns the number of addresses remembered.
func (l *failureLimiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retrySeconds is a wait as a Retry-After value: whole seconds, at least 1.
func retrySeconds(d time.Duration) int64 {
	return max(int64(math.Ceil(d.Seconds())), 1)
}
