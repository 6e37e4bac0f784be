package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// LogEndpoints are the API's authenticated endpoints, as the request log
// names them (method and route template); a server test holds them
// against its route table.
var LogEndpoints = []string{
	"GET /api/v1/usage",
	"POST /api/v1/qr-codes",
	"GET /api/v1/qr-codes",
	"GET /api/v1/qr-codes/{id}",
	"PATCH /api/v1/qr-codes/{id}",
	"DELETE /api/v1/qr-codes/{id}",
}

// LogQuery is a search of the request log as people and scripts write it:
// every field is text from outside, checked by the methods that take it.
// Empty fields select everything.
type LogQuery struct {
	Key      string // a key id, revoked keys included
	Status   string // "401" or a class, "4xx"
	Code     string // a problem code, "api_key_revoked"
	Endpoint string // "GET /api/v1/qr-codes/{id}", or the route alone
	IP       string
	From, To string // see snapglyph.ParseLogTime; From defaults to the longest retention ago
	// Suspicious keeps only entries with a suspicious sign.
	Suspicious bool
	Cursor     string // from a previous page's Next
	Limit      int
}

// Page sizes of the request log.
const (
	DefaultLogPage = 50
	MaxLogPage     = 1000
	// exportPage is how many entries an export reads at a time: a month
	// of a busy key is never held in memory.
	exportPage = 1000
)

// logRetention returns the request log's retention policy.
func (s *Service) logRetention() snapglyph.LogRetention {
	if s.LogRetention != nil {
		return s.LogRetention
	}
	return snapglyph.DefaultLogRetention()
}

// authorizeLogs checks that actor may read the organisation's request
// log: its Owners and Admins, and the operator. Returns ENOTFOUND,
// EFORBIDDEN.
func (s *Service) authorizeLogs(ctx context.Context, actor snapglyph.Actor, orgID string) error {
	if err := snapglyph.CheckText("org", orgID); err != nil {
		return err
	}
	role, err := s.role(ctx, actor, orgID)
	if err != nil {
		return err
	}
	if role != snapglyph.RoleOwner && role != snapglyph.RoleAdmin {
		return snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only Owners and Admins can read the request log")
	}
	return nil
}

// invalidField is an EINVALID error naming the field.
func invalidField(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &snapglyph.Error{Kind: snapglyph.EINVALID, Code: "invalid_request", Message: msg,
		Fields: []snapglyph.FieldError{{Field: field, Message: msg}}}
}

// LogFilter checks a query for the organisation and returns its filter.
// Returns EINVALID naming the field, and ENOTFOUND for a key that is not
// the organisation's.
func (s *Service) LogFilter(ctx context.Context, orgID string, q LogQuery) (snapglyph.RequestLogFilter, error) {
	var f snapglyph.RequestLogFilter
	for _, v := range []struct{ field, value string }{{"key", q.Key}, {"status", q.Status}, {"code", q.Code}, {"endpoint", q.Endpoint},
		{"ip", q.IP}, {"from", q.From}, {"to", q.To}, {"cursor", q.Cursor}} {
		if err := snapglyph.CheckText(v.field, v.value); err != nil {
			return f, err
		}
		if len(v.value) > 200 {
			return f, invalidField(v.field, "%s is %d bytes long; no valid value is longer than 200", v.field, len(v.value))
		}
	}
	now := s.db.Now()
	if k := strings.TrimSpace(q.Key); k != "" {
		key, err := s.db.Key(ctx, k)
		if err != nil && snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
			return f, err
		}
		if err != nil || key.OrgID != orgID {
			return f, snapglyph.Codef(snapglyph.ENOTFOUND, "not_found", "no API key has the id %s in this organisation", snapglyph.QuoteID(k))
		}
		f.KeyID = key.ID
	}
	if q.Status != "" {
		lo, hi, err := snapglyph.ParseStatusFilter(q.Status)
		if err != nil {
			return f, invalidField("status", "%s", snapglyph.ErrorMessage(err))
		}
		f.StatusMin, f.StatusMax = lo, hi
	}
	if c := strings.TrimSpace(q.Code); c != "" {
		if len(c) > 64 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz_") != "" {
			return f, invalidField("code", "%q is not an error code: codes are lower case words joined by _, e.g. api_key_revoked", c)
		}
		f.Code = c
	}
	if ep := strings.TrimSpace(q.Endpoint); ep != "" {
		method, route, ok := strings.Cut(ep, " ")
		if !ok {
			method, route = "", ep
		}
		method = strings.ToUpper(method)
		known := false
		for _, e := range LogEndpoints {
			m, r, _ := strings.Cut(e, " ")
			if r == route && (method == "" || method == m || method == "HEAD" && m == "GET") {
				known = true
			}
		}
		if !known {
			return f, invalidField("endpoint", "%q is not an API endpoint; use one of: %s", ep, strings.Join(LogEndpoints, ", "))
		}
		f.Method, f.Route = method, route
	}
	if q.IP != "" {
		ip, err := snapglyph.ParseLogIP(q.IP)
		if err != nil {
			return f, invalidField("ip", "%s", snapglyph.ErrorMessage(err))
		}
		f.IP = ip
	}
	if err := s.logRange(ctx, orgID, q, now, &f); err != nil {
		return f, err
	}
	if q.Cursor != "" {
		c, err := snapglyph.ParseLogCursor(q.Cursor)
		if err != nil {
			return f, invalidField("cursor", "%s", snapglyph.ErrorMessage(err))
		}
		f.After = c
	}
	f.Suspicious = q.Suspicious
	switch {
	case q.Limit == 0:
		f.Limit = DefaultLogPage
	case q.Limit < 0 || q.Limit > MaxLogPage:
		return f, invalidField("limit", "the limit must be 1 to %d (got %d); export the log for more", MaxLogPage, q.Limit)
	default:
		f.Limit = q.Limit
	}
	return f, nil
}

// logRange sets f's range from q's: never before the longest retention
// (refused: no entry is kept that long), cut to the organisation's
// current retention and to now (LogClockSkew after it: no entry is later),
// so every read of the log (list, chart, gaps, exports, CLI) covers at
// most the days the organisation's plan keeps. A far-future end is cut,
// not refused: a date picker's "end of this month" is a fair end. Returns
// EINVALID naming the field for a range that ends before it starts,
// starts after now, or ends before the oldest entry kept.
func (s *Service) logRange(ctx context.Context, orgID string, q LogQuery, now time.Time, f *snapglyph.RequestLogFilter) error {
	longest := slices.Max(s.logRetention().Classes())
	earliest := now.AddDate(0, 0, -longest)
	f.From = earliest
	if q.From != "" {
		t, err := snapglyph.ParseLogTime("from", q.From, now)
		if err != nil {
			return err
		}
		if t.Before(earliest.Add(-time.Minute)) {
			return invalidField("from", "the request log keeps entries for at most %d days: from must be after %s", longest, earliest.Format(time.RFC3339))
		}
		f.From = t
	}
	latest := now.Add(snapglyph.LogClockSkew)
	f.To = latest
	if q.To != "" {
		t, err := snapglyph.ParseLogTime("to", q.To, now)
		if err != nil {
			return err
		}
		if !t.After(f.From) {
			if q.From == "" { // the start is the longest retention's
				return invalidField("to", "the range ends (%s) before the oldest request the log keeps: it keeps entries for at most %d days, from %s",
					t.UTC().Format(time.RFC3339), longest, f.From.UTC().Format(time.RFC3339))
			}
			return invalidField("to", "the range ends (%s) before it starts (%s)", t.Format(time.RFC3339), f.From.Format(time.RFC3339))
		}
		if t.Before(latest) {
			f.To = t
		}
	}
	if !f.To.After(f.From) {
		return invalidField("from", "the range starts (%s) after now (%s): no request is logged later", f.From.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	days, err := s.logDays(ctx, orgID, now)
	if err != nil {
		return err
	}
	if kept := now.AddDate(0, 0, -days); f.From.Before(kept) {
		f.From = kept
		if !f.To.After(f.From) {
			return invalidField("to", "the range ends (%s) before the oldest request kept: this organisation's plan keeps the request log for %d days, from %s",
				f.To.UTC().Format(time.RFC3339), days, kept.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// logDays returns how many days back the organisation's request log is
// shown at time now: its current plan's retention, whatever its entries
// were stored with. Returns ENOTFOUND.
func (s *Service) logDays(ctx context.Context, orgID string, now time.Time) (int, error) {
	org, err := s.db.Org(ctx, orgID)
	if err != nil {
		return 0, err
	}
	return s.logRetention().Of(org, now), nil
}

// RequestLog returns a page of the organisation's request log, newest
// first, and the cursor of the next page ("" at the end). Owners, Admins
// and the operator. Returns EINVALID, ENOTFOUND, EFORBIDDEN.
func (s *Service) RequestLog(ctx context.Context, actor snapglyph.Actor, orgID string, q LogQuery) ([]snapglyph.RequestLogEntry, string, error) {
	if err := s.authorizeLogs(ctx, actor, orgID); err != nil {
		return nil, "", err
	}
	f, err := s.LogFilter(ctx, orgID, q)
	if err != nil {
		return nil, "", err
	}
	want := f.Limit
	f.Limit++ // one more tells whether there is a next page
	var out []snapglyph.RequestLogEntry
	err = s.db.RequestLog(ctx, orgID, f, time.Time{}, func(e *snapglyph.RequestLogEntry) error {
		out = append(out, *e)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > want {
		out = out[:want]
		next = snapglyph.CursorOf(&out[want-1]).String()
	}
	return out, next, nil
}

// ExportRequestLog calls fn with every entry of the organisation matching
// q (its Limit is the most to export, 0 for all), newest first, reading a
// thousand at a time. An error from fn stops the export. Returns
// EINVALID, ENOTFOUND, EFORBIDDEN before the first entry.
func (s *Service) ExportRequestLog(ctx context.Context, actor snapglyph.Actor, orgID string, q LogQuery, fn func(*snapglyph.RequestLogEntry) error) error {
	if err := s.authorizeLogs(ctx, actor, orgID); err != nil {
		return err
	}
	most := q.Limit
	if most < 0 {
		return invalidField("limit", "the limit cannot be negative (got %d)", most)
	}
	q.Limit = 0
	f, err := s.LogFilter(ctx, orgID, q)
	if err != nil {
		return err
	}
	sent := 0
	for {
		f.Limit = exportPage
		if most > 0 {
			f.Limit = min(exportPage, most-sent)
		}
		var last *snapglyph.LogCursor
		n := 0
		err := s.db.RequestLog(ctx, orgID, f, time.Time{}, func(e *snapglyph.RequestLogEntry) error {
			c := snapglyph.CursorOf(e)
			last = &c
			n++
			return fn(e)
		})
		if err != nil {
			return err
		}
		sent += n
		if n < f.Limit || (most > 0 && sent >= most) {
			return nil
		}
		f.After = last
	}
}

// RequestLogEntry returns one request of the organisation's log by its
// request id. Returns ENOTFOUND (also for another organisation's
// request), EFORBIDDEN.
func (s *Service) RequestLogEntry(ctx context.Context, actor snapglyph.Actor, orgID, requestID string) (*snapglyph.RequestLogEntry, error) {
	if err := s.authorizeLogs(ctx, actor, orgID); err != nil {
		return nil, err
	}
	if err := snapglyph.CheckText("request id", requestID); err != nil {
		return nil, err
	}
	now := s.db.Now()
	days, err := s.logDays(ctx, orgID, now)
	if err != nil {
		return nil, err
	}
	return s.db.RequestLogEntry(ctx, orgID, requestID, now.AddDate(0, 0, -days))
}

// LogChart is the request log's chart: requests per bucket (an hour, a
// day for ranges over a week, several days for ranges over ChartMaxDays
// days) by status class, every bucket of the range present, zeros
// included.
type LogChart struct {
	From, To time.Time // To is never after now
	Bucket   time.Duration
	Buckets  []snapglyph.ChartBucket
}

// chartHourly is the longest range charted by the hour.
const chartHourly = 7 * 24 * time.Hour

// ChartMaxDays is the longest range charted by the day; a longer one
// (a retention set above it) is charted in buckets of several days, so
// the chart never has more than about this many bars.
const ChartMaxDays = 200

// RequestLogChart counts the organisation's requests matching q per hour
// (per day for ranges over a week, per several days for ranges over
// ChartMaxDays days) and status class. Returns EINVALID, ENOTFOUND,
// EFORBIDDEN.
func (s *Service) RequestLogChart(ctx context.Context, actor snapglyph.Actor, orgID string, q LogQuery) (*LogChart, error) {
	if err := s.authorizeLogs(ctx, actor, orgID); err != nil {
		return nil, err
	}
	q.Cursor, q.Limit = "", 0
	f, err := s.LogFilter(ctx, orgID, q)
	if err != nil {
		return nil, err
	}
	// The filter ends at most LogClockSkew after now, for entries of a
	// clock a little ahead; the chart's range ends at now.
	c := &LogChart{From: f.From.UTC(), To: f.To.UTC(), Bucket: time.Hour}
	if now := s.db.Now().UTC(); c.To.After(now) {
		c.To = now
	}
	if span := c.To.Sub(c.From); span > chartHourly {
		day := 24 * time.Hour
		days := int64((span + day - 1) / day)
		c.Bucket = time.Duration((days+ChartMaxDays-1)/ChartMaxDays) * day
	}
	got, err := s.db.RequestLogChart(ctx, orgID, f, time.Time{}, c.Bucket)
	if err != nil {
		return nil, err
	}
	byStart := map[int64]snapglyph.ChartBucket{}
	// The buckets cover the range, and those after it that hold entries
	// (requests at its very end, which the list shows too, or of a
	// clock a little ahead): the filter's end bounds them.
	end := c.To
	for _, b := range got {
		byStart[b.Start.UnixMilli()] = b
		if e := b.Start.Add(c.Bucket); e.After(end) {
			end = e
		}
	}
	for t := bucketStart(c.From, c.Bucket); t.Before(end); t = t.Add(c.Bucket) {
		b := byStart[t.UnixMilli()]
		b.Start = t
		c.Buckets = append(c.Buckets, b)
	}
	return c, nil
}

// bucketStart returns the start of the chart bucket holding t: buckets
// are aligned on the Unix epoch, as the store counts them.
func bucketStart(t time.Time, bucket time.Duration) time.Time {
	w := bucket.Milliseconds()
	ms := t.UnixMilli()
	return time.UnixMilli(ms - ((ms%w)+w)%w).UTC()
}

// RequestLogGaps returns the hours of the query's range in which some of
// the organisation's requests could not be recorded. Returns EINVALID,
// ENOTFOUND, EFORBIDDEN.
func (s *Service) RequestLogGaps(ctx context.Context, actor snapglyph.Actor, orgID string, q LogQuery) ([]snapglyph.RequestLogGap, error) {
	if err := s.authorizeLogs(ctx, actor, orgID); err != nil {
		return nil, err
	}
	q.Cursor, q.Limit = "", 0
	f, err := s.LogFilter(ctx, orgID, q)
	if err != nil {
		return nil, err
	}
	return s.db.RequestLogGaps(ctx, orgID, f.From, f.To)
}

// LogEntryJSON is an entry as the CLI and the NDJSON export write it.
type LogEntryJSON struct {
	Time       time.Time `json:"time"`
	RequestID  string    `json:"requestId"`
	KeyID      string    `json:"keyId"`
	KeyPrefix  string    `json:"keyPrefix"`
	Method     string    `json:"method"`
	Route      string    `json:"route"`
	ResourceID string    `json:"resourceId,omitempty"`
	Status     int       `json:"status"`
	Code       string    `json:"code"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"userAgent"`
	DurationMS float64   `json:"durationMs"`
	Calls      int64     `json:"calls"`
	Credits    int64     `json:"credits"`
	Suspicious []string  `json:"suspicious"` // inactive_key, new_ip, burst; empty if none
}

// EntryJSON returns the entry in its JSON form.
func EntryJSON(e *snapglyph.RequestLogEntry) LogEntryJSON {
	return LogEntryJSON{Time: e.At.UTC(), RequestID: e.RequestID, KeyID: e.KeyID, KeyPrefix: e.KeyPrefix, Method: e.Method, Route: e.Route,
		ResourceID: e.ResourceID, Status: e.Status, Code: e.Code, IP: e.IP, UserAgent: e.UserAgent,
		DurationMS: float64(e.Duration.Microseconds()) / 1000, Calls: e.Calls, Credits: e.Credits, Suspicious: e.Flags.Names()}
}

// LogCSVHeader is the header row of the CSV export.
var LogCSVHeader = []string{"time", "requestId", "keyId", "keyPrefix", "method", "route", "resourceId", "status", "code", "ip", "userAgent", "durationMs", "calls", "credits", "suspicious"}

// LogCSVRecord returns the entry as a CSV row. A cell a spreadsheet would
// take for a formula (it starts with = + - @, a tab or a carriage return:
// a user agent is the client's text) is prefixed with a quote.
func LogCSVRecord(e *snapglyph.RequestLogEntry) []string {
	j := EntryJSON(e)
	return []string{j.Time.Format(time.RFC3339Nano), j.RequestID, j.KeyID, j.KeyPrefix, csvCell(j.Method), j.Route, csvCell(j.ResourceID),
		strconv.Itoa(j.Status), j.Code, csvCell(j.IP), csvCell(j.UserAgent), strconv.FormatFloat(j.DurationMS, 'f', 3, 64),
		strconv.FormatInt(j.Calls, 10), strconv.FormatInt(j.Credits, 10), strings.Join(j.Suspicious, " ")}
}

// csvCell is a cell of the CSV export of text the client sent: control
// and format characters dropped (snapglyph.Storable; entries recorded
// before they were dropped on the way in may hold them), and a leading
// character a spreadsheet would read as the start of a formula escaped.
func csvCell(s string) string {
	s = snapglyph.Storable(s, 3*len(s)) // room for U+FFFD in place of each invalid byte
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
