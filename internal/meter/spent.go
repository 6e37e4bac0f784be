package meter

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// Spent tells what organisations have really spent in a period, as the
// customer is shown it: the usage every node has flushed to the database
// plus what this node has buffered and not yet flushed. (The allowance
// the meter holds is no measure of it: other nodes' unspent leases are
// reserved, not spent.) Every node therefore reports the same figures, to
// within the flush interval.
//
// The stored figure is kept per organisation and read again only when
// this node has flushed since (the buffered counts then moved into the
// database) or when it is older than MaxAge (other nodes have flushed),
// so a request costs no database read, only a map lookup.
type Spent struct {
	store Store
	rec   *usage.Recorder
	// MaxAge is how long a stored figure is used before it is read again;
	// set it to the flush interval.
	MaxAge time.Duration
	// Now returns the current time; tests replace it.
	Now func() time.Time

	orgs sync.Map // organisation id → *spentEntry; read on every request
}

type spentEntry struct {
	mu   sync.Mutex // held while the figure is read again
	snap atomic.Pointer[spentSnap]
}

// spentSnap is a stored figure as read; it is never modified, so requests
// read it without a lock.
type spentSnap struct {
	period  string
	stored  snapglyph.Counts // usage_counters' used figures
	flushes uint64           // the recorder's flush count when they were read
	readAt  time.Time
}

// NewSpent returns the view over the database and this node's recorder.
func NewSpent(st Store, rec *usage.Recorder) *Spent {
	return &Spent{store: st, rec: rec, MaxAge: usage.DefaultInterval, Now: time.Now}
}

// Used returns the organisation's usage in the period: stored plus
// buffered. On a database failure it answers from the last figure it read
// (if it is of this period) and returns the error only when it has none.
func (s *Spent) Used(ctx context.Context, orgID, period string) (snapglyph.Counts, error) {
	e := s.entry(orgID)
	if u, ok := s.cached(e.snap.Load(), orgID, period); ok {
		return u, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.snap.Load()
	if u, ok := s.cached(old, orgID, period); ok {
		return u, nil // another request read it meanwhile
	}
	var stored snapglyph.Counts
	var flushes uint64
	total, err := s.rec.Used(orgID, period, func() (snapglyph.Counts, error) {
		// Used calls this between flushes and retries if one ran, so
		// the flush count read here belongs to the figure read.
		flushes = s.rec.Flushes.Load()
		u, err := s.store.Usage(ctx, orgID, period)
		stored = u.Used
		return u.Used, err
	})
	if err != nil {
		if old != nil && old.period == period {
			return add(old.stored, s.rec.Pending(orgID, period)), nil
		}
		return snapglyph.Counts{}, err
	}
	e.snap.Store(&spentSnap{period: period, stored: stored, flushes: flushes, readAt: s.Now()})
	return total, nil
}

// cached answers from the snapshot if it is of the period, younger than
// MaxAge, and no flush of this node has ended since it was read: until
// then the buffered counts (which include a flush in progress) and the
// stored figure do not overlap.
func (s *Spent) cached(snap *spentSnap, orgID, period string) (snapglyph.Counts, bool) {
	if snap == nil || snap.period != period || s.Now().Sub(snap.readAt) >= s.MaxAge {
		return snapglyph.Counts{}, false
	}
	if s.rec.Flushes.Load() != snap.flushes {
		return snapglyph.Counts{}, false
	}
	p := s.rec.Pending(orgID, period)
	if s.rec.Flushes.Load() != snap.flushes {
		return snapglyph.Counts{}, false
	}
	return add(snap.stored, p), true
}

func (s *Spent) entry(orgID string) *spentEntry {
	if e, ok := s.orgs.Load(orgID); ok {
		return e.(*spentEntry)
	}
	e, _ := s.orgs.LoadOrStore(orgID, &spentEntry{})
	return e.(*spentEntry)
}

func add(a, b snapglyph.Counts) snapglyph.Counts {
	return snapglyph.Counts{APICalls: a.APICalls + b.APICalls, ImageCredits: a.ImageCredits + b.ImageCredits}
}
