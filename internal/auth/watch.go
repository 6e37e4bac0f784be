package auth

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
)

// A Watcher brings changes made by other processes (the CLI, other nodes)
// to this node's caches before they can be served stale.
type Watcher interface {
	// Fresh is called before each cached read; it returns once every
	// change committed before the call has been applied.
	Fresh(ctx context.Context) error
	// Run watches until ctx ends.
	Run(ctx context.Context)
	// Ready reports whether changes are being received.
	Ready() bool
}

// Apply is called for each change: it invalidates whatever the change
// makes stale. resync is true when changes may have been missed and every
// cache must be dropped.
type Apply func(c snapglyph.Change, resync bool)

// NewWatcher returns the watcher for the database: PostgreSQL LISTEN/NOTIFY
// or SQLite's data_version.
// nodeID names the node in the nodes table.
func NewWatcher(ctx context.Context, db *store.DB, nodeID string, v *Verifier, apply Apply, log *slog.Logger) (Watcher, error) {
	last, err := db.LastChange(ctx)
	if err != nil {
		return nil, err
	}
	if db.Postgres() {
		w := &pgWatcher{db: db, v: v, apply: apply, log: log, id: nodeID, ack: make(chan struct{}, 1)}
		w.last.Store(last)
		v.SetTrusted(false) // until the LISTEN is in place
		return w, nil
	}
	ver, err := db.NewVersioner(ctx)
	if err != nil {
		return nil, err
	}
	w := &sqliteWatcher{db: db, ver: ver, apply: apply, last: last}
	if w.version, err = ver.Version(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// sqliteWatcher checks SQLite's data_version, which changes whenever
// another connection commits, and reads the change log when it does. The
// check runs on every request, so a change committed by the CLI applies to
// the very next request: there is no window. When the wal-index header in
// shared memory shows no commit at all since the last check, the query is
// skipped, which makes the check cost nanoseconds.
type sqliteWatcher struct {
	db    *store.DB
	ver   *store.Versioner
	apply Apply

	mu      sync.Mutex
	version int64
	last    int64
}

func (w *sqliteWatcher) Fresh(ctx context.Context) error {
	if w.ver.Unchanged() {
		return nil // nothing committed anywhere since the last check
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ver.Unchanged() {
		return nil // another request caught up while we waited
	}
	v, err := w.ver.Version(ctx)
	if err != nil {
		return err
	}
	if v != w.version {
		for {
			changes, err := w.db.Changes(ctx, w.last, 500)
			if err != nil {
				return err
			}
			for _, c := range changes {
				if c.Seq > w.last+1 {
					// SQLite's sequence has no gaps: entries were
					// pruned before this node read them (it was idle
					// for a day and 10,000 changes), so drop everything.
					w.apply(snapglyph.Change{}, true)
				}
				w.apply(c, false)
				w.last = c.Seq
			}
			if len(changes) < 500 {
				break
			}
		}
		w.version = v
	}
	w.ver.Commit()
	return nil
}

func (w *sqliteWatcher) Run(ctx context.Context) {
	<-ctx.Done()
	w.ver.Close()
}

func (w *sqliteWatcher) Ready() bool { return true }

// pgWatcher LISTENs on a dedicated connection. NOTIFY is sent in the same
// transaction as each change, so it arrives only after commit. While the
// connection is down the verifier is untrusted (every request reads the
// database); after reconnecting it catches up from the change log and
// drops every cache before trusting them again.
type pgWatcher struct {
	db    *store.DB
	v     *Verifier
	apply Apply
	log   *slog.Logger

	id        string        // this node's row in the nodes table
	ack       chan struct{} // wakes the acknowledger
	last      atomic.Int64
	connected atomic.Bool
	failing   bool // the last heartbeat failed (acknowledge's goroutine only)

	// stopListen ends the current connection's LISTEN (see silent).
	mu         sync.Mutex
	stopListen context.CancelFunc
}

func (w *pgWatcher) Fresh(ctx context.Context) error { return nil }

func (w *pgWatcher) Ready() bool { return w.connected.Load() }

func (w *pgWatcher) Run(ctx context.Context) {
	done := make(chan struct{}, 2)
	go func() { w.acknowledge(ctx); done <- struct{}{} }()
	go func() { w.watchSilence(ctx); done <- struct{}{} }()
	defer func() { <-done; <-done }()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		lctx, stop := context.WithCancel(ctx)
		w.mu.Lock()
		w.stopListen = stop
		w.mu.Unlock()
		err := w.db.Listen(lctx, func() { w.caughtUp(lctx) }, func(c snapglyph.Change) {
			w.apply(c, false)
			if c.Seq > w.last.Load() {
				w.last.Store(c.Seq)
			}
			w.poke()
		})
		stop()
		if w.untrust() {
			backoff = 50 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("change listener disconnected; serving without cache until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// untrust stops serving from the cache until the listener is back, and
// reports whether it was trusted.
func (w *pgWatcher) untrust() bool {
	if !w.connected.Swap(false) {
		return false
	}
	w.v.SetTrusted(false)
	w.apply(snapglyph.Change{}, true)
	w.poke() // listed as not listening: commands stop waiting for this node
	return true
}

// listenCheck is how often a node compares the newest change in the
// database with the newest its listener delivered; listenGrace is how
// long a committed change may go unheard before the listener is taken
// for dead. A NOTIFY arrives within milliseconds of its commit.
const (
	listenCheck = 250 * time.Millisecond
	listenGrace = 500 * time.Millisecond
)

// watchSilence notices a listener that hears nothing although changes
// are committed: a connection that died without a reset (a dropped NAT
// entry, a frozen backend) passes the listener's own probe only every
// store.ListenProbe, and meanwhile this node would serve revoked keys
// from its cache. Found silent, the node stops trusting its cache and
// reconnects.
func (w *pgWatcher) watchSilence(ctx context.Context) {
	t := time.NewTicker(listenCheck)
	defer t.Stop()
	var behind int64    // the newest change not yet heard, 0 if none
	var since time.Time // when it was first seen unheard
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !w.connected.Load() {
			behind = 0
			continue
		}
		if behind != 0 && w.last.Load() >= behind {
			behind = 0
		}
		if behind != 0 {
			if time.Since(since) >= listenGrace {
				w.silent(behind)
				behind = 0
			}
			continue
		}
		qctx, cancel := context.WithTimeout(ctx, listenCheck)
		newest, err := w.db.LastChange(qctx)
		cancel()
		if err == nil && newest > w.last.Load() {
			behind, since = newest, time.Now()
		}
	}
}

// silent takes the listener for dead: it has not delivered change seq,
// committed listenGrace ago.
func (w *pgWatcher) silent(seq int64) {
	if w.log != nil {
		w.log.Warn("change listener heard nothing of a committed change; serving without cache and reconnecting", "node", w.id, "change", seq, "heard", w.last.Load())
	}
	w.untrust()
	w.mu.Lock()
	if w.stopListen != nil {
		w.stopListen()
	}
	w.mu.Unlock()
}

// caughtUp runs once LISTEN is in place: nothing from now on is missed,
// and what happened before is dropped wholesale.
func (w *pgWatcher) caughtUp(ctx context.Context) {
	if last, err := w.db.LastChange(ctx); err == nil {
		w.last.Store(last)
	}
	w.apply(snapglyph.Change{}, true)
	// Be listed as listening before serving from the cache: a management
	// command waits only for the nodes it finds listening, so a change
	// committed in between would otherwise not wait for this node. If the
	// write fails, the heartbeat tries again within a second.
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := w.db.SetNode(wctx, w.id, w.last.Load(), true)
	cancel()
	if err != nil && ctx.Err() == nil && w.log != nil {
		w.log.Warn("cannot list this node as listening yet; the heartbeat tries again", "node", w.id, "err", err)
	}
	w.v.SetTrusted(true)
	w.connected.Store(true)
	w.poke()
}

// heartbeatResult logs when this node starts and stops failing to write
// its progress: meanwhile management commands report it as not having
// confirmed their changes.
func (w *pgWatcher) heartbeatResult(ctx context.Context, err error) {
	failing := err != nil && ctx.Err() == nil
	if failing == w.failing || w.log == nil {
		w.failing = failing
		return
	}
	w.failing = failing
	if failing {
		w.log.Warn("cannot write this node's progress to the nodes table; changes made meanwhile are reported as unconfirmed", "node", w.id, "err", err)
	} else {
		w.log.Info("this node's progress is written again", "node", w.id)
	}
}

func (w *pgWatcher) poke() {
	select {
	case w.ack <- struct{}{}:
	default:
	}
}

// acknowledge writes this node's progress through the change log to the
// nodes table whenever it moves, and every second as a heartbeat, so a
// management command can wait until every node has applied its change.
// On stop it removes the row.
func (w *pgWatcher) acknowledge(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	written := int64(-1)
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			w.db.RemoveNode(rctx, w.id)
			cancel()
			return
		case <-w.ack:
		case <-t.C:
			written = -1 // heartbeat: write even if nothing moved
		}
		last := w.last.Load()
		if last == written {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := w.db.SetNode(wctx, w.id, last, w.connected.Load())
		cancel()
		if err == nil {
			written = last
		}
		w.heartbeatResult(ctx, err)
	}
}
