// Package testserver runs a whole SnapGlyph node for tests that drive it
// from outside, over HTTP: the API and the dashboard on one 127.0.0.1
// listener, served by the node's own handler as `snapglyph serve` serves
// them, over a testdb database whose clock the test sets.
//
// It exists for the tests that live in the e2e module (they may import
// this module's internal packages, the internal rule being by import path)
// and imports testing: nothing in the product imports it.
package testserver

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/snapglyph/snapglyph/internal/node"
	"github.com/snapglyph/snapglyph/internal/testdb"
)

// Epoch is where a server's clock starts.
var Epoch = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// Server is one started node serving HTTP on 127.0.0.1.
type Server struct {
	URL   string // http://127.0.0.1:port, the API under /api/ and the dashboard
	DB    *testdb.DB
	Clock *testdb.Clock  // the database's clock, at Epoch to begin with
	Node  *node.Node     // its Service, Verifier, Watcher...
	Logs  *testdb.Buffer // the node's log
}

// readyTimeout bounds the wait for the node's change watcher (PostgreSQL's
// LISTEN connection) to be ready.
const readyTimeout = 5 * time.Second

// Start builds a node over db with cfg, starts its background loops and
// serves it; it returns once the node hears changes. The server and the
// node are closed when the test ends.
func Start(tb testing.TB, db *testdb.DB, cfg node.Config) *Server {
	tb.Helper()
	s := &Server{DB: db, Clock: testdb.NewClock(Epoch), Logs: &testdb.Buffer{}}
	db.Now = s.Clock.Now
	log := slog.New(slog.NewTextHandler(s.Logs, nil))
	n, err := node.New(context.Background(), db.DB, cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	s.Node = n
	n.Start()
	srv := httptest.NewServer(n.Handler())
	s.URL = srv.URL
	tb.Cleanup(func() {
		srv.Close()
		n.Close()
	})
	deadline := time.Now().Add(readyTimeout)
	for !n.Watcher.Ready() {
		if time.Now().After(deadline) {
			tb.Fatalf("the change watcher was not ready within %v", readyTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return s
}
