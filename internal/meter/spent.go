package meter

import (
	"context"
	"sync"
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

	mu   sync.Mutex
	orgs map[string]*spentEntry
}

type spentEntry struct {
	mu      sync.Mutex
	period  string
	stored  snapglyph.Counts // usage_counters' used figures
	flushes uint64           // the recorder's flush count when they were read
	readAt  time.Time
}

// NewSpent returns the view over the database and this node's recorder.
func NewSpent(st Store, rec *usage.Recorder) *Spent {
	return &Spent{store: st, rec: rec, MaxAge: usage.DefaultInterval, Now: time.Now, orgs: make(map[string]*spentEntry)}
}

// Used returns the organisation's usage in the period: stored plus
// buffered. On a database failure it answers from the last figure it read
// (if it is of this period) and returns the error only when it has none.
func (s *Spent) Used(ctx context.Context, orgID, period string) (snapglyph.Counts, error) {
	e := s.entry(orgID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.period == period && s.Now().Sub(e.readAt) < s.MaxAge {
		// Valid while no flush of this node has ended: until then the
		// buffered counts (which include a flush in progress) and the
		// stored figure do not overlap.
		f := s.rec.Flushes.Load()
		if f == e.flushes {
			p := s.rec.Pending(orgID, period)
			if s.rec.Flushes.Load() == f {
				return add(e.stored, p), nil
			}
		}
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
		if e.period == period {
			return add(e.stored, s.rec.Pending(orgID, period)), nil
		}
		return snapglyph.Counts{}, err
	}
	e.period, e.stored, e.flushes, e.readAt = period, stored, flushes, s.Now()
	return total, nil
}

func (s *Spent) entry(orgID string) *spentEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.orgs[orgID]
	if e == nil {
		e = &spentEntry{}
		s.orgs[orgID] = e
	}
	return e
}

func add(a, b snapglyph.Counts) snapglyph.Counts {
	return snapglyph.Counts{APICalls: a.APICalls + b.APICalls, ImageCredits: a.ImageCredits + b.ImageCredits}
}
