// Package reqlog keeps the API request log: every request that named a
// key of an organisation, refused ones included. A request appends a
// small record to this node's buffer (a mutex and a copy, no allocation);
// a background writer saves the buffer in batches (COPY on PostgreSQL,
// multi-row INSERTs on SQLite) every Interval, or sooner when BatchSize
// entries are waiting. The buffer is bounded: while the database is away
// or too slow, requests still succeed, entries beyond MaxBuffer are
// dropped and counted (a metric, and per organisation and hour in the
// database so the Logs page can say so), and the rest is written when the
// database is back. Maintain creates the coming days' partitions and
// prunes what is past its retention.
package reqlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/metrics"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Store is what the writer saves to; *store.DB has it.
type Store interface {
	// SaveRequestLog saves entries (in time order), marking new
	// addresses among fresh and bursts of refusals; it returns the
	// indexes of entries the database refused for their data (the rest
	// is saved). On error nothing is saved.
	SaveRequestLog(ctx context.Context, entries []snapglyph.RequestLogEntry, retention snapglyph.LogRetention, fresh []snapglyph.KeyIP) (dropped []int, err error)
	// SaveRequestLogAgain is SaveRequestLog for entries some of which
	// may be stored already (a write whose outcome is unknown): those are
	// not stored twice.
	SaveRequestLogAgain(ctx context.Context, entries []snapglyph.RequestLogEntry, retention snapglyph.LogRetention, fresh []snapglyph.KeyIP) (dropped []int, err error)
	EnsureRequestLogPartitions(ctx context.Context, parts []snapglyph.LogPartition) error
	AddRequestLogGaps(ctx context.Context, gaps map[string]map[time.Time]int64) error
}

// Defaults of a Writer.
const (
	DefaultInterval  = 500 * time.Millisecond
	DefaultMaxBuffer = 100_000
	DefaultBatchSize = 5_000
	// maxBackoff is the longest wait between attempts while the
	// database refuses every write.
	maxBackoff = 5 * time.Second
	// maxKnownIPs bounds the key addresses remembered as recorded.
	maxKnownIPs = 100_000
)

// Writer buffers and writes the request log. Record is safe for
// concurrent use; set the fields before Run.
type Writer struct {
	store     Store
	log       *slog.Logger
	Retention snapglyph.LogRetention
	Interval  time.Duration
	MaxBuffer int
	BatchSize int
	// Now is the clock that says which entries are past their retention
	// already (they are not written: pruning would remove them at once).
	Now func() time.Time

	mu  sync.Mutex
	buf []snapglyph.RequestLogEntry
	// spare is the batch last written, kept for reuse: two slices take
	// turns, so a node at a steady rate allocates none.
	spare    []snapglyph.RequestLogEntry
	inflight int // entries being written, counted against MaxBuffer
	// drops counts entries not recorded, by organisation and hour, until
	// they are saved as gaps.
	drops map[string]map[time.Time]int64
	kick  chan struct{}

	// writing holds a token while a write runs: one at a time (it guards
	// parts, known and unsure), as a lock a caller's deadline can give up
	// waiting for (a write stuck on a database that hangs must not hold a
	// graceful stop forever).
	writing chan struct{}
	parts   map[snapglyph.LogPartition]bool
	// known: the key addresses saved, with the earliest request saved
	// of each: a later batch may still hold an earlier one (a request
	// that took long), which the store must see.
	known map[snapglyph.KeyIP]time.Time
	// unsure: the last write failed, so some of the entries it gave back
	// may be stored already (a commit whose answer was lost); they are
	// written with SaveRequestLogAgain until a write succeeds.
	unsure bool

	// For metrics: entries recorded, written, dropped because the buffer
	// was full or because the database refused their data; flushes,
	// failed flushes, and the last flush's duration in nanoseconds.
	Recorded, Written, DroppedFull, DroppedData, Flushes, FlushErrors atomic.Uint64
	// DroppedExpired counts entries not written because their day's
	// partition was dropped as past its retention (by a node whose clock
	// is ahead of this one's).
	DroppedExpired atomic.Uint64
	LastFlush      atomic.Int64

	// shut is what Shutdown left (shutNot, shutDone, shutLost), for Run's
	// end.
	shut atomic.Int32
}

// New returns a writer saving to s with the default settings.
func New(s Store, log *slog.Logger) *Writer {
	return &Writer{store: s, log: log, Retention: snapglyph.DefaultLogRetention(), Interval: DefaultInterval,
		MaxBuffer: DefaultMaxBuffer, BatchSize: DefaultBatchSize, Now: time.Now, kick: make(chan struct{}, 1), writing: make(chan struct{}, 1),
		parts: map[snapglyph.LogPartition]bool{}, known: map[snapglyph.KeyIP]time.Time{}}
}

// Record adds an entry to the buffer, or counts it as dropped when the
// buffer is full. It never waits for the database.
func (w *Writer) Record(e *snapglyph.RequestLogEntry) {
	w.mu.Lock()
	if len(w.buf)+w.inflight >= w.MaxBuffer {
		w.countDrop(e.OrgID, e.At, 1)
		w.mu.Unlock()
		w.DroppedFull.Add(1)
		return
	}
	if w.buf == nil {
		w.buf = make([]snapglyph.RequestLogEntry, 0, min(w.MaxBuffer, w.BatchSize))
	}
	w.buf = append(w.buf, *e)
	n := len(w.buf)
	w.mu.Unlock()
	w.Recorded.Add(1)
	if n == w.BatchSize {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

// countDrop counts n entries of an organisation not recorded (w.mu held).
func (w *Writer) countDrop(orgID string, at time.Time, n int64) {
	if w.drops == nil {
		w.drops = map[string]map[time.Time]int64{}
	}
	m := w.drops[orgID]
	if m == nil {
		m = map[time.Time]int64{}
		w.drops[orgID] = m
	}
	m[at.UTC().Truncate(time.Hour)] += n
}

// Backlog returns the number of entries buffered or being written.
func (w *Writer) Backlog() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.buf) + w.inflight
}

// Flush writes what is buffered. On failure the entries not written go
// back to the front of the buffer for the next try (newer entries beyond
// MaxBuffer having been refused by Record), and the error is returned.
func (w *Writer) Flush(ctx context.Context) error {
	select {
	case w.writing <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("reqlog: waiting for the write in progress: %w", ctx.Err())
	}
	defer func() { <-w.writing }()
	w.mu.Lock()
	b := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.inflight = len(b)
	gaps := w.drops
	w.drops = nil
	w.mu.Unlock()

	start := time.Now()
	written, err := w.write(ctx, b, &gaps)
	w.LastFlush.Store(int64(time.Since(start)))
	w.Flushes.Add(1)

	w.unsure = err != nil
	w.mu.Lock()
	w.inflight = 0
	if err != nil {
		rest := b[written:]
		merged := make([]snapglyph.RequestLogEntry, 0, max(len(rest)+len(w.buf), w.BatchSize))
		merged = append(append(merged, rest...), w.buf...)
		w.buf = merged
	} else {
		clear(b) // let go of the requests' strings
		w.spare = b[:0]
	}
	w.mu.Unlock()

	if len(gaps) > 0 {
		if gerr := w.store.AddRequestLogGaps(ctx, gaps); gerr != nil {
			w.mu.Lock()
			for org, hours := range gaps {
				for h, n := range hours {
					w.countDrop(org, h, n)
				}
			}
			w.mu.Unlock()
			err = errors.Join(err, gerr)
		}
	}
	if err != nil {
		w.FlushErrors.Add(1)
	}
	return err
}

// write saves b in batches and returns how many entries of b are done
// (saved, or dropped for their data) before any error.
func (w *Writer) write(ctx context.Context, b []snapglyph.RequestLogEntry, gaps *map[string]map[time.Time]int64) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	byTime := func(x, y snapglyph.RequestLogEntry) int { return x.At.Compare(y.At) }
	if !slices.IsSortedFunc(b, byTime) { // requests end in about the order they began
		slices.SortStableFunc(b, byTime)
	}
	// Entries past their retention already (a clock far behind) would be
	// pruned at once: they are skipped, as pruning would have it.
	// They are moved to the front and counted as done.
	now := w.Now()
	expired := func(e *snapglyph.RequestLogEntry) bool {
		return e.At.Before(now.AddDate(0, 0, -w.Retention.Days(e.Plan)))
	}
	done := 0
	for i := range b {
		if expired(&b[i]) {
			done++
		}
	}
	if done > 0 {
		ordered := make([]snapglyph.RequestLogEntry, 0, len(b))
		for _, old := range []bool{true, false} {
			for i := range b {
				if expired(&b[i]) == old {
					ordered = append(ordered, b[i])
				}
			}
		}
		copy(b, ordered)
		w.log.Warn("request log entries already past their retention were not written", "entries", done)
	}
	for i := range b[done:] {
		prepare(&b[done+i])
	}
	if err := w.ensurePartitions(ctx, b[done:]); err != nil {
		return 0, err
	}
	save := w.store.SaveRequestLog
	if w.unsure {
		save = w.store.SaveRequestLogAgain
	}
	for done < len(b) {
		chunk := b[done:min(done+w.BatchSize, len(b))]
		fresh := w.freshPairs(chunk)
		dropped, err := save(ctx, chunk, w.Retention, fresh)
		if errors.Is(err, snapglyph.ErrNoLogPartition) {
			// A partition is missing. Entries of a day that began
			// before their retention's cutoff belong to a partition a
			// node whose clock is ahead (by up to a day) may have
			// dropped as expired: they are dropped and counted, not
			// written again into a partition made anew. For the rest
			// the writer's list of partitions is stale (or a clock
			// moved back): they are made again and the chunk retried
			// once; a second failure waits for the next flush.
			if old := w.dropDayPastRetention(chunk, now); old > 0 {
				done += old
				chunk = chunk[old:]
				fresh = w.freshPairs(chunk)
			}
			clear(w.parts)
			if len(chunk) == 0 {
				continue
			}
			if err = w.ensurePartitions(ctx, chunk); err == nil {
				dropped, err = save(ctx, chunk, w.Retention, fresh)
			}
		}
		if err != nil {
			return done, err
		}
		for _, i := range dropped {
			e := &chunk[i]
			if *gaps == nil {
				*gaps = map[string]map[time.Time]int64{}
			}
			m := (*gaps)[e.OrgID]
			if m == nil {
				m = map[time.Time]int64{}
				(*gaps)[e.OrgID] = m
			}
			m[e.At.UTC().Truncate(time.Hour)]++
			w.log.Error("request log entry dropped: the database refused its data", "org", e.OrgID, "key", e.KeyID, "request_id", e.RequestID)
		}
		w.DroppedData.Add(uint64(len(dropped)))
		w.Written.Add(uint64(len(chunk) - len(dropped)))
		if len(w.known) > maxKnownIPs {
			clear(w.known)
		}
		if len(fresh) > 0 { // only fresh pairs have entries earlier than known
			for i := range chunk {
				p := snapglyph.KeyIP{KeyID: chunk[i].KeyID, IP: chunk[i].IP}
				if at, ok := w.known[p]; !ok || chunk[i].At.Before(at) {
					w.known[p] = chunk[i].At
				}
			}
		}
		done += len(chunk)
	}
	return done, nil
}

// dropDayPastRetention moves to the front of chunk the entries whose day
// began before their retention's cutoff at now, counts them as dropped,
// and returns how many there are.
func (w *Writer) dropDayPastRetention(chunk []snapglyph.RequestLogEntry, now time.Time) int {
	old := func(e *snapglyph.RequestLogEntry) bool {
		return !snapglyph.DayOf(e.At).After(now.AddDate(0, 0, -w.Retention.Days(e.Plan)))
	}
	ordered := make([]snapglyph.RequestLogEntry, 0, len(chunk))
	for _, first := range []bool{true, false} {
		for i := range chunk {
			if old(&chunk[i]) == first {
				ordered = append(ordered, chunk[i])
			}
		}
	}
	n := 0
	for i := range ordered {
		if old(&ordered[i]) {
			n++
		}
	}
	if n == 0 {
		return 0
	}
	copy(chunk, ordered)
	w.DroppedExpired.Add(uint64(n))
	w.log.Warn("request log entries dropped: their day's partition was dropped as past its retention", "entries", n)
	return n
}

// prepare makes an entry's text storable (it came from a request) with any
// API key a client put in it cut to its prefix, and sets the flag the
// request itself shows: a key used while not active.
func prepare(e *snapglyph.RequestLogEntry) {
	e.Method = snapglyph.StorableRedacted(e.Method, 16)
	e.ResourceID = snapglyph.StorableShown(e.ResourceID, 128)
	e.IP = snapglyph.StorableRedacted(e.IP, 64)
	e.UserAgent = snapglyph.StorableShown(e.UserAgent, 256)
	if snapglyph.InactiveKeyCodes[e.Code] {
		e.Flags |= snapglyph.FlagInactiveKey
	}
}

// freshPairs returns the key addresses of entries this writer has not
// saved before, or saved only from later requests.
func (w *Writer) freshPairs(entries []snapglyph.RequestLogEntry) []snapglyph.KeyIP {
	var out []snapglyph.KeyIP
	seen := map[snapglyph.KeyIP]bool{}
	for i := range entries {
		p := snapglyph.KeyIP{KeyID: entries[i].KeyID, IP: entries[i].IP}
		if at, ok := w.known[p]; (!ok || entries[i].At.Before(at)) && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// ensurePartitions creates the partitions entries go to, once per writer.
func (w *Writer) ensurePartitions(ctx context.Context, entries []snapglyph.RequestLogEntry) error {
	var need []snapglyph.LogPartition
	for i := range entries {
		p := snapglyph.LogPartition{RetentionDays: w.Retention.Days(entries[i].Plan), Day: snapglyph.DayOf(entries[i].At)}
		if !w.parts[p] && !slices.Contains(need, p) {
			need = append(need, p)
		}
	}
	if len(need) == 0 {
		return nil
	}
	if err := w.store.EnsureRequestLogPartitions(ctx, need); err != nil {
		return err
	}
	for _, p := range need {
		w.parts[p] = true
	}
	return nil
}

// WriteTimeout is how long a periodic write may take before it is given
// up (its entries go back to the buffer for the next one): long enough
// for a large backlog to a database across a network, and a bound on a
// connection that hangs. A stop does not wait for it: its own write
// gives up waiting at its own deadline (Flush).
const WriteTimeout = 2 * time.Minute

// Run writes the buffer every Interval (sooner when BatchSize entries
// wait) until ctx ends, then writes the rest with a fresh deadline (Close)
// unless Shutdown has made the final write already: a stop's deadline is
// then kept. A failed write is given to report and retried after a wait
// that doubles up to 5 s, so a database that is down is not hammered.
func (w *Writer) Run(ctx context.Context, report func(error)) {
	wait := w.Interval
	t := time.NewTimer(wait)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			switch w.shut.Load() {
			case shutNot:
				w.Close(report)
			case shutDone:
				// Requests that outlived the stop's drain recorded
				// after the final write.
				if n := w.Backlog(); n > 0 {
					w.log.Error("request log: entries recorded after the final write are lost", "entries", n)
				}
			}
			return
		case <-w.kick:
			if failing {
				continue // wait for the timer: the database is struggling
			}
		case <-t.C:
		}
		// Each write has a deadline: a database that hangs (rather than
		// refusing) fails it, to be tried again.
		fctx, cancel := context.WithTimeout(ctx, WriteTimeout)
		if err := w.Flush(fctx); err != nil && ctx.Err() == nil {
			report(err)
			failing, wait = true, min(2*wait, maxBackoff)
		} else {
			failing, wait = false, w.Interval
		}
		cancel()
		t.Reset(wait)
	}
}

// CloseTimeout is how long Close tries the final write.
const CloseTimeout = 10 * time.Second

// Close makes the final write, retrying for up to CloseTimeout; a failure
// is given to report.
func (w *Writer) Close(report func(error)) {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		report(err)
	}
}

// What Shutdown left for Run's end (Writer.shut).
const (
	shutNot  = iota // no Shutdown: Run makes the final write
	shutDone        // all was written
	shutLost        // what was left is reported lost
)

// Shutdown makes the final write, trying again while the database is away
// until ctx ends (a stop's deadline). The entries still buffered then are
// lost: their number is logged and the error returned. Call it after the
// last request; Run, when it ends, makes no final write of its own after
// it.
func (w *Writer) Shutdown(ctx context.Context) error {
	for {
		err := w.Flush(ctx)
		if err == nil {
			w.shut.Store(shutDone)
			return nil
		}
		if ctx.Err() != nil {
			w.mu.Lock()
			n, gaps := len(w.buf)+w.inflight, len(w.drops)
			w.mu.Unlock()
			if n == 0 && gaps == 0 { // the deadline came with nothing left to write
				w.shut.Store(shutDone)
				return nil
			}
			w.shut.Store(shutLost)
			w.log.Error("request log: entries lost at stop", "entries", n)
			return errors.Join(errors.New("final request log write failed; buffered entries are lost"), err)
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// Metrics returns the writer's metrics for /metrics.
func (w *Writer) Metrics() []*metrics.Func {
	counter := func(name, help string, v *atomic.Uint64) *metrics.Func {
		return &metrics.Func{Name: name, Help: help, Type: "counter", Value: func() float64 { return float64(v.Load()) }}
	}
	return []*metrics.Func{
		counter("snapglyph_request_log_recorded_total", "API requests added to this node's request log buffer.", &w.Recorded),
		counter("snapglyph_request_log_written_total", "Request log entries written to the database.", &w.Written),
		counter("snapglyph_request_log_dropped_total", "Request log entries not recorded because the buffer was full (the database was away or too slow).", &w.DroppedFull),
		counter("snapglyph_request_log_rejected_total", "Request log entries the database refused for their data (logged and dropped so the rest is saved).", &w.DroppedData),
		counter("snapglyph_request_log_expired_total", "Request log entries not written because their day's partition was dropped as past its retention (a node whose clock is ahead).", &w.DroppedExpired),
		counter("snapglyph_request_log_flushes_total", "Writes of the request log buffer.", &w.Flushes),
		counter("snapglyph_request_log_flush_errors_total", "Failed writes of the request log buffer (the entries are kept for the next one).", &w.FlushErrors),
		{Name: "snapglyph_request_log_backlog", Help: "Request log entries buffered, not yet written.", Type: "gauge", Value: func() float64 { return float64(w.Backlog()) }},
		{Name: "snapglyph_request_log_flush_duration_seconds", Help: "Duration of the last request log write.", Type: "gauge", Value: func() float64 { return float64(w.LastFlush.Load()) / 1e9 }},
	}
}

// Pruner is what Maintain needs; *store.DB has it.
type Pruner interface {
	EnsureRequestLogPartitions(ctx context.Context, parts []snapglyph.LogPartition) error
	PruneRequestLog(ctx context.Context, now time.Time) (removedPartitions int, removedRows int64, err error)
	PruneShortenedRequestLog(ctx context.Context, now time.Time, retention snapglyph.LogRetention, most int64) (int64, error)
	PruneKeyIPs(ctx context.Context, now time.Time, retention snapglyph.LogRetention) (int64, error)
}

// ShortenedPruneRows is the most entries one maintenance deletes row by
// row for organisations whose retention is now shorter than the one
// their entries were stored with (a downgrade, a shorter retention set);
// the next run goes on. The service hides them meanwhile.
const ShortenedPruneRows = 100_000

// Maintain creates today's and tomorrow's partitions of every retention
// class, so the writer rarely has to at midnight, and removes what is past
// its retention: entries (past the retention they were stored with, then
// past their organisation's current one, ShortenedPruneRows at most), and
// the addresses keys were used from (the key page's list) last seen
// before their organisation's plan's retention.
func Maintain(ctx context.Context, p Pruner, retention snapglyph.LogRetention, now time.Time) (partitions int, rows int64, err error) {
	var parts []snapglyph.LogPartition
	for _, days := range retention.Classes() {
		for d := range 2 {
			parts = append(parts, snapglyph.LogPartition{RetentionDays: days, Day: snapglyph.DayOf(now).AddDate(0, 0, d)})
		}
	}
	err1 := p.EnsureRequestLogPartitions(ctx, parts)
	partitions, rows, err2 := p.PruneRequestLog(ctx, now)
	shortened, err3 := p.PruneShortenedRequestLog(ctx, now, retention, ShortenedPruneRows)
	_, err4 := p.PruneKeyIPs(ctx, now, retention)
	return partitions, rows + shortened, errors.Join(err1, err2, err3, err4)
}
