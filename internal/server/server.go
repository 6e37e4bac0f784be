// Package server is SnapGlyph's HTTP surface: the REST API under /api/v1/,
// health checks, and (later) the dashboard.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/auth"
	"github.com/snapglyph/snapglyph/internal/meter"
	"github.com/snapglyph/snapglyph/internal/metrics"
	"github.com/snapglyph/snapglyph/internal/reqlog"
	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/usage"
)

type meterState = meter.State

// Server holds what the handlers need. Build it with New.
type Server struct {
	svc      *service.Service
	verifier *auth.Verifier
	watcher  auth.Watcher
	meter    *meter.Meter
	recorder *usage.Recorder
	reqlog   *reqlog.Writer // nil: no request log
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
	scanKeys    *ScanKeys       // nil: no secret-scanning endpoint

	metrics       metrics.Registry
	requests      *metrics.CounterVec
	latency       *metrics.HistogramVec
	verifications *metrics.CounterVec
}

// Deps are the parts a Server is built from; cmd/snapglyph wires them.
type Deps struct {
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
	// RequestLog, if set, records every API request that names a key of
	// an organisation.
	RequestLog *reqlog.Writer
	// SecretScanKeys, if set, turns on POST /secret-scanning/github
	// (GitHub's secret scanning partner program) with these keys.
	SecretScanKeys *ScanKeys
}

// New returns the server for deps.
func New(d Deps) *Server {
	s := &Server{
		svc: d.Service, verifier: d.Verifier, watcher: d.Watcher,
		meter: d.Meter, recorder: d.Recorder, reqlog: d.RequestLog, log: d.Log, now: d.Service.Now,
		logRequests: d.LogRequests,
		trusted:     d.TrustedProxies,
		openAPI:     openAPIFor(d.PublicURL),
		problemBase: problemTypeBase(d.PublicURL),
		scanKeys:    d.SecretScanKeys,
	}
	switch {
	case d.AuthFailures == 0:
		s.failures = newFailureLimiter(DefaultAuthFailures)
	case d.AuthFailures > 0:
		s.failures = newFailureLimiter(d.AuthFailures)
	}
	s.registerMetrics()
	s.registerRequestLogMetrics()
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
	mux.HandleFunc("POST "+SecretScanPath, s.handleSecretScan)

	s.routeTable = http.NewServeMux()
	for _, rt := range s.apiRoutes() {
		s.routeTable.Handle(rt.method+" "+rt.path, http.NotFoundHandler())
		h := rt.public
		if h == nil {
			// Each route is wrapped on its own, so a request is routed once.
			h = s.requireAPIKey(rt.scope, s.checkInput(rt.handler))
		}
		mux.Handle(rt.method+" "+rt.path, h)
	}
	// Everything else under /api/ is the API's, answered with a problem:
	// an unknown path (e.g. /api/v2/…) is a 404, a known one with another
	// method a 405 with Allow, and a CORS preflight a clear refusal; a key
	// sent with them is checked and the request logged (handleNoRoute).
	mux.HandleFunc("/api/", s.handleNoRoute)
	if web != nil {
		mux.Handle("/", web)
	}
	return s.requestLog(s.apiPathsAsSent(mux))
}

// apiRoute is one endpoint of the REST API: an authenticated handler, or
// a public one (no API key, not metered). scope is the permission a
// restricted key needs for the request (see scopes.go).
type apiRoute struct {
	method, path string
	handler      apiHandler
	public       http.Handler
	scope        scopeFunc
}

// apiRoutes lists every API endpoint: the mux is built from it, and a test
// holds it against the OpenAPI document.
func (s *Server) apiRoutes() []apiRoute {
	return []apiRoute{
		{"GET", "/api/v1/usage", s.handleUsage, nil, needs(snapglyph.ScopeUsageRead)},
		{"POST", "/api/v1/qr-codes", s.handleQRCreate, nil, needs(snapglyph.ScopeQRWrite)},
		{"GET", "/api/v1/qr-codes", s.handleQRList, nil, needs(snapglyph.ScopeQRRead)},
		{"GET", "/api/v1/qr-codes/{id}", s.handleQRGet, nil, qrGetScope},
		{"PATCH", "/api/v1/qr-codes/{id}", s.handleQRUpdate, nil, needs(snapglyph.ScopeQRWrite)},
		{"DELETE", "/api/v1/qr-codes/{id}", s.handleQRDelete, nil, needs(snapglyph.ScopeQRWrite)},
		{"GET", "/api/v1/openapi.json", nil, s.checkPublicInput(http.HandlerFunc(s.handleOpenAPI)), nil},
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
	if err := s.svc.Ping(ctx); err != nil {
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

type requestInfoKey struct{}

// requestInfo is what the handlers learn about a request for the request
// log: its id, the key it named (set once the key is found, refused or
// not), the problem code it was answered with and what it was charged. It
// lives in the request's statusWriter, so it costs no allocation.
type requestInfo struct {
	id      string
	at      time.Time // when it arrived, by the server's clock; in id too
	key     *snapglyph.APIKey
	org     *snapglyph.Org
	code    string
	charged snapglyph.Counts
	// call is the request's charged API call (nil before the charge): a
	// request the server fails is refunded (writeError).
	call *principal
	// route is the route the request log names when no endpoint served
	// the request (see NoRoute); "" for the mux's pattern.
	route string
}

func infoFrom(ctx context.Context) *requestInfo {
	in, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return in
}

func requestID(ctx context.Context) string {
	if in := infoFrom(ctx); in != nil {
		return in.id
	}
	return ""
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
	info   requestInfo
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
		// One reading of the clock: the request's time (its id, every
		// check, the usage and log entries) and the start of its duration.
		// A test's clock has no monotonic reading; durations then come from
		// the real clock.
		at := s.now()
		start := at
		if !hasMonotonic(at) {
			start = time.Now()
		}
		id := snapglyph.NewRequestID(at)
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w, info: requestInfo{id: id, at: at}}
		ctx := context.WithValue(r.Context(), requestInfoKey{}, &sw.info)
		r2 := r.WithContext(ctx)
		if uriLength(r) > MaxURILength {
			// A key sent to the API with it is checked as on a path no
			// endpoint serves: a refused key gets its own answer, and
			// the request is in the organisation's log either way.
			ok := true
			if isAPIPath(r.URL.Path) && len(r.Header.Values("Authorization")) > 0 {
				sw.info.route = NoRoute
				if _, _, _, ok = s.authenticate(sw, r2, &sw.info); ok {
					s.verifyCount("valid") // as handleNoRoute counts it
				}
			}
			if ok {
				s.writeError(sw, r2, snapglyph.Codef(snapglyph.EURITOOLONG, "uri_too_long",
					"the URL is %d bytes long; at most %d bytes of path and query are accepted", uriLength(r), MaxURILength))
			}
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
		if in := &sw.info; in.key != nil && s.reqlog != nil {
			s.logRequest(r2, in, route, sw.status, elapsed)
		}
		if s.logRequests {
			s.log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", id), slog.String("method", loggedMethod(r.Method)), slog.String("path", snapglyph.LoggedPath(r.URL.Path)),
				slog.Int("status", sw.status), slog.Duration("duration", elapsed), slog.String("ip", clientIP(r)))
		}
	})
}

// logRequest adds a request that named a key to the request log. The
// entry is a copy of strings the request holds already; the writer makes
// them storable in the background.
func (s *Server) logRequest(r *http.Request, in *requestInfo, pattern string, status int, elapsed time.Duration) {
	_, route, _ := strings.Cut(pattern, " ") // "GET /api/v1/usage"
	if in.route != "" {
		route = in.route
	}
	e := snapglyph.RequestLogEntry{
		At: in.at, RequestID: in.id, OrgID: in.org.ID, KeyID: in.key.ID, KeyPrefix: in.key.Prefix,
		Method: r.Method, Route: route, ResourceID: r.PathValue("id"), Status: status, Code: in.code,
		IP: clientIP(r), UserAgent: r.UserAgent(), Duration: elapsed,
		Calls: in.charged.APICalls, Credits: in.charged.ImageCredits, Plan: in.org.EffectivePlan(in.at),
	}
	s.reqlog.Record(&e)
}

// hasMonotonic reports whether t carries a monotonic clock reading, as
// time.Now's results do (Round(0) strips it).
func hasMonotonic(t time.Time) bool { return t != t.Round(0) }
