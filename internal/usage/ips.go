package usage

import (
	"sync"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// The addresses keys are used from are buffered per key (so one key's are
// read without walking anyone else's) and bounded per organisation, so a
// tenant whose keys are used from ever new addresses (IPv6, a botnet)
// cannot grow memory between flushes nor push other tenants' addresses
// out:
//
//   - every organisation may hold ReservedIPsPerOrg addresses whatever the
//     others hold;
//   - beyond that it draws on a pool shared by all, MaxSharedPendingIPs,
//     and holds at most MaxPendingIPsPerOrg in all, so one tenant takes at
//     most a fifth of the pool and others still find room.
//
// A batch therefore holds at most ReservedIPsPerOrg per organisation in it
// (the batch's counters hold an entry per organisation anyway) plus
// MaxSharedPendingIPs. Calls from an address that was not kept are still
// counted; only the address is not recorded (IPsDropped).
const (
	ReservedIPsPerOrg   = 100
	MaxPendingIPsPerOrg = 10_000
	MaxSharedPendingIPs = 50_000
)

// ipSet is one key's buffered addresses. Writers hold the Recorder's lock
// and mu; readers hold mu only, so reading one key's addresses never
// blocks requests of other keys. Once its buffer is swapped out for a
// flush, a set is never written again.
type ipSet struct {
	org string
	mu  sync.Mutex
	ips map[string]snapglyph.IPSeen
}

// ipBuffer is a batch's addresses, by key, with the counts the bounds
// need. It is guarded by the Recorder's lock.
type ipBuffer struct {
	keys   map[string]*ipSet
	perOrg map[string]int
	shared int // addresses held beyond the organisations' reserves
	total  int
}

func newIPBuffer() *ipBuffer {
	return &ipBuffer{keys: make(map[string]*ipSet), perOrg: make(map[string]int)}
}

// add merges a sighting of a key's address; it returns false if the
// address is new and its organisation may hold no more.
func (b *ipBuffer) add(orgID, keyID, ip string, s snapglyph.IPSeen) bool {
	set := b.keys[keyID]
	if set != nil {
		set.mu.Lock()
		defer set.mu.Unlock()
		if o, ok := set.ips[ip]; ok {
			set.ips[ip] = o.Add(s)
			return true
		}
		orgID = set.org // a key belongs to one organisation
	}
	n := b.perOrg[orgID]
	if n >= MaxPendingIPsPerOrg {
		return false
	}
	if n >= ReservedIPsPerOrg {
		if b.shared >= MaxSharedPendingIPs {
			return false
		}
		b.shared++
	}
	b.perOrg[orgID] = n + 1
	b.total++
	if set == nil {
		set = &ipSet{org: orgID, ips: make(map[string]snapglyph.IPSeen)}
		b.keys[keyID] = set // not yet visible to readers: no lock needed
	}
	set.ips[ip] = s
	return true
}

// readInto adds a key's buffered addresses to out.
func (set *ipSet) readInto(out map[string]snapglyph.IPSeen) {
	set.mu.Lock()
	defer set.mu.Unlock()
	for ip, s := range set.ips {
		out[ip] = out[ip].Add(s)
	}
}

// keyIPs returns the buffer as a batch's KeyIPs. Call it only on a buffer
// swapped out for a flush (no writer left).
func (b *ipBuffer) keyIPs() map[snapglyph.KeyIP]snapglyph.IPSeen {
	out := make(map[snapglyph.KeyIP]snapglyph.IPSeen, b.total)
	for keyID, set := range b.keys {
		for ip, s := range set.ips {
			out[snapglyph.KeyIP{KeyID: keyID, IP: ip}] = s
		}
	}
	return out
}
