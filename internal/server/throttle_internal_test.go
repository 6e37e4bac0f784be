package server

import (
	"net/netip"
	"testing"
	"time"
)

// TestFailureLimiterBounded: failures from more addresses than the table
// holds never grow it past its bound, and an address that is being
// throttled survives eviction of the refilled ones.
func TestFailureLimiterBounded(t *testing.T) {
	l := newFailureLimiter(100)
	l.max = 10_000
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 100; i++ {
		l.Fail("192.0.2.1", now)
	}
	if _, blocked := l.Blocked("192.0.2.1", now); !blocked {
		t.Fatal("100 failures did not block the address")
	}
	// 50,000 one-off addresses, a second apart: each refills long before
	// the table is full again, so evicting them keeps the blocked one.
	for i := 0; i < 50_000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Fail(a.String(), now.Add(time.Duration(i)*time.Millisecond))
		if n := l.Len(); n > l.max {
			t.Fatalf("%d addresses remembered, more than %d", n, l.max)
		}
	}
	if _, ok := l.buckets[clientKey("192.0.2.1")]; !ok {
		t.Fatal("the throttled address was evicted before addresses that had refilled")
	}
}

// TestFailureLimiterEvictsUnderWideFlood: when every remembered address
// is still throttled, a tenth is dropped at random to make room.
func TestFailureLimiterEvictsUnderWideFlood(t *testing.T) {
	l := newFailureLimiter(1)
	l.max = 1000
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10_000; i++ {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		l.Fail(a.String(), now)
		if n := l.Len(); n > l.max {
			t.Fatalf("%d addresses remembered, more than %d", n, l.max)
		}
	}
	if n := l.Len(); n < l.max*8/10 {
		t.Fatalf("only %d addresses remembered after a wide flood", n)
	}
}

// TestClientKey: IPv6 clients are counted by /64, IPv4 (also mapped into
// IPv6) by address; zones and junk do not make new buckets.
func TestClientKey(t *testing.T) {
	same := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"fe80::1%eth0", "fe80::1%eth1"},
		{"not an address", "\xff\x00"},
	}
	for _, c := range same {
		if clientKey(c[0]) != clientKey(c[1]) {
			t.Errorf("%q and %q are counted apart", c[0], c[1])
		}
	}
	differ := [][2]string{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.1", "192.0.2.2"},
	}
	for _, c := range differ {
		if clientKey(c[0]) == clientKey(c[1]) {
			t.Errorf("%q and %q are counted together", c[0], c[1])
		}
	}
}

// TestRetrySeconds: Retry-After is whole seconds, rounded up, at least 1.
func TestRetrySeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, 600 * time.Millisecond: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := retrySeconds(d); got != want {
			t.Errorf("retrySeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
