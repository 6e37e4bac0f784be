package server

import (
	"net/http"

	"github.com/snapglyph/snapglyph/internal/metrics"
)

func (s *Server) registerMetrics() {
	s.requests = metrics.NewCounterVec("snapglyph_http_requests_total", "HTTP requests by route and status.", "route", "status")
	s.latency = metrics.NewHistogramVec("snapglyph_http_request_duration_seconds", "HTTP request latency by route.", "route")
	s.verifications = metrics.NewCounterVec("snapglyph_key_verifications_total",
		"API key checks by outcome: valid, missing, malformed, unknown, revoked, expired, paused, ip_not_allowed, insufficient_scope, throttled (429 authentication_throttled), error.", "outcome")
	gauge := func(name, help string, f func() float64) *metrics.Func {
		return &metrics.Func{Name: name, Help: help, Type: "gauge", Value: f}
	}
	counter := func(name, help string, f func() float64) *metrics.Func {
		return &metrics.Func{Name: name, Help: help, Type: "counter", Value: f}
	}
	s.metrics.Register(s.requests, s.latency, s.verifications,
		counter("snapglyph_key_cache_hits_total", "Key verifications answered from the cache.", func() float64 { return float64(s.verifier.Hits.Load()) }),
		counter("snapglyph_key_cache_misses_total", "Key verifications that read the database.", func() float64 { return float64(s.verifier.Misses.Load()) }),
		counter("snapglyph_key_cache_unknown_hits_total", "Unknown keys answered from the negative cache, without a database read.", func() float64 { return float64(s.verifier.UnknownHits.Load()) }),
		counter("snapglyph_cache_invalidations_total", "Cache invalidations applied (from this node, the CLI or other nodes).", func() float64 { return float64(s.verifier.Invalidations.Load()) }),
		gauge("snapglyph_auth_throttle_addresses", "Client addresses with recent failed authentications remembered by the throttle.", func() float64 { return float64(s.failures.Len()) }),
		gauge("snapglyph_change_listener_up", "1 while this node receives changes from other processes.", func() float64 { return b2f(s.watcher.Ready()) }),
		gauge("snapglyph_key_cache_trusted", "1 while the key cache is in use (0: every request reads the database).", func() float64 { return b2f(s.verifier.Trusted()) }),
		counter("snapglyph_meter_leases_total", "Round trips to the database to lease allowance.", func() float64 { return float64(s.meter.Leases.Load()) }),
		counter("snapglyph_meter_prefetch_errors_total", "Failed leases ahead of need (the request that needs the units leases them itself).", func() float64 { return float64(s.meter.PrefetchErrors.Load()) }),
		counter("snapglyph_meter_return_errors_total", "Unspent leases that could not be given back (lost for the month; the limit is never passed).", func() float64 { return float64(s.meter.ReturnErrors.Load()) }),
		counter("snapglyph_meter_stranded_leases_total", "Failed leases beyond the 10,000 a node keeps to settle (if one committed, its units are lost for the month).", func() float64 { return float64(s.meter.StrandedLeases.Load()) }),
		counter("snapglyph_changes_unconfirmed_total", "Management changes made on this node that not every live node confirmed within 2 s.", func() float64 { return float64(s.svc.UnconfirmedChanges.Load()) }),
		counter("snapglyph_usage_flushes_total", "Flushes of buffered usage and last-used data.", func() float64 { return float64(s.recorder.Flushes.Load()) }),
		counter("snapglyph_usage_flush_errors_total", "Failed flushes (their data is kept for the next one).", func() float64 { return float64(s.recorder.FlushErrors.Load()) }),
		counter("snapglyph_usage_rows_dropped_total", "Usage rows the database refused for their data (logged and dropped so the rest of the batch is saved).", func() float64 { return float64(s.recorder.RowsDropped.Load()) }),
		gauge("snapglyph_usage_flush_duration_seconds", "Duration of the last flush.", func() float64 { return float64(s.recorder.LastFlush.Load()) / 1e9 }),
		gauge("snapglyph_usage_backlog", "Buffered usage entries not yet written.", func() float64 { return float64(s.recorder.Backlog()) }),
		gauge("snapglyph_db_connections_open", "Open database connections.", func() float64 { return float64(s.svc.DBStats().OpenConnections) }),
		gauge("snapglyph_db_connections_in_use", "Database connections in use.", func() float64 { return float64(s.svc.DBStats().InUse) }),
		counter("snapglyph_db_connection_waits_total", "Times a request waited for a database connection.", func() float64 { return float64(s.svc.DBStats().WaitCount) }),
		counter("snapglyph_db_connection_wait_seconds_total", "Time spent waiting for a database connection.", func() float64 { return s.svc.DBStats().WaitDuration.Seconds() }),
	)
}

// registerRequestLogMetrics adds the request log's metrics, if it is on.
func (s *Server) registerRequestLogMetrics() {
	if s.reqlog == nil {
		return
	}
	for _, f := range s.reqlog.Metrics() {
		s.metrics.Register(f)
	}
}

// RegisterMetrics adds counters kept outside the server (the node's
// background work) to /metrics. Call it before serving.
func (s *Server) RegisterMetrics(c ...*metrics.CounterVec) {
	for _, v := range c {
		s.metrics.Register(v)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// MetricsHandler serves the node's metrics in the Prometheus text format.
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.metrics.Write(w)
	})
}
