// Package server is SnapGlyph's HTTP surface: the REST API under /api/v1/,
// health checks, and (later) the dashboard.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/meter"
	"github.com/snapglyph/snapglyph/internal/metrics"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
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

	handler     http.Handler
	openAPI     []byte // the OpenAPI document as served
	problemBase string // prefix of problem type URIs
	// routeTable has every API route, for the Allow header of a 405.
	routeTable *http.ServeMux
	// LogRequests turns on one log line per request.
	logRequests bool
	trusted     []netip.Prefix
	failures    *failureLimiter // nil: failed authentications are not limited

	metrics       metrics.Registry
	requests      *metrics.CounterVec
	latency       *metrics.HistogramVec
	verifications *metrics.CounterVec
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
	// PublicMetrics serves GET /metrics on the public listener; otherwise
	// the caller serves MetricsHandler on a listener of its own.
	PublicMetrics bool
	// Web, if set, serves every other path: the dashboard.
	Web http.Handler
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client.
	TrustedProxies []netip.Prefix
	// PublicURL, if set, is where clients reach the service; the OpenAPI
	// document names it as its server.
	PublicURL string
	// AuthFailures is how many failed authentications a client address
	// may make per minute before they are answered 429; 0 means
	// DefaultAuthFailures and a negative number no limit.
	AuthFailures int
}

// New returns the server for deps.
func New(d Deps) *Server {
	s := &Server{
		db: d.DB, svc: d.Service, verifier: d.Verifier, watcher: d.Watcher,
		meter: d.Meter, recorder: d.Recorder, log: d.Log, now: d.DB.Now,
		logRequests: d.LogRequests,
		trusted:     d.TrustedProxies,
		openAPI:     openAPIFor(d.PublicURL),
		problemBase: problemTypeBase(d.PublicURL),
	}
	switch {
	case d.AuthFailures == 0:
		s.failures = newFailureLimiter(DefaultAuthFailures)
	case d.AuthFailures > 0:
		s.failures = newFailureLimiter(d.AuthFailures)
	}
	s.registerMetrics()
	s.handler = s.routes(d.PublicMetrics, d.Web)
	return s
}

func (s *Server) verifyCount(outcome string) { s.verifications.Inc(outcome) }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes(publicMetrics bool, web http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.HandleFunc("GET /problems/{$}", s.handleProblems)
	mux.HandleFunc("GET /problems/{code}", s.handleProblems)
	if publicMetrics {
		mux.Handle("GET /metrics", s.MetricsHandler())
	}

	s.routeTable = http.NewServeMux()
	for _, rt := range s.apiRoutes() {
		s.routeTable.Handle(rt.method+" "+rt.path, http.NotFoundHandler())
		h := rt.public
		if h == nil {
			// Each route is wrapped on its own, so a request is routed once.
			h = s.requireAPIKey(s.checkInput(rt.handler))
		}
		mux.Handle(rt.method+" "+rt.path, h)
	}
	// Everything else under /api/ is the API's, answered with a problem:
	// an unknown path (e.g. /api/v2/…) is a 404, a known one with another
	// method a 405 with Allow, and a CORS preflight a clear refusal.
	mux.HandleFunc("/api/", s.handleNoRoute)
	if web != nil {
		mux.Handle("/", web)
	}
	return s.requestLog(mux)
}

// apiRoute is one endpoint of the REST API: an authenticated handler, or
// a public one (no API key, not metered).
type apiRoute struct {
	method, path string
	handler      apiHandler
	public       http.Handler
}

// apiRoutes lists every API endpoint: the mux is built from it, and a test
// holds it against the OpenAPI document.
func (s *Server) apiRoutes() []apiRoute {
	return []apiRoute{
		{"GET", "/api/v1/usage", s.handleUsage, nil},
		{"POST", "/api/v1/qr-codes", s.handleQRCreate, nil},
		{"GET", "/api/v1/qr-codes", s.handleQRList, nil},
		{"GET", "/api/v1/qr-codes/{id}", s.handleQRGet, nil},
		{"PATCH", "/api/v1/qr-codes/{id}", s.handleQRUpdate, nil},
		{"DELETE", "/api/v1/qr-codes/{id}", s.handleQRDelete, nil},
		{"GET", "/api/v1/openapi.json", nil, http.HandlerFunc(s.handleOpenAPI)},
	}
}

// APIRoutes returns "METHOD /path" for every API endpoint.
func (s *Server) APIRoutes() []string {
	var out []string
	for _, rt := range s.apiRoutes() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
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

// requestLog gives each request an id (returned as X-Request-Id), counts
// it and its latency by route and status, and, if enabled, logs one line
// for it. It never logs headers or the query string, where secrets could
// be.
func (s *Server) requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = realClient(s.trusted, r)
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		r2 := r.WithContext(ctx)
		if uriLength(r) > MaxURILength {
			s.writeError(sw, r2, snapglyph.Reasonf(snapglyph.EURITOOLONG, "uri_too_long",
				"the URL is %d bytes long; at most %d bytes of path and query are accepted", uriLength(r), MaxURILength))
		} else {
			next.ServeHTTP(sw, r2)
		}
		elapsed := time.Since(start)
		route := r2.Pattern // set by the mux: "GET /api/v1/qr-codes/{id}"
		if route == "" {
			route = "unmatched"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.requests.Inc(route, strconv.Itoa(sw.status))
		s.latency.Observe(elapsed, route)
		if s.logRequests {
			s.log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", id), slog.String("method", loggedMethod(r.Method)), slog.String("path", loggedPath(r.URL.Path)),
				slog.Int("status", sw.status), slog.Duration("duration", elapsed), slog.String("ip", clientIP(r)))
		}
	})
}
