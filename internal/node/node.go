// Package node wires one SnapGlyph node together: cache, watcher, meter,
// usage recorder and HTTP server over one database. cmd/snapglyph serves
// it; tests build the very same node.
package node

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/meter"
	"github.com/snapglyph/snapglyph/internal/metrics"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/usage"
	"github.com/snapglyph/snapglyph/internal/web"
)

// Config tunes a node; zero values take the defaults.
type Config struct {
	FlushInterval time.Duration // usage and last-used write-behind
	CacheSize     int           // keys cached
	LeaseBlock    int64         // largest block of allowance leased at once
	LogRequests   bool
	// PrivateMetrics keeps GET /metrics off the public handler (serve it
	// from Server.MetricsHandler on another listener).
	PrivateMetrics bool
	// SignupClosed turns off the dashboard's sign-up: accounts then come
	// only from invitations and the CLI.
	SignupClosed bool
	// TrustedProxies are load balancers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// PublicURL is where users reach the dashboard, for invitation links.
	PublicURL string
	// AuthFailures is how many failed API authentications a client
	// address may make per minute (0: server.DefaultAuthFailures;
	// negative: no limit).
	AuthFailures int
	// PruneInterval is how often old change-log entries and expired
	// idempotency keys are deleted (default 10 minutes).
	PruneInterval time.Duration
}

// Node is one running SnapGlyph node.
type Node struct {
	ID       string // in the nodes table and reclaim requests
	DB       *store.DB
	Service  *service.Service
	Verifier *auth.Verifier
	Watcher  auth.Watcher
	Meter    *meter.Meter
	Recorder *usage.Recorder
	Server   *server.Server

	// BackgroundErrors counts failed background work by task, for
	// /metrics; each failure is also logged.
	BackgroundErrors *metrics.CounterVec

	// bg is the background work's context; Close cancels it.
	bg     context.Context
	stopBg context.CancelFunc
	loops  sync.WaitGroup // the long-running loops, started by Start
	// tasks are one-off background jobs (giving back leases, answering
	// reclaims). Add runs only under taskMu while closing is false, and
	// Close sets closing under taskMu before it waits, so no Add races
	// the Wait.
	taskMu  sync.Mutex
	closing bool
	tasks   sync.WaitGroup
	started bool
	prune   time.Duration

	log *slog.Logger
	// reclaims are the answers awaited by this node's reclaim requests,
	// by organisation.
	reclaimMu sync.Mutex
	reclaims  map[string]chan struct{}
}

// New builds a node over db; db.Now is the node's clock.
func New(ctx context.Context, db *store.DB, cfg Config, log *slog.Logger) (*Node, error) {
	n := &Node{ID: snapglyph.NewID("node"), DB: db, Service: service.New(db), log: log, prune: cfg.PruneInterval}
	if n.prune <= 0 {
		n.prune = DefaultPruneInterval
	}
	n.bg, n.stopBg = context.WithCancel(context.Background())
	n.BackgroundErrors = metrics.NewCounterVec("snapglyph_background_errors_total",
		"Failed background work by task: forget (leases given back after a plan or limit change), reclaim_answer, release (leases given back after a reconnect), reclaim, prune, close.", "task")
	n.Service.Log = log
	n.Verifier = auth.NewVerifier(db, cfg.CacheSize)
	n.Meter = meter.New(db)
	n.Meter.Now = func() time.Time { return db.Now() }
	if cfg.LeaseBlock > 0 {
		n.Meter.MaxBlock = cfg.LeaseBlock
	}
	n.Recorder = usage.New(db, log)
	if cfg.FlushInterval > 0 {
		n.Recorder.Interval = cfg.FlushInterval
	}
	n.Meter.Reclaim = n.reclaim
	// Report what was really spent, not what is leased (other nodes'
	// unspent leases are not used).
	n.Meter.Spent = meter.NewSpent(db, n.Recorder)
	n.Meter.Spent.MaxAge = n.Recorder.Interval
	n.Service.Changed = func(c store.Change) { n.apply(c, false) }
	var err error
	if n.Watcher, err = auth.NewWatcher(ctx, db, n.ID, n.Verifier, n.apply, log); err != nil {
		return nil, err
	}
	dashboard, err := web.New(web.Deps{DB: db, Service: n.Service, Recorder: n.Recorder, Log: log, Signup: !cfg.SignupClosed, PublicURL: cfg.PublicURL})
	if err != nil {
		return nil, err
	}
	n.Server = server.New(server.Deps{
		DB: db, Service: n.Service, Verifier: n.Verifier, Watcher: n.Watcher, Meter: n.Meter,
		Recorder: n.Recorder, Log: log, LogRequests: cfg.LogRequests, PublicMetrics: !cfg.PrivateMetrics,
		Web: dashboard, TrustedProxies: cfg.TrustedProxies, PublicURL: cfg.PublicURL,
		AuthFailures: cfg.AuthFailures,
	})
	n.Server.RegisterMetrics(n.BackgroundErrors)
	return n, nil
}

// DefaultPruneInterval is how often a node prunes the change log and the
// expired idempotency keys.
const DefaultPruneInterval = 10 * time.Minute

// Timeouts of the background tasks. Close waits for running tasks rather
// than cancelling them, because they give allowance back; these bound
// that wait.
const (
	forgetTimeout  = 5 * time.Second
	releaseTimeout = 10 * time.Second
	pruneTimeout   = time.Minute
)

// spawn runs fn as a background task owned by the node: it gets a context
// derived from the node's (with the timeout), Close waits for it, and its
// error is logged and counted under task. Once Close has begun nothing new
// starts; spawn then reports false.
func (n *Node) spawn(task string, timeout time.Duration, fn func(ctx context.Context) error) bool {
	n.taskMu.Lock()
	if n.closing {
		n.taskMu.Unlock()
		return false
	}
	n.tasks.Add(1)
	n.taskMu.Unlock()
	go func() {
		defer n.tasks.Done()
		ctx, cancel := context.WithTimeout(n.bg, timeout)
		defer cancel()
		n.check(task, fn(ctx))
	}()
	return true
}

// check logs and counts a background task's error, if any.
func (n *Node) check(task string, err error) {
	if err == nil {
		return
	}
	n.BackgroundErrors.Inc(task)
	n.log.Error("background task failed", "task", task, "err", err)
}

// reclaimTimeout bounds the wait for other nodes to return their leases.
const reclaimTimeout = 500 * time.Millisecond

// reclaim asks every other node to return its unspent leases of the
// organisation and waits until each has answered (PostgreSQL only).
func (n *Node) reclaim(orgID string) {
	if !n.DB.Postgres() {
		return
	}
	if n.bg.Err() != nil {
		return // closed
	}
	ctx, cancel := context.WithTimeout(n.bg, reclaimTimeout)
	defer cancel()
	others, err := n.DB.OtherListeningNodes(ctx, n.ID)
	if err != nil {
		n.check("reclaim", err)
		return
	}
	if others == 0 {
		return
	}
	ch := make(chan struct{}, others)
	n.reclaimMu.Lock()
	if n.reclaims == nil {
		n.reclaims = make(map[string]chan struct{})
	}
	n.reclaims[orgID] = ch
	n.reclaimMu.Unlock()
	defer func() {
		n.reclaimMu.Lock()
		delete(n.reclaims, orgID)
		n.reclaimMu.Unlock()
	}()
	if err := n.DB.NotifyReclaim(ctx, orgID, n.ID); err != nil {
		n.check("reclaim", err)
		return
	}
	for got := 0; got < others; got++ {
		select {
		case <-ch:
		case <-ctx.Done():
			n.log.Warn("reclaim: not every node returned its leases in time", "org", orgID, "answered", got, "nodes", others)
			return
		}
	}
}

// apply drops what a change makes stale. It runs on the watcher's
// goroutine (and on the request path for this node's own changes), so
// anything that writes to the database runs as a background task:
// revocations must not wait behind it, nor a reconnection.
func (n *Node) apply(c store.Change, resync bool) {
	if resync {
		n.Verifier.InvalidateAll()
		// Limits are compared with each request's organisation, so
		// giving back the leases can happen after the cache is trusted
		// again; missed reclaim requests only delayed a return.
		n.spawn("release", releaseTimeout, n.Meter.Release)
		return
	}
	switch c.Kind {
	case store.ChangeKey:
		n.Verifier.InvalidateKey(c.RefID)
	case store.ChangeKeyCreated:
		n.Verifier.ForgetUnknown()
	case store.ChangeOrg:
		n.Verifier.InvalidateOrg(c.RefID)
		// The meter sees a changed limit by itself (it compares with the
		// organisation each request brings); giving back its leases
		// makes them available to the other nodes at once.
		org := c.RefID
		n.spawn("forget", forgetTimeout, func(ctx context.Context) error { return n.Meter.Forget(ctx, org) })
	case store.ChangeReclaim:
		org, from, _ := strings.Cut(c.RefID, "/")
		if from != n.ID {
			n.spawn("reclaim_answer", reclaimTimeout, func(ctx context.Context) error {
				err := n.Meter.Forget(ctx, org)
				return errors.Join(err, n.DB.NotifyReclaimed(ctx, org, from, n.ID))
			})
		}
	case store.ChangeReclaimed:
		parts := strings.Split(c.RefID, "/")
		if len(parts) == 3 && parts[1] == n.ID {
			n.reclaimMu.Lock()
			if ch := n.reclaims[parts[0]]; ch != nil {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
			n.reclaimMu.Unlock()
		}
	}
}

// Handler is the node's HTTP handler.
func (n *Node) Handler() http.Handler { return n.Server }

// Start runs the background loops (change watcher, usage flusher, pruner)
// until Close.
func (n *Node) Start() {
	n.started = true
	n.loops.Add(3)
	go func() { defer n.loops.Done(); n.Watcher.Run(n.bg) }()
	go func() { defer n.loops.Done(); n.Recorder.Run(n.bg) }()
	go func() { defer n.loops.Done(); n.pruneLoop(n.bg) }()
}

// pruneLoop deletes old change-log entries and expired idempotency keys
// every prune interval, starting with one pass now.
func (n *Node) pruneLoop(ctx context.Context) {
	t := time.NewTicker(n.prune)
	defer t.Stop()
	for {
		n.check("prune", n.pruneOnce(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) pruneOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, pruneTimeout)
	defer cancel()
	_, err := n.DB.PruneChanges(ctx, store.ChangeRetention, store.ChangeKeepLast)
	_, err2 := n.DB.PruneIdempotency(ctx)
	if ctx.Err() != nil && n.bg.Err() != nil {
		return nil // stopped by Close, not a failure
	}
	return errors.Join(err, err2)
}

// Close ends the background work after the last request: running tasks
// finish (each is bounded by its timeout), unspent leases go back to the
// database, then the loops stop and buffered usage is flushed. Failures
// are logged and counted.
func (n *Node) Close() {
	n.taskMu.Lock()
	n.closing = true
	n.taskMu.Unlock()
	n.tasks.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	n.check("close", n.Meter.Close(ctx))
	// Flush before cancelling the loops: a flush cancelled in the middle
	// of its commit may have been saved and yet be put back and saved
	// again. This one waits for a running flush, then writes the rest;
	// the recorder's own final flush finds nothing left (or retries).
	if n.started {
		n.check("close", n.Recorder.Flush(ctx))
	}
	n.stopBg()
	if n.started {
		n.loops.Wait()
	} else {
		n.Recorder.Close()
	}
}
