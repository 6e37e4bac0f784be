package usage

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// floodIP is the i-th distinct address of a flood.
func floodIP(i int) string { return fmt.Sprintf("2001:db8:%x::%x", i>>16, i&0xffff) }

// TestFloodingTenantKeepsOthersAddresses: tenant A's keys are used from
// 50,000 distinct addresses; tenant B's few addresses, recorded among
// them, are buffered and flushed exactly (calls, first and last seen), A
// is held to its share, every call of both is counted, and what A could
// not keep is counted as dropped.
func TestFloodingTenantKeepsOthersAddresses(t *testing.T) {
	s := &fakeSaver{}
	r := New(s, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	bIPs := []string{"192.0.2.1", "192.0.2.2", "2001:db8:b::1"}
	const flood = 50_000
	for i := range flood {
		r.Record("org_a", fmt.Sprintf("key_a%d", i%3), "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, IP: floodIP(i)})
		if i%5000 == 4999 && i > MaxPendingIPsPerOrg { // B's requests arrive once A holds all it may
			for j, ip := range bIPs {
				r.Record("org_b", "key_b", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0.Add(time.Duration(i+j) * time.Millisecond), IP: ip})
			}
		}
	}
	got := r.PendingKeyIPs("key_b")
	if len(got) != len(bIPs) {
		t.Fatalf("tenant B's buffered addresses: %d, want %d", len(got), len(bIPs))
	}
	for j, ip := range bIPs {
		want := snapglyph.IPSeen{First: t0.Add(time.Duration(14999+j) * time.Millisecond), Last: t0.Add(time.Duration(49999+j) * time.Millisecond), Calls: 8}
		if g := got[ip]; g.Calls != want.Calls || !g.First.Equal(want.First) || !g.Last.Equal(want.Last) {
			t.Errorf("tenant B's %s: %+v, want %+v", ip, g, want)
		}
	}
	held := 0
	for k := range 3 {
		held += len(r.PendingKeyIPs(fmt.Sprintf("key_a%d", k)))
	}
	if held != MaxPendingIPsPerOrg || r.IPsDropped.Load() != flood-MaxPendingIPsPerOrg {
		t.Errorf("tenant A holds %d addresses, %d dropped; want %d and %d", held, r.IPsDropped.Load(), MaxPendingIPsPerOrg, flood-MaxPendingIPsPerOrg)
	}
	if a, b := r.Pending("org_a", "2026-11"), r.Pending("org_b", "2026-11"); a.APICalls != flood || b.APICalls != 24 {
		t.Errorf("calls counted: A %d, B %d; want %d and 24 (every call counts, kept address or not)", a.APICalls, b.APICalls, flood)
	}

	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	saved := s.raw[len(s.raw)-1]
	nB, nA := 0, 0
	for k, seen := range saved.KeyIPs {
		if k.KeyID == "key_b" {
			nB++
			if seen.Calls != 8 {
				t.Errorf("flushed %s of tenant B with %d calls, want 8", k.IP, seen.Calls)
			}
		} else {
			nA++
		}
	}
	if nB != len(bIPs) || nA != MaxPendingIPsPerOrg {
		t.Errorf("flushed addresses: B %d, A %d; want %d and %d", nB, nA, len(bIPs), MaxPendingIPsPerOrg)
	}
	if r.Backlog() != 0 || len(r.PendingKeyIPs("key_b")) != 0 {
		t.Error("addresses still pending after the flush")
	}
}

// TestManyFloodingTenantsLeaveTheReserve: enough tenants flood to use up
// the shared pool; a tenant that arrives after still has every address of
// its reserve recorded, and the batch stays within its bound.
func TestManyFloodingTenantsLeaveTheReserve(t *testing.T) {
	r := New(&fakeSaver{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	const floods = 8
	for o := range floods {
		for i := range MaxPendingIPsPerOrg {
			r.Record(fmt.Sprintf("org_%d", o), fmt.Sprintf("key_%d", o), "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, IP: floodIP(i)})
		}
	}
	for i := range ReservedIPsPerOrg {
		r.Record("org_late", "key_late", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, IP: floodIP(i)})
	}
	if n := len(r.PendingKeyIPs("key_late")); n != ReservedIPsPerOrg {
		t.Errorf("the late tenant kept %d addresses, want its reserve of %d", n, ReservedIPsPerOrg)
	}
	if bound := (floods+1)*ReservedIPsPerOrg + MaxSharedPendingIPs; r.Backlog()-3*(floods+1) > bound {
		t.Errorf("%d addresses buffered, more than the bound %d", r.Backlog()-3*(floods+1), bound)
	}
	// One more beyond the reserve finds the shared pool full.
	r.Record("org_late", "key_late", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, IP: "192.0.2.99"})
	if n := len(r.PendingKeyIPs("key_late")); n != ReservedIPsPerOrg {
		t.Errorf("beyond its reserve with the pool full, the late tenant holds %d", n)
	}
}

// TestPendingKeyIPsDoesNotHoldTheRecordLock: while a key's addresses are
// being read, requests of other keys are recorded (the reader holds only
// that key's lock), and the reader sees a consistent copy. Run with -race.
func TestPendingKeyIPsDoesNotHoldTheRecordLock(t *testing.T) {
	r := New(&fakeSaver{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	for i := range 5000 {
		r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, IP: floodIP(i)})
	}
	// Hold key_a's set lock as a slow reader would: other keys go on.
	r.mu.Lock()
	set := r.ips.keys["key_a"]
	r.mu.Unlock()
	set.mu.Lock()
	done := make(chan struct{})
	go func() {
		r.Record("org_b", "key_b", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, IP: "192.0.2.1"})
		close(done)
	}()
	<-done // would block forever if Record waited for key_a's reader
	set.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			r.Record("org_a", "key_a", "2026-11", snapglyph.Counts{APICalls: 1}, snapglyph.LastUse{At: t0, IP: floodIP(i % 6000)})
		}
	}()
	go func() {
		defer wg.Done()
		for range 20 {
			if n := len(r.PendingKeyIPs("key_a")); n < 5000 || n > 6000 {
				t.Errorf("read %d addresses, want 5000 to 6000", n)
				return
			}
		}
	}()
	wg.Wait()
}
