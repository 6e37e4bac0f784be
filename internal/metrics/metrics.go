// Package metrics keeps a node's counters and latency histograms and
// writes them in the Prometheus text exposition format (version 0.0.4).
// It is small on purpose: a handful of counter and histogram families
// with labels, lock-free on the request path once a series exists.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds metric families and writes them in name order.
type Registry struct {
	mu       sync.Mutex
	families []family
}

type family interface {
	name() string
	write(w io.Writer)
}

// Register adds families.
func (r *Registry) Register(f ...family) {
	r.mu.Lock()
	r.families = append(r.families, f...)
	r.mu.Unlock()
}

// Write writes every family in the text format.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	fs := append([]family(nil), r.families...)
	r.mu.Unlock()
	sort.Slice(fs, func(i, j int) bool { return fs[i].name() < fs[j].name() })
	for _, f := range fs {
		f.write(w)
	}
}

// labelKey joins label values; values never contain NUL.
func labelKey(values []string) string { return strings.Join(values, "\x00") }

func formatLabels(names, values []string, extra ...string) string {
	if len(names) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", n, strconv.Quote(values[i]))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", extra[i], strconv.Quote(extra[i+1]))
	}
	b.WriteByte('}')
	return b.String()
}

// CounterVec is a family of counters by label values.
type CounterVec struct {
	Name, Help string
	Labels     []string
	series     sync.Map // labelKey → *counterSeries
}

type counterSeries struct {
	values []string
	n      atomic.Uint64
}

// NewCounterVec returns a counter family.
func NewCounterVec(name, help string, labels ...string) *CounterVec {
	return &CounterVec{Name: name, Help: help, Labels: labels}
}

// Add adds n to the series with the label values.
func (c *CounterVec) Add(n uint64, values ...string) {
	k := labelKey(values)
	s, ok := c.series.Load(k)
	if !ok {
		s, _ = c.series.LoadOrStore(k, &counterSeries{values: append([]string(nil), values...)})
	}
	s.(*counterSeries).n.Add(n)
}

// Inc adds one.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

func (c *CounterVec) name() string { return c.Name }

func (c *CounterVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.Name, c.Help, c.Name)
	var lines []string
	c.series.Range(func(_, v any) bool {
		s := v.(*counterSeries)
		lines = append(lines, fmt.Sprintf("%s%s %d\n", c.Name, formatLabels(c.Labels, s.values), s.n.Load()))
		return true
	})
	sort.Strings(lines)
	for _, l := range lines {
		io.WriteString(w, l)
	}
}

// Func is a single gauge or counter whose value is read when written.
type Func struct {
	Name, Help, Type string // Type: "gauge" or "counter"
	Value            func() float64
}

func (f *Func) name() string { return f.Name }

func (f *Func) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", f.Name, f.Help, f.Name, f.Type, f.Name, formatFloat(f.Value()))
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// DefaultBuckets are latency bounds in seconds, from 100 µs to 5 s.
var DefaultBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// HistogramVec is a family of latency histograms by label values.
type HistogramVec struct {
	Name, Help string
	Labels     []string
	Buckets    []float64
	series     sync.Map
}

type histSeries struct {
	values []string
	counts []atomic.Uint64 // per bucket, not cumulative; last is +Inf
	sumNS  atomic.Int64
	count  atomic.Uint64
}

// NewHistogramVec returns a histogram family with DefaultBuckets.
func NewHistogramVec(name, help string, labels ...string) *HistogramVec {
	return &HistogramVec{Name: name, Help: help, Labels: labels, Buckets: DefaultBuckets}
}

// Observe records a duration in the series with the label values.
func (h *HistogramVec) Observe(d time.Duration, values ...string) {
	k := labelKey(values)
	v, ok := h.series.Load(k)
	if !ok {
		v, _ = h.series.LoadOrStore(k, &histSeries{values: append([]string(nil), values...), counts: make([]atomic.Uint64, len(h.Buckets)+1)})
	}
	s := v.(*histSeries)
	sec := d.Seconds()
	i := sort.SearchFloat64s(h.Buckets, sec)
	s.counts[i].Add(1)
	s.sumNS.Add(int64(d))
	s.count.Add(1)
}

func (h *HistogramVec) name() string { return h.Name }

func (h *HistogramVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", h.Name, h.Help, h.Name)
	var all []*histSeries
	h.series.Range(func(_, v any) bool { all = append(all, v.(*histSeries)); return true })
	sort.Slice(all, func(i, j int) bool { return labelKey(all[i].values) < labelKey(all[j].values) })
	for _, s := range all {
		var cum uint64
		for i := range s.counts {
			cum += s.counts[i].Load()
			le := "+Inf"
			if i < len(h.Buckets) {
				le = formatFloat(h.Buckets[i])
			}
			fmt.Fprintf(w, "%s_bucket%s %d\n", h.Name, formatLabels(h.Labels, s.values, "le", le), cum)
		}
		labels := formatLabels(h.Labels, s.values)
		fmt.Fprintf(w, "%s_sum%s %s\n%s_count%s %d\n", h.Name, labels, formatFloat(time.Duration(s.sumNS.Load()).Seconds()), h.Name, labels, s.count.Load())
	}
}
