package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestExposition(t *testing.T) {
	var r Registry
	c := NewCounterVec("app_requests_total", "Requests.", "route", "status")
	h := NewHistogramVec("app_duration_seconds", "Latency.", "route")
	g := &Func{Name: "app_up", Help: "Up.", Type: "gauge", Value: func() float64 { return 1 }}
	r.Register(c, h, g)
	c.Inc("GET /x", "200")
	c.Add(2, "GET /x", "200")
	c.Inc(`GET /"q"`, "404")
	h.Observe(300*time.Microsecond, "GET /x")
	h.Observe(2*time.Second, "GET /x")
	var b strings.Builder
	r.Write(&b)
	got := b.String()
	for _, want := range []string{
		"# TYPE app_requests_total counter\n",
		`app_requests_total{route="GET /x",status="200"} 3` + "\n",
		`app_requests_total{route="GET /\"q\"",status="404"} 1` + "\n",
		"# TYPE app_duration_seconds histogram\n",
		`app_duration_seconds_bucket{route="GET /x",le="0.00025"} 0` + "\n",
		`app_duration_seconds_bucket{route="GET /x",le="0.0005"} 1` + "\n",
		`app_duration_seconds_bucket{route="GET /x",le="2.5"} 2` + "\n",
		`app_duration_seconds_bucket{route="GET /x",le="+Inf"} 2` + "\n",
		`app_duration_seconds_sum{route="GET /x"} 2.0003` + "\n",
		`app_duration_seconds_count{route="GET /x"} 2` + "\n",
		"# TYPE app_up gauge\napp_up 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Index(got, "app_duration") > strings.Index(got, "app_requests") {
		t.Error("families are not in name order")
	}
}
