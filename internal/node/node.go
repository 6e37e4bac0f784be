// Package node wires one SnapGlyph node together: cache, watcher, meter,
// usage recorder and HTTP server over one database. cmd/snapglyph serves
// it; tests build the very same node.
package node

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/meter"
	"github.com/snapglyph/snapglyph/internal/server"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// Config tunes a node; zero values take the defaults.
type Config struct {
	FlushInterval time.Duration // usage and last-used write-behind
	CacheSize     int           // keys cached
	LeaseBlock    int64         // largest block of allowance leased at once
	LogRequests   bool
}

// Node is one running SnapGlyph node.
type Node struct {
	DB       *store.DB
	Service  *service.Service
	Verifier *auth.Verifier
	Watcher  auth.Watcher
	Meter    *meter.Meter
	Recorder *usage.Recorder
	Server   *server.Server

	stop func()
	wg   sync.WaitGroup
}

// New builds a node over db; db.Now is the node's clock.
func New(ctx context.Context, db *store.DB, cfg Config, log *slog.Logger) (*Node, error) {
	n := &Node{DB: db, Service: service.New(db)}
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
	n.Service.Changed = func(c store.Change) { n.apply(c, false) }
	var err error
	if n.Watcher, err = auth.NewWatcher(ctx, db, n.Verifier, n.apply, log); err != nil {
		return nil, err
	}
	n.Server = server.New(server.Deps{
		DB: db, Service: n.Service, Verifier: n.Verifier, Watcher: n.Watcher, Meter: n.Meter,
		Recorder: n.Recorder, Log: log, LogRequests: cfg.LogRequests,
	})
	return n, nil
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
	case store.ChangeOrg:
		n.Verifier.InvalidateOrg(c.RefID)
		n.Meter.Forget(context.Background(), c.RefID)
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
