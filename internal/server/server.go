// Package server is SnapGlyph's HTTP surface: the REST API under /api/v1/,
// health checks, and (later) the dashboard.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/meter"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/store"
	"github.com/snapglyph/snapglyph/internal/usage"
)

type meterState = meter.State

// Server holds what the handlers need. Build it with New.
type Server struct {
	db       *store.DB
	svc      *service.Service
	verifier *auth.Verifier
	watcher  auth.Watcher
	meter    *meter.Meter
	recorder *usage.Recorder
	log      *slog.Logger
	now      func() time.Time

	handler http.Handler
	// LogRequests turns on one log line per request.
	logRequests bool

	verifyOutcomes map[string]*atomic.Uint64
}

// Deps are the parts a Server is built from; cmd/snapglyph wires them.
type Deps struct {
	DB          *store.DB
	Service     *service.Service
	Verifier    *auth.Verifier
	Watcher     auth.Watcher
	Meter       *meter.Meter
	Recorder    *usage.Recorder
	Log         *slog.Logger
	LogRequests bool
}

// New returns the server for deps.
func New(d Deps) *Server {
	s := &Server{
		db: d.DB, svc: d.Service, verifier: d.Verifier, watcher: d.Watcher,
		meter: d.Meter, recorder: d.Recorder, log: d.Log, now: d.DB.Now,
		logRequests:    d.LogRequests,
		verifyOutcomes: make(map[string]*atomic.Uint64),
	}
	for _, o := range []string{"valid", "missing", "malformed", "unknown", "paused", "revoked", "error"} {
		s.verifyOutcomes[o] = new(atomic.Uint64)
	}
	s.handler = s.routes()
	return s
}

func (s *Server) verifyCount(outcome string) { s.verifyOutcomes[outcome].Add(1) }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)

	// Every API route is wrapped on its own, so a request is routed once.
	api := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requireAPIKey(h)) }
	api("GET /api/v1/usage", s.handleUsage)
	mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errNoRoute(r))
	})
	return s.requestLog(mux)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// handleReadyz answers 200 only while the database answers and changes
// from other nodes are being received.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	if !s.watcher.Ready() {
		http.Error(w, "change listener down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ready\n"))
}

type requestIDKey struct{}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestLog gives each request an id (returned as X-Request-Id) and, if
// enabled, logs one line for it. It never logs headers or the query
// string, where secrets could be.
func (s *Server) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		if !s.logRequests {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		s.log.LogAttrs(ctx, slog.LevelInfo, "request",
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start)), slog.String("ip", clientIP(r)))
	})
}
