package web

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// The Logs page: the organisation's API request log for its Owners and
// Admins (the service checks the role again and scopes every read to the
// session's organisation). Filters are a GET form, so a filtered view is
// a link; the chart is SVG drawn here; exports stream.

// logRoutes registers the Logs pages for the roles given by team.
func (a *app) logRoutes(mux *inputMux, team func(http.HandlerFunc) http.Handler) {
	mux.Handle("GET /settings/logs", team(a.handleLogs))
	mux.Handle("GET /settings/logs/export.csv", team(a.handleLogExport("csv")))
	mux.Handle("GET /settings/logs/export.ndjson", team(a.handleLogExport("ndjson")))
	mux.Handle("GET /settings/logs/{id}", team(a.handleLogEntry))
}

// logRanges are the time ranges the page offers; "custom" takes from and
// to, "all" everything kept.
var logRanges = []struct{ ID, Label string }{
	{"1h", "Last hour"}, {"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"}, {"all", "Everything kept"}, {"custom", "Custom (UTC)"},
}

const defaultLogRange = "24h"

// logForm is the filter form as sent: echoed back into the form and into
// every link (pages, exports, the request pages).
type logForm struct {
	Key, Status, Code, Endpoint, IP, Range, From, To string
	Suspicious                                       bool
	// Sent is set when the address names any filter or a page: the form
	// was used, or a link to a filtered view or a later page followed.
	Sent bool
	// problem is why the address's filters cannot be used as sent: a
	// filter given twice, or a value Suspicious does not take. query
	// returns it.
	problem error
}

// logParams are the query parameters of the Logs page.
var logParams = []string{"key", "status", "code", "endpoint", "ip", "range", "from", "to", "suspicious", "cursor"}

// readLogForm reads the filters. From and To without a range mean a
// custom range; with a range other than custom, query refuses them.
func readLogForm(r *http.Request) logForm { return logFormOf(r.URL.Query()) }

// logFormOf is readLogForm for the query q. A filter given twice is
// refused (which was meant cannot be told), as is a value of suspicious
// other than 1; the other filters' values are checked by query and the
// service. Other parameters are ignored: a link to the page may carry
// some of its own (utm_source).
func logFormOf(q url.Values) logForm {
	f := logForm{Key: q.Get("key"), Status: q.Get("status"), Code: q.Get("code"), Endpoint: q.Get("endpoint"), IP: q.Get("ip"),
		Range: q.Get("range"), From: q.Get("from"), To: q.Get("to"), Suspicious: q.Get("suspicious") == "1"}
	for _, name := range logParams {
		f.Sent = f.Sent || q.Has(name)
		if len(q[name]) > 1 && f.problem == nil {
			f.problem = logFilterError(name, fmt.Sprintf("the address gives %q more than once; a filter takes one value", name))
		}
	}
	if v := q.Get("suspicious"); v != "" && v != "1" && f.problem == nil {
		f.problem = logFilterError("suspicious", `"suspicious" takes 1 (suspicious requests only) or nothing (every request)`)
	}
	if f.Range == "" {
		f.Range = defaultLogRange
		if f.From != "" || f.To != "" {
			f.Range = "custom"
		}
	}
	return f
}

// logFilterError refuses the filter field of the Logs' address.
func logFilterError(field, msg string) error {
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: msg,
		Fields: []snapglyph.FieldError{{Field: field, Message: msg}}}
}

// rangeLabel names a range the page offers; "" for any other.
func rangeLabel(id string) string {
	for _, r := range logRanges {
		if r.ID == id {
			return r.Label
		}
	}
	return ""
}

// values is the form as a query string, empty fields left out.
func (f logForm) values() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{{"key", f.Key}, {"status", f.Status}, {"code", f.Code}, {"endpoint", f.Endpoint}, {"ip", f.IP}, {"range", f.Range}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	if f.Range == "custom" {
		if f.From != "" {
			v.Set("from", f.From)
		}
		if f.To != "" {
			v.Set("to", f.To)
		}
	}
	if f.Suspicious {
		v.Set("suspicious", "1")
	}
	return v
}

// Link is the Logs page with the form's filters and extra parameters.
func (f logForm) Link(path string, extra ...string) string {
	v := f.values()
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	if len(v) == 0 {
		return path
	}
	return path + "?" + v.Encode()
}

// query is the service's query for the form. An unknown range is
// refused, naming the field; so are From and To with a range other than
// custom. Those are not taken as a custom range: the range is what the
// user chose last (without scripts, a page showing a custom range sends
// its dates along with any range chosen after), and Time says so.
func (f logForm) query(cursor string, limit int) (service.LogQuery, error) {
	q := service.LogQuery{Key: f.Key, Status: f.Status, Code: f.Code, Endpoint: f.Endpoint, IP: f.IP, Suspicious: f.Suspicious, Cursor: cursor, Limit: limit}
	if f.problem != nil {
		return q, f.problem
	}
	if f.Range == "custom" {
		q.From, q.To = f.From, f.To
		return q, nil
	}
	label := rangeLabel(f.Range)
	if label == "" {
		return q, &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "the time range is not one of those offered",
			Fields: []snapglyph.FieldError{{Field: "range", Message: "is not one of the ranges offered"}}}
	}
	if f.From != "" || f.To != "" {
		return q, &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: "From and To are used only with the time range Custom (UTC)",
			Fields: []snapglyph.FieldError{{Field: "range", Message: label + " does not use From and To: choose Custom (UTC) to list the requests between them"}}}
	}
	if f.Range != "all" {
		q.From = f.Range
	}
	return q, nil
}

// logOption is an entry of a select on the Logs page.
type logOption struct {
	ID, Label string
	Selected  bool
}

type logsPage struct {
	base
	Form      logForm
	Error     string            // why the filters were refused
	Errors    map[string]string // the same, by field
	Ranges    []logOption
	Keys      []logOption
	Endpoints []logOption
	Classes   []logOption
	Entries   []logRow
	Older     string // the next page's link; "" at the end
	Newest    string // the first page's link, on later pages
	Chart     *chartView
	Flagged   []logRow // the newest suspicious entries, above the list
	MoreFlags string   // the link to every suspicious entry
	Gaps      []snapglyph.RequestLogGap
	Dropped   int64
	CSV       string
	NDJSON    string
	KeyName   string // the key filtered on
	// Heading is the list's heading. After a filter (Announce) it says
	// how many requests match, and which; the heading then takes focus
	// (its id is the form's fragment, "results"), so a screen reader
	// reads the count and the keyboard goes on from the results rather
	// than from the top of the page.
	Heading  string
	Announce bool
	// NoAPI is set when the organisation's plan has no API access now
	// (Starter, an ended trial): nothing is logged, and the page says why.
	NoAPI bool
}

// logRow is an entry as the list shows it.
type logRow struct {
	snapglyph.RequestLogEntry
	Link    string
	KeyName string
}

// Class is the status's class for styling: "s2" … "s5".
func (r logRow) Class() string { return "s" + strconv.Itoa(r.Status/100) }

// DurationMS is the duration in milliseconds, one decimal.
func (r logRow) DurationMS() string {
	return strconv.FormatFloat(float64(r.Duration.Microseconds())/1000, 'f', 1, 64)
}

// Reasons are the entry's suspicious signs in words.
func (r logRow) Reasons() []string { return r.RequestLogEntry.Reasons() }

const logPageSize = 50

func (a *app) handleLogs(w http.ResponseWriter, r *http.Request) {
	b, err := a.newBase(w, r, "Logs", "logs")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, act, org := r.Context(), actor(r), b.Org.ID
	f := readLogForm(r)
	p := &logsPage{base: b, Form: f, Errors: map[string]string{}, NoAPI: !b.Org.HasAPI(a.svc.Now())}
	keys, err := a.svc.Keys(ctx, act, org, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	names := map[string]string{}
	p.Keys = []logOption{{ID: "", Label: "All keys"}}
	for _, k := range keys {
		names[k.ID] = k.Name
		label := k.Name + " (" + k.Prefix + "...)"
		if k.Status == snapglyph.KeyRevoked {
			label += " — revoked"
		}
		p.Keys = append(p.Keys, logOption{ID: k.ID, Label: label, Selected: k.ID == f.Key})
	}
	p.KeyName = names[f.Key]
	for _, rg := range logRanges {
		p.Ranges = append(p.Ranges, logOption{ID: rg.ID, Label: rg.Label, Selected: rg.ID == f.Range})
	}
	p.Endpoints = []logOption{{ID: "", Label: "All endpoints"}}
	for _, ep := range service.LogEndpoints {
		p.Endpoints = append(p.Endpoints, logOption{ID: ep, Label: ep, Selected: ep == f.Endpoint})
	}
	p.Classes = []logOption{{ID: "", Label: "Any status"}}
	for _, c := range []string{"2xx", "4xx", "5xx", "401", "403", "404", "429"} {
		p.Classes = append(p.Classes, logOption{ID: c, Label: c, Selected: c == f.Status})
	}
	row := func(e *snapglyph.RequestLogEntry) logRow {
		return logRow{RequestLogEntry: *e, Link: f.Link("/settings/logs/" + url.PathEscape(e.RequestID)), KeyName: names[e.KeyID]}
	}
	cursor := r.URL.Query().Get("cursor")
	q, err := f.query(cursor, logPageSize)
	var entries []snapglyph.RequestLogEntry
	var next string
	if err == nil {
		entries, next, err = a.svc.RequestLog(ctx, act, org, q)
	}
	if err == nil {
		q.Cursor = ""
		p.Chart, err = a.chart(r, q)
	}
	if err == nil && !f.Suspicious {
		sq := q
		sq.Suspicious, sq.Limit = true, 6
		var flagged []snapglyph.RequestLogEntry
		flagged, _, err = a.svc.RequestLog(ctx, act, org, sq)
		for i := range flagged {
			if i == 5 {
				p.MoreFlags = f.Link("/settings/logs", "suspicious", "1") + "#results"
				break
			}
			p.Flagged = append(p.Flagged, row(&flagged[i]))
		}
	}
	if err == nil {
		p.Gaps, err = a.svc.RequestLogGaps(ctx, act, org, q)
		for _, g := range p.Gaps {
			p.Dropped += g.Dropped
		}
	}
	if err != nil {
		if snapglyph.ErrorKind(err) != snapglyph.EINVALID && snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			a.fail(w, r, err)
			return
		}
		// Bad filters: the page again, saying which field and why.
		p.Error = sentence(snapglyph.ErrorMessage(err))
		p.Errors = fieldErrors(err)
		if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
			p.Errors["key"] = p.Error
		}
		p.Chart, p.Flagged, p.Entries = nil, nil, nil
		p.Heading = p.heading()
		a.render(w, r, http.StatusUnprocessableEntity, "logs.html", p)
		return
	}
	for i := range entries {
		p.Entries = append(p.Entries, row(&entries[i]))
	}
	// Another page lands on its results, as a filter does.
	if next != "" {
		p.Older = f.Link("/settings/logs", "cursor", next) + "#results"
	}
	if cursor != "" {
		p.Newest = f.Link("/settings/logs") + "#results"
	}
	p.Announce = f.Sent
	p.Heading = p.heading()
	p.CSV, p.NDJSON = f.Link("/settings/logs/export.csv"), f.Link("/settings/logs/export.ndjson")
	a.render(w, r, http.StatusOK, "logs.html", p)
}

// heading is the list's heading: "Requests of Production-WebApp";
// announced, the count and the filters in words: "3 requests of
// Production-WebApp, status 4xx, last 24 hours". The count is the
// chart's: every request that matches, not only this page's.
func (p *logsPage) heading() string {
	f := p.Form
	what := "request"
	if f.Suspicious {
		what = "suspicious request"
	}
	if !p.Announce || p.Chart == nil {
		h := strings.ToUpper(what[:1]) + what[1:] + "s"
		if p.KeyName != "" {
			h += " of " + p.KeyName
		}
		return h
	}
	n := p.Chart.Total
	if n != 1 {
		what += "s"
	}
	h := snapglyph.FormatCount(n) + " " + what
	if p.KeyName != "" {
		h += " of " + p.KeyName
	}
	parts := []string{h}
	for _, kv := range [][2]string{{"status ", f.Status}, {"error code ", f.Code}, {"", f.Endpoint}, {"from ", f.IP}} {
		if v := strings.TrimSpace(kv[1]); v != "" {
			parts = append(parts, kv[0]+v)
		}
	}
	if f.Range == "custom" {
		parts = append(parts, p.Chart.Range)
	} else {
		parts = append(parts, strings.ToLower(rangeLabel(f.Range)))
	}
	return strings.Join(parts, ", ")
}

// logEntryPage is the page of one request.
type logEntryPage struct {
	base
	Entry logRow
	Key   *snapglyph.APIKey // nil if the key is gone
	// KeyState is the key's state now: "active", "paused", "revoked",
	// "expired".
	KeyState string
	// RefusedAs is how the key was not active when the request was
	// refused, as recorded: "paused", "revoked", "expired"; "" if the
	// entry does not say.
	RefusedAs string
	Back      string
	KeyLogs   string
	IPLogs    string
	// BurstRefusals is how many refusals in a minute make a burst.
	BurstRefusals int
}

func (a *app) handleLogEntry(w http.ResponseWriter, r *http.Request) {
	b, err := a.newBase(w, r, "Request", "logs")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, act, org := r.Context(), actor(r), b.Org.ID
	e, err := a.svc.RequestLogEntry(ctx, act, org, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f := readLogForm(r)
	// Back to the list, filtered as it was (by the range at least): it
	// lands on its results, as a filter does.
	p := &logEntryPage{base: b, Entry: logRow{RequestLogEntry: *e}, Back: f.Link("/settings/logs") + "#results", BurstRefusals: snapglyph.BurstRefusals}
	keys, err := a.svc.Keys(ctx, act, org, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, k := range keys {
		if k.ID == e.KeyID {
			p.Key, p.Entry.KeyName = k, k.Name
			p.KeyState = string(k.StateAt(a.now()))
		}
	}
	p.RefusedAs = snapglyph.InactiveKeyState(e.Code)
	all := logForm{Range: "all"}
	p.KeyLogs = all.Link("/settings/logs", "key", e.KeyID) + "#results"
	p.IPLogs = all.Link("/settings/logs", "ip", e.IP) + "#results"
	p.Title = "Request " + e.RequestID
	a.render(w, r, http.StatusOK, "logs_entry.html", p)
}

// handleLogExport streams the filtered entries as CSV or NDJSON, a
// thousand at a time from the database: a month of a busy key is never
// held in memory. An error before the first entry is an error page; one
// after it cuts the download short (the connection is closed, so the
// client sees an incomplete file rather than a silently short one).
func (a *app) handleLogExport(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := sessionFrom(r.Context())
		f := readLogForm(r)
		q, err := f.query("", 0)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		rc := http.NewResponseController(w)
		// Every write's error is looked at: a client that went away stops
		// the export at once instead of after more pages of the log.
		bw := bufio.NewWriterSize(w, 32<<10)
		var cw *csv.Writer
		enc := json.NewEncoder(bw)
		started := false
		n := 0
		start := func() error {
			started = true
			h := w.Header()
			name := fmt.Sprintf("snapglyph-requests-%s.%s", a.now().UTC().Format("20060102-150405"), format)
			h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
			if format == "csv" {
				h.Set("Content-Type", "text/csv; charset=utf-8")
			} else {
				h.Set("Content-Type", "application/x-ndjson")
			}
			w.WriteHeader(http.StatusOK)
			if format == "csv" {
				cw = csv.NewWriter(bw)
				return cw.Write(service.LogCSVHeader)
			}
			return nil
		}
		flush := func() error {
			if cw != nil {
				cw.Flush()
				if err := cw.Error(); err != nil {
					return err
				}
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			return nil
		}
		err = a.svc.ExportRequestLog(r.Context(), actor(r), s.OrgID, q, func(e *snapglyph.RequestLogEntry) error {
			if !started {
				if err := start(); err != nil {
					return err
				}
			}
			var err error
			if format == "csv" {
				err = cw.Write(service.LogCSVRecord(e))
			} else {
				err = enc.Encode(service.EntryJSON(e))
			}
			if err != nil {
				return err
			}
			if n++; n%1000 == 0 {
				if err := flush(); err != nil {
					return err
				}
				// A long export keeps going as long as the client reads.
				rc.SetWriteDeadline(time.Now().Add(time.Minute))
			}
			return nil
		})
		if err != nil && !started {
			if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
				// The key filter names no key of the organisation: a bad
				// filter, 422 as on the Logs page, not a missing page.
				a.renderError(w, r, http.StatusUnprocessableEntity, headings[http.StatusUnprocessableEntity], sentence(snapglyph.ErrorMessage(err)))
				return
			}
			a.fail(w, r, err)
			return
		}
		if err != nil {
			a.log.Warn("request log export cut short", "org", s.OrgID, "entries", n, "err", err)
			panic(http.ErrAbortHandler)
		}
		if !started {
			err = start() // no entries: a file with just the header
		}
		if err == nil {
			err = flush()
		}
		if err != nil {
			a.log.Warn("request log export cut short", "org", s.OrgID, "entries", n, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// chartView is a bar chart as the template "chart-plot" draws it: an SVG
// of bars, stacked by class, on one count axis. The Logs page's stacks
// requests by status class (and shows the same numbers as a table); a
// key's page draws its calls and its credits per day as two charts.
type chartView struct {
	ID      string // prefix of the title's and description's ids: "chart"
	Title   string
	Desc    string // the totals, in words
	Noun    string // what a bar counts, in its title: "requests"
	Width   int
	Height  int
	Max     int64
	Bars    []chartBar
	Ticks   []chartTick
	Totals  []classTotal
	Total   int64
	PerHour bool
	Unit    string // "hour", "day", "3 days": a bar's width
	Range   string // the range drawn, "1 Nov 2026 00:00 to 2 Dec 2026 14:05 UTC": never after now
}

type chartBar struct {
	Label    string // "15 Nov 12:00"
	X, W     float64
	Segments []chartSegment
	Total    int64
	ByClass  [5]int64
}

type chartSegment struct {
	Class string
	Y, H  float64
}

type chartTick struct {
	X      float64
	Label  string
	Anchor string // text-anchor: the first label starts at its bar, the last ends at it
}

type classTotal struct {
	Class, Label string
	N            int64
}

// Geometry of the chart, in SVG units.
const (
	chartW    = 720
	chartH    = 160
	chartLeft = 44 // room for the axis labels
	chartTop  = 8
	chartBot  = 22
)

func (a *app) chart(r *http.Request, q service.LogQuery) (*chartView, error) {
	c, err := a.svc.RequestLogChart(r.Context(), actor(r), sessionFrom(r.Context()).OrgID, q)
	if err != nil {
		return nil, err
	}
	v := &chartView{ID: "chart", Noun: "requests", Width: chartW, Height: chartH, PerHour: c.Bucket == time.Hour}
	var totals [5]int64
	for _, b := range c.Buckets {
		for i, n := range b.ByClass {
			totals[i] += n
		}
	}
	for i, n := range totals {
		v.Total += n
		if n > 0 || i == 1 || i == 3 || i == 4 {
			v.Totals = append(v.Totals, classTotal{Class: "c" + strconv.Itoa(i+1), Label: strconv.Itoa(i+1) + "xx", N: n})
		}
	}
	v.Unit = "hour"
	layout := "2 Jan 15:04"
	switch days := int(c.Bucket / (24 * time.Hour)); {
	case days == 1:
		v.Unit, layout = "day", "2 Jan 2006"
	case days > 1:
		v.Unit, layout = strconv.Itoa(days)+" days", "2 Jan 2006"
	}
	v.Range = fmt.Sprintf("%s to %s UTC", c.From.UTC().Format("2 Jan 2006 15:04"), c.To.UTC().Format("2 Jan 2006 15:04"))
	v.Title = fmt.Sprintf("Requests per %s by status class, %s", v.Unit, v.Range)
	v.Desc = snapglyph.FormatCount(v.Total) + " requests in all"
	for _, t := range v.Totals {
		v.Desc += ", " + t.Label + " " + snapglyph.FormatCount(t.N)
	}
	v.Desc += "."
	labels := make([]string, len(c.Buckets))
	stacks := make([][]stackPart, len(c.Buckets))
	for i, b := range c.Buckets {
		labels[i] = b.Start.UTC().Format(layout)
		for cls, n := range b.ByClass {
			stacks[i] = append(stacks[i], stackPart{Class: "c" + strconv.Itoa(cls+1), N: n})
		}
	}
	v.place(labels, stacks)
	for i, b := range c.Buckets {
		v.Bars[i].ByClass = b.ByClass
	}
	return v, nil
}

// stackPart is one class's count in a bar.
type stackPart struct {
	Class string
	N     int64
}

// place lays out one bar per label, stacking its parts bottom up on one
// scale whose top is the tallest bar (Max), and four of the labels
// along the time axis: the first, two between and the last.
func (v *chartView) place(labels []string, stacks [][]stackPart) {
	for _, parts := range stacks {
		var total int64
		for _, p := range parts {
			total += p.N
		}
		v.Max = max(v.Max, total)
	}
	n := len(labels)
	if n == 0 {
		return
	}
	plotW := float64(chartW - chartLeft)
	plotH := float64(chartH - chartTop - chartBot)
	bw := plotW / float64(n)
	scale := 0.0
	if v.Max > 0 {
		scale = plotH / float64(v.Max)
	}
	for i, label := range labels {
		bar := chartBar{Label: label, X: chartLeft + float64(i)*bw + bw*0.1, W: bw * 0.8}
		y := float64(chartH - chartBot)
		for _, p := range stacks[i] {
			bar.Total += p.N
			if p.N == 0 {
				continue
			}
			h := float64(p.N) * scale
			y -= h
			bar.Segments = append(bar.Segments, chartSegment{Class: p.Class, Y: y, H: h})
		}
		v.Bars = append(v.Bars, bar)
	}
	for _, i := range []int{0, n / 3, 2 * n / 3, n - 1} {
		if len(v.Ticks) > 0 && v.Ticks[len(v.Ticks)-1].Label == v.Bars[i].Label {
			continue
		}
		v.Ticks = append(v.Ticks, chartTick{X: v.Bars[i].X + v.Bars[i].W/2, Label: v.Bars[i].Label, Anchor: "middle"})
	}
	v.Ticks[0].Anchor, v.Ticks[0].X = "start", v.Bars[0].X
	if last := &v.Ticks[len(v.Ticks)-1]; len(v.Ticks) > 1 {
		last.Anchor, last.X = "end", v.Bars[n-1].X+v.Bars[n-1].W
	}
}

// Bottom is the y of the time axis.
func (v *chartView) Bottom() int { return chartH - chartBot }

// Left is the x of the count axis.
func (v *chartView) Left() int { return chartLeft }

// PlotWidth is the width of the bars' area, right of the count axis.
func (v *chartView) PlotWidth() int { return chartW - chartLeft }

// Percent is where x (in SVG units) lies across the bars' area, in
// percent: the time axis's labels are placed so, outside the stretched
// SVG, so that their text keeps its shape.
func (v *chartView) Percent(x float64) string {
	return strconv.FormatFloat(100*(x-chartLeft)/float64(chartW-chartLeft), 'f', 2, 64)
}

// ClassLabel names the status class of ByClass[i]: "1xx" to "5xx".
func (v *chartView) ClassLabel(i int) string { return strconv.Itoa(i+1) + "xx" }
