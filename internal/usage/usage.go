// Package usage buffers what requests spend and when keys were last used,
// and writes it to the database in the background, so no request waits
// for a write. A failed flush keeps its batch for the next one; the final
// flush runs when the node stops.
package usage

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Saver is what the recorder writes to; *store.DB has it. SaveUsage
// writes the batch, except rows the database refuses for their data,
// which it returns in dropped; on error it has written nothing.
type Saver interface {
	SaveUsage(ctx context.Context, b *snapglyph.UsageBatch) (dropped []snapglyph.DroppedUsage, err error)
}

// DefaultInterval is how often buffered usage is flushed.
const DefaultInterval = time.Second

// Recorder buffers usage. Its methods are safe for concurrent use.
type Recorder struct {
	saver    Saver
	log      *slog.Logger
	Interval time.Duration

	mu      sync.Mutex
	pending *snapglyph.UsageBatch
	// flushing is the batch being written, or the one whose write failed
	// (the next flush writes it again, with its id); either way still
	// counted by Pending.
	flushing *snapglyph.UsageBatch
	// ips and flushingIPs are the addresses of pending and flushing
	// (their KeyIPs stay empty until the flush fills flushing's).
	ips, flushingIPs *ipBuffer
	// refused are the allowances this node has refused requests for.
	refused map[refusalKey]*refusal
	// inflight are the units charged to organisations (by id and period)
	// by requests still running on this node: admitted, not yet recorded
	// (Admit). Pending counts them, so that concurrent requests each see
	// the others' units in their remaining figures.
	inflight map[snapglyph.PeriodKey]snapglyph.Counts
	// flushing1 holds a token while a flush runs: one flush at a time, as
	// a lock a caller's deadline can give up waiting for (a flush stuck
	// on a database that hangs must not hold a graceful stop forever).
	flushing1 chan struct{}
	// epoch is odd while a flush runs and moves at its start and end, so
	// Used can tell whether the database read raced with a flush.
	epoch atomic.Uint64

	// shut is what Shutdown left (shutNot, shutDone, shutLost), for Run's
	// end.
	shut atomic.Int32

	// Flushes and FlushErrors count flushes, for metrics; LastFlush is
	// the duration of the last one in nanoseconds. RowsDropped counts the
	// rows the database refused for their data, which were dropped so as
	// not to hold back the rest. IPsDropped counts the key addresses not
	// recorded because their organisation's share of a batch was full
	// (see ReservedIPsPerOrg).
	Flushes, FlushErrors, RowsDropped, IPsDropped atomic.Uint64
	LastFlush                                     atomic.Int64
}

// New returns a recorder writing to s.
func New(s Saver, log *slog.Logger) *Recorder {
	return &Recorder{saver: s, log: log, Interval: DefaultInterval, pending: newBatch(), ips: newIPBuffer(), refused: map[refusalKey]*refusal{},
		inflight: map[snapglyph.PeriodKey]snapglyph.Counts{}, flushing1: make(chan struct{}, 1)}
}

func newBatch() *snapglyph.UsageBatch {
	return &snapglyph.UsageBatch{
		Orgs:     make(map[snapglyph.PeriodKey]snapglyph.Counts),
		Keys:     make(map[snapglyph.PeriodKey]snapglyph.Counts),
		LastUsed: make(map[string]snapglyph.LastUse),
		KeyDays:  make(map[snapglyph.PeriodKey]snapglyph.Counts),
		KeyIPs:   make(map[snapglyph.KeyIP]snapglyph.IPSeen),
		Refused:  make(map[snapglyph.PeriodKey]snapglyph.Counts),
	}
}

// Record adds one request's spending and the key's last use: to the
// period's counters, the key's day (use.At's UTC day) and the key's
// address (use.IP). A request charged in a later period than the one it
// arrived in (it was in flight at midnight on the 1st) is counted on that
// period's first day, so a key's days add up to its month.
func (r *Recorder) Record(orgID, keyID, period string, c snapglyph.Counts, use snapglyph.LastUse) {
	day := snapglyph.Day(use.At)
	if !strings.HasPrefix(day, period) { // "2026-11-30", "2026-11"
		day = period + "-01"
	}
	r.mu.Lock()
	r.admitLocked(orgID, period, snapglyph.Counts{APICalls: -c.APICalls, ImageCredits: -c.ImageCredits})
	addCounts(r.pending.Orgs, snapglyph.PeriodKey{ID: orgID, Period: period}, c)
	addCounts(r.pending.Keys, snapglyph.PeriodKey{ID: keyID, Period: period}, c)
	addCounts(r.pending.KeyDays, snapglyph.PeriodKey{ID: keyID, Period: day}, c)
	keepLatest(r.pending.LastUsed, keyID, use)
	if use.IP != "" && !r.ips.add(orgID, keyID, use.IP, snapglyph.IPSeen{First: use.At, Last: use.At, Calls: c.APICalls}) {
		r.IPsDropped.Add(1)
	}
	r.mu.Unlock()
}

// Admit adds c to the units of an organisation's period charged by
// requests still running here (the meter calls it as it charges, with
// negative counts as it gives units back); Record takes recorded units
// off again, in the same step as it adds them to the buffer, so a unit is
// counted by Pending exactly once from its charge on. The counts never go
// below zero (a unit recorded that was not admitted here).
func (r *Recorder) Admit(orgID, period string, c snapglyph.Counts) {
	r.mu.Lock()
	r.admitLocked(orgID, period, c)
	r.mu.Unlock()
}

func (r *Recorder) admitLocked(orgID, period string, c snapglyph.Counts) {
	k := snapglyph.PeriodKey{ID: orgID, Period: period}
	n, ok := r.inflight[k]
	if !ok && c.APICalls <= 0 && c.ImageCredits <= 0 {
		return
	}
	n.APICalls = max(n.APICalls+c.APICalls, 0)
	n.ImageCredits = max(n.ImageCredits+c.ImageCredits, 0)
	if n == (snapglyph.Counts{}) {
		delete(r.inflight, k)
		return
	}
	r.inflight[k] = n
}

// RefusalGrace is how long a node refuses an organisation's spent
// allowance before the organisation is told by the refusals themselves.
// In that time every node has flushed the calls that spent it, so the
// usual way (its recorded use reaching the limit) tells it first, with
// the full count; the refusals tell it when the use recorded stays below
// the limit (a node stopped without handing back the allowance it held).
const RefusalGrace = 30 * time.Second

type refusalKey struct {
	org, period string
	counter     snapglyph.Counter
}

// refusal is when this node first refused an allowance, and whether its
// refusals have gone with a flush (then the organisation is told, and a
// later flush need not tell the store again).
type refusal struct {
	since time.Time
	told  bool
}

// RecordRefusal notes a request of the organisation refused at at
// because nothing was left of the counter's allowance. Once this node has
// refused it for RefusalGrace, the refusal goes with the next flush (once
// a period: a failed flush keeps its batch), which tells the organisation
// that the allowance is spent.
func (r *Recorder) RecordRefusal(orgID, period string, c snapglyph.Counter, at time.Time) {
	k := refusalKey{orgID, period, c}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.refused[k]
	switch {
	case !ok:
		for old := range r.refused {
			if old.period != period { // a month ago: its allowance renewed
				delete(r.refused, old)
			}
		}
		r.refused[k] = &refusal{since: at}
	case !f.told && at.Sub(f.since) >= RefusalGrace:
		f.told = true
		n := snapglyph.Counts{APICalls: 1}
		if c == snapglyph.ImageCredits {
			n = snapglyph.Counts{ImageCredits: 1}
		}
		addCounts(r.pending.Refused, snapglyph.PeriodKey{ID: orgID, Period: period}, n)
	}
}

func addCounts(m map[snapglyph.PeriodKey]snapglyph.Counts, k snapglyph.PeriodKey, c snapglyph.Counts) {
	o := m[k]
	o.APICalls += c.APICalls
	o.ImageCredits += c.ImageCredits
	m[k] = o
}

// keepLatest records a key's use unless a later one is recorded already.
func keepLatest(m map[string]snapglyph.LastUse, keyID string, use snapglyph.LastUse) {
	if prev, ok := m[keyID]; !ok || !use.At.Before(prev.At) {
		m[keyID] = use
	}
}

// Pending returns what is buffered, not yet in the database, for an
// organisation (or a key) in a period; for an organisation, with the
// units its requests still running here were charged (Admit).
func (r *Recorder) Pending(id, period string) snapglyph.Counts {
	k := snapglyph.PeriodKey{ID: id, Period: period}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.pending.Orgs[k]
	kc := r.pending.Keys[k]
	in := r.inflight[k]
	c.APICalls += kc.APICalls + in.APICalls
	c.ImageCredits += kc.ImageCredits + in.ImageCredits
	if r.flushing != nil {
		f, fk := r.flushing.Orgs[k], r.flushing.Keys[k]
		c.APICalls += f.APICalls + fk.APICalls
		c.ImageCredits += f.ImageCredits + fk.ImageCredits
	}
	return c
}

// Used returns an organisation's (or a key's) usage in a period: what
// stored returns from the database plus what is buffered here. The two
// are read between flushes, so a batch is counted exactly once.
func (r *Recorder) Used(id, period string, stored func() (snapglyph.Counts, error)) (snapglyph.Counts, error) {
	for attempt := 0; ; attempt++ {
		e := r.epoch.Load()
		if e%2 == 1 && attempt < 50 {
			time.Sleep(2 * time.Millisecond) // a flush is being written
			continue
		}
		pending := r.Pending(id, period)
		c, err := stored()
		if err != nil {
			return c, err
		}
		if r.epoch.Load() == e || attempt >= 50 {
			c.APICalls += pending.APICalls
			c.ImageCredits += pending.ImageCredits
			return c, nil
		}
	}
}

// PendingKeyDay returns a key's buffered counts of a UTC day.
func (r *Recorder) PendingKeyDay(keyID, day string) snapglyph.Counts {
	k := snapglyph.PeriodKey{ID: keyID, Period: day}
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.pending.KeyDays[k]
	if r.flushing != nil {
		f := r.flushing.KeyDays[k]
		c.APICalls += f.APICalls
		c.ImageCredits += f.ImageCredits
	}
	return c
}

// PendingKeyIPs returns the buffered addresses of a key. It holds the
// recorder's lock only to find the key's sets (pending and flushing), and
// copies them under their own locks: other keys' requests never wait for
// the copy.
func (r *Recorder) PendingKeyIPs(keyID string) map[string]snapglyph.IPSeen {
	var sets [2]*ipSet
	r.mu.Lock()
	sets[0] = r.ips.keys[keyID]
	if r.flushingIPs != nil {
		sets[1] = r.flushingIPs.keys[keyID]
	}
	r.mu.Unlock()
	out := make(map[string]snapglyph.IPSeen)
	for _, set := range sets {
		if set != nil {
			set.readInto(out)
		}
	}
	return out
}

// Snapshot reads what the database holds (stored) and what this
// recorder buffers (pending, through the Pending methods) between two
// flushes, so that each batch is counted exactly once. Both functions may
// run several times: each must start its counts afresh.
func (r *Recorder) Snapshot(pending func(), stored func() error) error {
	for attempt := 0; ; attempt++ {
		e := r.epoch.Load()
		if e%2 == 1 && attempt < 50 {
			time.Sleep(2 * time.Millisecond) // a flush is being written
			continue
		}
		pending()
		if err := stored(); err != nil {
			return err
		}
		if r.epoch.Load() == e || attempt >= 50 {
			return nil
		}
	}
}

// PendingLastUse returns a key's buffered last use, if any.
func (r *Recorder) PendingLastUse(keyID string) (snapglyph.LastUse, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u, ok := r.pending.LastUsed[keyID]
	if !ok && r.flushing != nil {
		u, ok = r.flushing.LastUsed[keyID]
	}
	return u, ok
}

// Flush writes what is buffered. A row the database refuses for its data
// is logged and counted, and dropped: one organisation's bad row must not
// stop usage recording for every organisation. On any other failure the
// batch is kept, as it is, for the next flush, and the error returned.
//
// Each batch is written exactly once. A failed write may have committed
// all the same (the connection was lost after the database committed,
// before its answer came back): so a failed batch is not merged into the
// buffer but kept whole with its id, and written again, first, by the
// next flush; the database records the id of every batch it commits and
// skips one it holds already. Until then the batch is still counted as
// buffered (Pending), so nothing is ever reported missing; a batch that
// did commit is reported twice until that retry, a flush interval later.
func (r *Recorder) Flush(ctx context.Context) error {
	select {
	case r.flushing1 <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("usage: waiting for the flush in progress: %w", ctx.Err())
	}
	defer func() { <-r.flushing1 }()
	again, err := r.write(ctx)
	if err == nil && again {
		_, err = r.write(ctx) // the failed batch is in: now what came since
	}
	return err
}

// write saves the batch of a failed flush if there is one (again), else
// what is buffered. Its caller holds flushing1.
func (r *Recorder) write(ctx context.Context) (again bool, err error) {
	r.mu.Lock()
	b := r.flushing
	if b == nil {
		if r.pending.Empty() && r.ips.total == 0 {
			r.mu.Unlock()
			return false, nil
		}
		b, r.flushing, r.flushingIPs = r.pending, r.pending, r.ips
		r.pending, r.ips = newBatch(), newIPBuffer()
	}
	again = b.ID != ""
	r.epoch.Add(1)
	r.mu.Unlock()
	if !again {
		b.ID = snapglyph.NewID("usage")
		b.KeyIPs = r.flushingIPs.keyIPs() // no writer is left on them
	}

	start := time.Now()
	dropped, err := r.saver.SaveUsage(ctx, b)
	r.LastFlush.Store(int64(time.Since(start)))
	r.Flushes.Add(1)
	r.logDropped(dropped)

	r.mu.Lock()
	if err == nil {
		r.flushing, r.flushingIPs = nil, nil
	}
	r.epoch.Add(1)
	r.mu.Unlock()
	if err != nil {
		r.FlushErrors.Add(1)
	}
	return again, err
}

// logDropped logs each dropped row by its organisation or key id (never
// its text, which came from a client) and counts it.
func (r *Recorder) logDropped(dropped []snapglyph.DroppedUsage) {
	for _, d := range dropped {
		r.RowsDropped.Add(1)
		r.log.Error("usage row dropped: the database refused its data", "kind", d.Kind, "id", d.ID, "period", d.Period,
			"api_calls", d.Counts.APICalls, "image_credits", d.Counts.ImageCredits, "err", d.Err)
	}
}

// Backlog returns the number of buffered entries, for metrics: those
// recorded since the last flush, and those of a batch being written or
// waiting to be written again.
func (r *Recorder) Backlog() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.pending.Keys) + len(r.pending.LastUsed) + len(r.pending.KeyDays) + r.ips.total
	if f := r.flushing; f != nil {
		n += len(f.Keys) + len(f.LastUsed) + len(f.KeyDays) + r.flushingIPs.total
	}
	return n
}

// FlushTimeout is how long a periodic flush may take before it is given
// up (and its batch written again by the next one): long enough for a
// batch of tens of thousands of rows to a database across a network, and
// a bound on a connection that hangs. A stop does not wait for it: its
// own flush gives up waiting at its own deadline (Flush).
const FlushTimeout = 2 * time.Minute

// Run flushes every Interval until ctx ends, then flushes once more with a
// fresh deadline (Close) so a graceful stop loses nothing, unless Shutdown
// has made the final flush already: a stop's deadline is then kept.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			// Each flush has a deadline: a database that hangs (rather
			// than refusing) fails it, to be tried again.
			fctx, cancel := context.WithTimeout(ctx, FlushTimeout)
			if err := r.Flush(fctx); err != nil && ctx.Err() == nil {
				r.log.Warn("usage flush failed; will retry", "err", err)
			}
			cancel()
		case <-ctx.Done():
			switch r.shut.Load() {
			case shutNot:
				r.Close()
			case shutDone:
				// Requests that outlived the stop's drain recorded
				// after the final flush.
				if c, entries, ok := r.unwritten(); ok {
					r.log.Error("usage recorded after the final flush is lost", "api_calls", c.APICalls, "image_credits", c.ImageCredits, "entries", entries)
				}
			}
			return
		}
	}
}

// CloseTimeout is how long Close tries the final flush.
const CloseTimeout = 10 * time.Second

// Close makes the final flush, retrying for up to CloseTimeout.
func (r *Recorder) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	r.Shutdown(ctx)
}

// What Shutdown left for Run's end (Recorder.shut).
const (
	shutNot  = iota // no Shutdown: Run makes the final flush
	shutDone        // all was written
	shutLost        // what was left is reported lost
)

// Shutdown makes the final flush, trying again while the database is away
// until ctx ends (a stop's deadline). What is still buffered then is lost:
// it is logged with its API calls and image credits, and the error
// returned. Call it after the last request; Run, when it ends, makes no
// final flush of its own after it.
func (r *Recorder) Shutdown(ctx context.Context) error {
	for {
		err := r.Flush(ctx)
		if err == nil {
			r.shut.Store(shutDone)
			return nil
		}
		if ctx.Err() != nil {
			c, entries, ok := r.unwritten()
			if !ok { // the deadline came with nothing left to write
				r.shut.Store(shutDone)
				return nil
			}
			r.shut.Store(shutLost)
			r.log.Error("final usage flush failed; buffered usage is lost", "api_calls", c.APICalls, "image_credits", c.ImageCredits, "entries", entries, "err", err)
			return fmt.Errorf("usage: final flush: %w", err)
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// unwritten returns the API calls and image credits buffered and not
// written (those recorded since the last flush, and a batch being written
// or to be written again), and the entries they take (Backlog); ok is
// false when nothing is left to write.
func (r *Recorder) unwritten() (c snapglyph.Counts, entries int, ok bool) {
	r.mu.Lock()
	for _, b := range []*snapglyph.UsageBatch{r.pending, r.flushing} {
		if b == nil {
			continue
		}
		for _, n := range b.Orgs {
			c.APICalls += n.APICalls
			c.ImageCredits += n.ImageCredits
		}
	}
	ok = !r.pending.Empty() || r.ips.total > 0 || r.flushing != nil
	r.mu.Unlock()
	return c, r.Backlog(), ok
}
