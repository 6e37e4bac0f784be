// Package node wires one SnapGlyph node together: cache, watcher, meter,
// usage recorder and HTTP server over one database. cmd/snapglyph serves
// it; tests build the very same node.
package node

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/meter"
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

	stop func()
	wg   sync.WaitGroup

	// reclaims are the answers awaited by this node's reclaim requests,
	// by organisation.
	log       *slog.Logger
	reclaimMu sync.Mutex
	reclaims  map[string]chan struct{}
}

// New builds a node over db; db.Now is the node's clock.
func New(ctx context.Context, db *store.DB, cfg Config, log *slog.Logger) (*Node, error) {
	n := &Node{ID: snapglyph.NewID("node"), DB: db, Service: service.New(db), log: log}
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
	return n, nil
}

// reclaimTimeout bounds the wait for other nodes to return their leases.
const reclaimTimeout = 500 * time.Millisecond

// reclaim asks every other node to return its unspent leases of the
// organisation and waits until each has answered (PostgreSQL only).
func (n *Node) reclaim(orgID string) {
	if !n.DB.Postgres() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), reclaimTimeout)
	defer cancel()
	others, err := n.DB.OtherListeningNodes(ctx, n.ID)
	if err != nil || others == 0 {
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
	if n.DB.NotifyReclaim(ctx, orgID, n.ID) != nil {
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

// apply drops what a change makes stale.
func (n *Node) apply(c store.Change, resync bool) {
	if resync {
		n.Verifier.InvalidateAll()
		n.Meter.Close(context.Background())
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
		// organisation each request brings); giving back its leases can
		// wait for a database write, so it runs off the watcher's path.
		go n.Meter.Forget(context.Background(), c.RefID)
	case store.ChangeReclaim:
		org, from, _ := strings.Cut(c.RefID, "/")
		if from != n.ID {
			// Off the watcher's goroutine: returning leases writes to
			// the database, and revocations must not wait behind it.
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), reclaimTimeout)
				defer cancel()
				n.Meter.Forget(ctx, org)
				n.DB.NotifyReclaimed(ctx, org, from, n.ID)
			}()
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

// Start runs the background loops (change watcher, usage flusher) until
// Close.
func (n *Node) Start() {
	bg, stop := context.WithCancel(context.Background())
	n.stop = stop
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.Watcher.Run(bg) }()
	go func() { defer n.wg.Done(); n.Recorder.Run(bg) }()
}

// Close ends the background loops after the last request: unspent leases
// go back to the database and buffered usage is flushed.
func (n *Node) Close() {
	n.Meter.Close(context.Background())
	if n.stop != nil {
		n.stop()
		n.wg.Wait()
	} else {
		n.Recorder.Close()
	}
}
