// Package node wires one SnapGlyph node together: cache, watcher, meter,
// usage recorder and HTTP server over one database. cmd/snapglyph serves
// it; tests build the very same node.
package node

import (
	"cmp"
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
	"github.com/snapglyph/snapglyph/internal/notify"
	"github.com/snapglyph/snapglyph/internal/reqlog"
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
	// PlanChanges is how an Owner's plan change from the Subscription
	// page takes effect ("": service.PlanChangesOperator).
	PlanChanges service.PlanChangeMode
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
	// NoRequestLog turns the API request log off (it is on by default).
	NoRequestLog bool
	// RequestLogInterval, RequestLogBuffer and RequestLogRetention tune
	// the request log (zero: reqlog's defaults).
	RequestLogInterval  time.Duration
	RequestLogBuffer    int
	RequestLogRetention snapglyph.LogRetention
	// RequestLogMaintain is how often the request log's coming partitions
	// are made and expired entries removed (default 1 hour).
	RequestLogMaintain time.Duration
	// Mailer sends the notices' mail (nil: mail is off; notices still
	// appear in the dashboard).
	Mailer notify.Mailer
	// MailBaseURL is where the links in mail point (default PublicURL).
	MailBaseURL string
	// NotifyPoll is how often the node looks for events to deliver
	// (default notify.DefaultPoll).
	NotifyPoll time.Duration
	// SecretScanKeys, if set, serves POST /secret-scanning/github
	// (GitHub's secret scanning partner program) checked with these keys.
	SecretScanKeys *server.ScanKeys
	// WebhookAllowInsecureLocal permits webhook endpoints on http:// and
	// loopback addresses (local development and tests).
	WebhookAllowInsecureLocal bool
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
	// RequestLog is the API request log's writer; nil when it is off.
	RequestLog *reqlog.Writer
	// Deliverer delivers the outbox's events (notices, mail) from this
	// node, claiming them against the other nodes.
	Deliverer *notify.Deliverer

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
	// logMaintain is how often the request log is maintained.
	logMaintain time.Duration

	log *slog.Logger
	// reclaims are this node's reclaims in flight, by organisation.
	reclaimMu sync.Mutex
	reclaims  map[string]*reclaimWait
}

// New builds a node over db; db.Now is the node's clock.
func New(ctx context.Context, db *store.DB, cfg Config, log *slog.Logger) (*Node, error) {
	n := &Node{ID: snapglyph.NewID("node"), DB: db, Service: service.New(db), log: log, prune: cfg.PruneInterval}
	n.Service.PlanChanges = cfg.PlanChanges
	if n.prune <= 0 {
		n.prune = DefaultPruneInterval
	}
	n.bg, n.stopBg = context.WithCancel(context.Background())
	n.BackgroundErrors = metrics.NewCounterVec("snapglyph_background_errors_total",
		"Failed background work by task: forget (leases given back after a plan or limit change), reclaim_answer, release (leases given back after a reconnect), reclaim, prune, request_log_write, request_log_prune, close, notify (an event's delivery attempt: notices and mail), webhook: (a webhook delivery attempt), notify_periodic (trial and key expiry dates).", "task")
	// Each fixed task's series is there from the start, at 0, so an alert
	// on its increase sees the first failure.
	for _, task := range []string{"forget", "reclaim_answer", "release", "reclaim", "prune", "request_log_write", "request_log_prune", "close", "notify", "notify_periodic"} {
		n.BackgroundErrors.Add(0, task)
	}
	n.Service.Log = log
	n.Service.Webhooks.AllowInsecureLocal = cfg.WebhookAllowInsecureLocal
	n.Verifier = auth.NewVerifier(db, cfg.CacheSize)
	n.Verifier.Now = func() time.Time { return db.Now() }
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
	n.Service.Changed = func(c snapglyph.Change) { n.apply(c, false) }
	if !cfg.NoRequestLog {
		n.RequestLog = reqlog.New(db, log)
		n.RequestLog.Now = func() time.Time { return db.Now() }
		if cfg.RequestLogInterval > 0 {
			n.RequestLog.Interval = cfg.RequestLogInterval
		}
		if cfg.RequestLogBuffer > 0 {
			n.RequestLog.MaxBuffer = cfg.RequestLogBuffer
		}
		if cfg.RequestLogRetention != nil {
			n.RequestLog.Retention = cfg.RequestLogRetention
		}
		n.Service.LogRetention = n.RequestLog.Retention
		n.logMaintain = cmp.Or(cfg.RequestLogMaintain, DefaultLogMaintainInterval)
	}
	var err error
	if n.Watcher, err = auth.NewWatcher(ctx, db, n.ID, n.Verifier, n.apply, log); err != nil {
		return nil, err
	}
	dashboard, err := web.New(web.Deps{Service: n.Service, Recorder: n.Recorder, Log: log, Signup: !cfg.SignupClosed, PublicURL: cfg.PublicURL,
		MailOn: cfg.Mailer != nil})
	if err != nil {
		return nil, err
	}
	n.Server = server.New(server.Deps{
		Service: n.Service, Verifier: n.Verifier, Watcher: n.Watcher, Meter: n.Meter,
		Recorder: n.Recorder, Log: log, LogRequests: cfg.LogRequests, PublicMetrics: !cfg.PrivateMetrics,
		Web: dashboard, TrustedProxies: cfg.TrustedProxies, PublicURL: cfg.PublicURL,
		AuthFailures: cfg.AuthFailures, RequestLog: n.RequestLog, SecretScanKeys: cfg.SecretScanKeys,
	})
	n.Server.RegisterMetrics(n.BackgroundErrors)
	base := cfg.MailBaseURL
	if base == "" {
		base = cfg.PublicURL
	}
	n.Deliverer = &notify.Deliverer{
		DB: db, Node: n.ID, Log: log, Poll: cfg.NotifyPoll, Errors: n.check,
		Sinks: []notify.Sink{
			&notify.Notifier{DB: db, Service: n.Service, Mailer: cfg.Mailer, BaseURL: strings.TrimRight(base, "/"), Log: log},
			&notify.WebhookSink{DB: db, AllowInsecureLocal: cfg.WebhookAllowInsecureLocal, Client: notify.NewWebhookClient(cfg.WebhookAllowInsecureLocal), Log: log},
		},
		Periodic: []func(context.Context) error{func(ctx context.Context) error {
			_, err := db.EmitTrialEvents(ctx)
			_, err2 := db.EmitKeyExpiryEvents(ctx)
			return errors.Join(err, err2)
		}},
	}
	if cfg.Mailer == nil {
		log.Info("mail is off (no --smtp-url): notices appear in the dashboard only")
	}
	return n, nil
}

// DefaultPruneInterval is how often a node prunes the change log and the
// expired idempotency keys.
const DefaultPruneInterval = 10 * time.Minute

// DefaultLogMaintainInterval is how often a node makes the request log's
// coming partitions and removes expired entries.
const DefaultLogMaintainInterval = time.Hour

// Timeouts of the background tasks. Shutdown waits for running tasks
// rather than cancelling them, because they give allowance back; these
// bound that wait (and so does the stop's deadline).
const (
	forgetTimeout  = 5 * time.Second
	releaseTimeout = 10 * time.Second
	pruneTimeout   = time.Minute
	// logMaintainTimeout bounds one maintenance of the request log (on
	// SQLite a first prune of a large log deletes many rows).
	logMaintainTimeout = 10 * time.Minute
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

// reclaimTimeout bounds the wait for other nodes to return their leases
// (and each node's return). It is as long as a change's confirmation
// (service.ApplyTimeout): on a loaded machine 500 ms left leases
// unreturned, so a node refused the last calls of an allowance that other
// nodes still held. Only requests at an organisation's last units wait.
const reclaimTimeout = 2 * time.Second

// reclaimWait is a reclaim in flight: the other nodes' answers, and done,
// closed when it has ended (answered or timed out).
type reclaimWait struct {
	answers chan struct{}
	done    chan struct{}
}

// reclaim asks every other node to return its unspent leases of the
// organisation and waits until each has answered (PostgreSQL only). A
// reclaim of the organisation already in flight on this node is joined,
// not started again: a second one would take its place and leave the
// first waiting, without answers, for the whole timeout.
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
	n.reclaimMu.Lock()
	if w := n.reclaims[orgID]; w != nil {
		n.reclaimMu.Unlock()
		select {
		case <-w.done:
		case <-ctx.Done():
		}
		return
	}
	if n.reclaims == nil {
		n.reclaims = make(map[string]*reclaimWait)
	}
	w := &reclaimWait{answers: make(chan struct{}, others), done: make(chan struct{})}
	ch := w.answers
	n.reclaims[orgID] = w
	n.reclaimMu.Unlock()
	defer func() {
		n.reclaimMu.Lock()
		delete(n.reclaims, orgID)
		close(w.done)
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
func (n *Node) apply(c snapglyph.Change, resync bool) {
	if resync {
		n.Verifier.InvalidateAll()
		// Limits are compared with each request's organisation, so
		// giving back the leases can happen after the cache is trusted
		// again; missed reclaim requests only delayed a return.
		n.spawn("release", releaseTimeout, n.Meter.Release)
		return
	}
	switch c.Kind {
	case snapglyph.ChangeKey:
		n.Verifier.InvalidateKey(c.RefID)
	case snapglyph.ChangeKeyCreated:
		n.Verifier.ForgetUnknown()
	case snapglyph.ChangeOrg:
		n.Verifier.InvalidateOrg(c.RefID)
		// The meter sees a changed limit by itself (it compares with the
		// organisation each request brings); giving back its leases
		// makes them available to the other nodes at once.
		org := c.RefID
		n.spawn("forget", forgetTimeout, func(ctx context.Context) error { return n.Meter.Forget(ctx, org) })
	case snapglyph.ChangeReclaim:
		org, from, _ := strings.Cut(c.RefID, "/")
		if from != n.ID {
			n.spawn("reclaim_answer", reclaimTimeout, func(ctx context.Context) error {
				err := n.Meter.Forget(ctx, org)
				return errors.Join(err, n.DB.NotifyReclaimed(ctx, org, from, n.ID))
			})
		}
	case snapglyph.ChangeReclaimed:
		parts := strings.Split(c.RefID, "/")
		if len(parts) == 3 && parts[1] == n.ID {
			n.reclaimMu.Lock()
			if w := n.reclaims[parts[0]]; w != nil {
				select {
				case w.answers <- struct{}{}:
				default:
				}
			}
			n.reclaimMu.Unlock()
		}
	}
}

// Handler is the node's HTTP handler.
func (n *Node) Handler() http.Handler { return n.Server }

// Start runs the background loops (change watcher, usage flusher, pruner,
// outbox deliverer) until Close.
func (n *Node) Start() {
	n.started = true
	n.loops.Add(4)
	go func() { defer n.loops.Done(); n.Deliverer.Run(n.bg) }()
	go func() { defer n.loops.Done(); n.Watcher.Run(n.bg) }()
	go func() { defer n.loops.Done(); n.Recorder.Run(n.bg) }()
	go func() { defer n.loops.Done(); n.pruneLoop(n.bg) }()
	if n.RequestLog != nil {
		n.loops.Add(2)
		go func() {
			defer n.loops.Done()
			n.RequestLog.Run(n.bg, func(err error) { n.check("request_log_write", err) })
		}()
		go func() { defer n.loops.Done(); n.logMaintainLoop(n.bg) }()
	}
}

// logMaintainLoop makes the request log's partitions for today and
// tomorrow and removes expired entries, now and every maintenance
// interval.
func (n *Node) logMaintainLoop(ctx context.Context) {
	t := time.NewTicker(n.logMaintain)
	defer t.Stop()
	for {
		n.check("request_log_prune", n.MaintainRequestLog(ctx))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// MaintainRequestLog runs one maintenance of the request log (see
// logMaintainLoop).
func (n *Node) MaintainRequestLog(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, logMaintainTimeout)
	defer cancel()
	parts, rows, err := reqlog.Maintain(ctx, n.DB, n.RequestLog.Retention, n.DB.Now())
	if parts > 0 || rows > 0 {
		n.log.Info("request log pruned", "partitions_dropped", parts, "rows_deleted", rows)
	}
	if ctx.Err() != nil && n.bg.Err() != nil {
		return nil // stopped by Close, not a failure
	}
	return err
}

// pruneLoop deletes old change-log entries, expired idempotency keys,
// delivered outbox events, read notices past store.NoticeRetention,
// leak report digests past store.LeakReportRetention and usage batch ids
// past store.UsageBatchRetention every prune
// interval, starting with one pass now.
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
	_, err3 := n.DB.PruneOutbox(ctx, store.OutboxRetention)
	now := n.DB.Now()
	_, err4 := n.DB.PruneNotices(ctx, now.Add(-store.NoticeRetention))
	_, err5 := n.DB.PruneLeakReports(ctx, now.Add(-store.LeakReportRetention))
	_, err6 := n.DB.PruneUsageBatches(ctx, now.Add(-store.UsageBatchRetention))
	if ctx.Err() != nil && n.bg.Err() != nil {
		return nil // stopped by Close, not a failure
	}
	return errors.Join(err, err2, err3, err4, err5, err6)
}

// Close is Shutdown with releaseTimeout.
func (n *Node) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	n.Shutdown(ctx)
}

// Shutdown ends the background work after the last request, by ctx's
// deadline (a stop's budget: serve's --shutdown-timeout less what the
// drain took). Unspent leases go back to the database (after the running
// tasks, which give leases back too) while buffered usage and request log
// entries are written, each tried again while the database is away (a
// restart) until the deadline less endReserve; then the loops stop. What
// could not be written by then is given up: logged with what it held
// (usage's API calls and credits, the log's entries) and counted
// (snapglyph_background_errors_total{task="close"},
// snapglyph_meter_return_errors_total), so a database that hangs does not
// hold the stop past the deadline.
func (n *Node) Shutdown(ctx context.Context) {
	n.taskMu.Lock()
	n.closing = true
	n.taskMu.Unlock()
	wctx := ctx
	if deadline, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, deadline.Add(-min(endReserve, time.Until(deadline)/4)))
		defer cancel()
	}
	// The leases go back while usage and the request log are written: the
	// three are independent, and each tries again while the database is
	// away, at the same time, so a stop with the database gone takes that
	// long, not thrice.
	leases := make(chan error, 1)
	go func() {
		tasks := make(chan struct{})
		go func() { n.tasks.Wait(); close(tasks) }()
		select {
		case <-tasks:
		case <-wctx.Done(): // the meter gives up; stopBg below ends the tasks
		}
		leases <- n.Meter.Close(wctx)
	}()
	// Flush before cancelling the loops: a flush cancelled in the middle
	// of its commit may have been saved and yet be put back and saved
	// again. This one waits for a running flush, then writes the rest;
	// the loops, when they end, write nothing more.
	var writes sync.WaitGroup
	writes.Go(func() { n.check("close", n.Recorder.Shutdown(wctx)) })
	if n.RequestLog != nil {
		writes.Go(func() { n.check("close", n.RequestLog.Shutdown(wctx)) })
	}
	writes.Wait()
	// A task may hold a lease return stuck on the database: cancelling
	// the tasks (stopBg) lets Close give up.
	returned := n.waitUntil(wctx, leases)
	n.stopBg()
	if n.started {
		loops := make(chan error)
		go func() { n.loops.Wait(); close(loops) }()
		if !n.waitUntil(ctx, loops) {
			n.log.Warn("background loops still running at the end of the stop's budget; not waited for")
		}
	}
	if !returned && !n.waitUntil(ctx, leases) {
		n.check("close", errors.New("meter: leases still being returned at the end of the stop's budget"))
	}
}

// endReserve is the part of a stop's budget (at most a quarter of what
// Shutdown is given) kept for the loops to end once the final writes are
// done or given up: the change watcher takes this node off the nodes
// table, trying for up to 2 s while the database hangs.
const endReserve = 3 * time.Second

// waitUntil waits for ch to yield a value (or be closed) until ctx ends;
// an error it yields is checked as the close task's. It reports whether
// ch did, preferring ch when both are ready.
func (n *Node) waitUntil(ctx context.Context, ch <-chan error) bool {
	select {
	case err := <-ch:
		n.check("close", err)
		return true
	default:
	}
	select {
	case err := <-ch:
		n.check("close", err)
		return true
	case <-ctx.Done():
		return false
	}
}
