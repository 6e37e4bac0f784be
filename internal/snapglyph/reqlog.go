package snapglyph

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// RequestLogEntry is one API request that named a key of an organisation,
// as the request log keeps it: what was asked, by which key, from where,
// and how it was answered. Refused requests are entries too (a paused,
// revoked or expired key, a plan without the API, a spent allowance): they
// are what a person looks for after a leak. It never holds a header other
// than the user agent, a body, or a secret.
type RequestLogEntry struct {
	At         time.Time // when the request arrived
	RequestID  string    // the X-Request-Id the client got
	OrgID      string
	KeyID      string
	KeyPrefix  string // "qr_live_a1b2"
	Method     string
	Route      string // the route template, "/api/v1/qr-codes/{id}"
	ResourceID string // the route's {id}, if it has one
	Status     int
	Code       string // the problem's code ("api_key_revoked"); "" for a success
	IP         string
	UserAgent  string
	Duration   time.Duration
	Calls      int64 // API calls charged
	Credits    int64 // image credits charged
	Flags      RequestLogFlags
	// Plan is the organisation's plan in force when the request was
	// made; it selects how long the entry is kept.
	Plan Plan
}

// RequestLogFlags mark an entry as suspicious, and why.
type RequestLogFlags int

// The suspicious signs of an entry.
const (
	// FlagInactiveKey: the key was paused, revoked or expired when it was
	// used.
	FlagInactiveKey RequestLogFlags = 1 << iota
	// FlagNewIP: the first request of the key from an address it had
	// never used before (the key's very first address is not flagged).
	FlagNewIP
	// FlagBurst: one of BurstRefusals or more refusals (401, 403, 429) of
	// the key in the same minute.
	FlagBurst
)

// BurstRefusals is how many 401, 403 and 429 answers to one key within one
// clock minute make a burst: from this one on, each is flagged.
const BurstRefusals = 10

// InactiveKeyCodes are the refusals of a key that is no longer in use.
var InactiveKeyCodes = map[string]bool{"api_key_paused": true, "api_key_revoked": true, "api_key_expired": true}

// IsRefusal reports whether status counts towards a burst.
func IsRefusal(status int) bool { return status == 401 || status == 403 || status == 429 }

// Suspicious reports whether the entry has any suspicious sign.
func (e *RequestLogEntry) Suspicious() bool { return e.Flags != 0 }

// Reasons names the entry's suspicious signs for a person, most serious
// first.
func (f RequestLogFlags) Reasons() []string {
	var out []string
	if f&FlagInactiveKey != 0 {
		out = append(out, "key not active")
	}
	if f&FlagNewIP != 0 {
		out = append(out, "new IP address")
	}
	if f&FlagBurst != 0 {
		out = append(out, "burst of refusals")
	}
	return out
}

// InactiveKeyState is how a refused key was not in use, from the
// problem code: "paused", "revoked", "expired"; "" for any other code.
func InactiveKeyState(code string) string {
	switch code {
	case "api_key_paused":
		return "paused"
	case "api_key_revoked":
		return "revoked"
	case "api_key_expired":
		return "expired"
	}
	return ""
}

// InactiveKeyReason names the refusal of a key no longer in use for a
// person: "key paused", "key revoked", "key expired"; "" for any other
// code.
func InactiveKeyReason(code string) string {
	if s := InactiveKeyState(code); s != "" {
		return "key " + s
	}
	return ""
}

// Reasons names the entry's suspicious signs for a person, most serious
// first, saying how the key was not active where its code tells.
func (e *RequestLogEntry) Reasons() []string {
	out := e.Flags.Reasons()
	if r := InactiveKeyReason(e.Code); r != "" && e.Flags&FlagInactiveKey != 0 {
		out[0] = r
	}
	return out
}

// Has reports whether f has every flag of g.
func (f RequestLogFlags) Has(g RequestLogFlags) bool { return f&g == g }

// Names are the flags as machine-readable names (CLI and exports).
func (f RequestLogFlags) Names() []string {
	out := []string{}
	if f&FlagInactiveKey != 0 {
		out = append(out, "inactive_key")
	}
	if f&FlagNewIP != 0 {
		out = append(out, "new_ip")
	}
	if f&FlagBurst != 0 {
		out = append(out, "burst")
	}
	return out
}

// StatusClass is the entry's status class: "2xx", "4xx"…
func (e *RequestLogEntry) StatusClass() string { return strconv.Itoa(e.Status/100) + "xx" }

// LogRetention is how many days the request log keeps an organisation's
// entries, by plan. An entry is stored with its plan's days at the time it
// was recorded, and shown and kept for the organisation's current plan's
// days at most (Of): after a downgrade or a shorter retention, older
// entries are hidden at once and removed by the next maintenance.
type LogRetention map[Plan]int

// LogClockSkew is how far ahead of a reader's clock another node's may
// be: a read of the request log ends this long after now, so an entry just
// written by a node whose clock is a little ahead is not hidden.
const LogClockSkew = time.Minute

// MaxRetentionDays bounds a retention an operator may set.
const MaxRetentionDays = 3650

// DefaultLogRetention keeps 30 days on Starter, trial and Pro (Starter
// organisations have no API, but their refusals are logged) and 90 days
// on Max.
func DefaultLogRetention() LogRetention {
	return LogRetention{PlanStarter: 30, PlanTrial: 30, PlanPro: 30, PlanMax: 90}
}

// Days returns the retention of the plan, in days.
func (r LogRetention) Days(p Plan) int {
	if d, ok := r[p]; ok {
		return d
	}
	return DefaultLogRetention()[p]
}

// Of returns the retention, in days, of the organisation's entries at
// time now: its effective plan's (an ended trial follows Starter's).
func (r LogRetention) Of(o *Org, now time.Time) int { return r.Days(o.EffectivePlan(now)) }

// Classes returns the distinct retentions, in days, ascending.
func (r LogRetention) Classes() []int {
	seen := map[int]bool{}
	var out []int
	for _, p := range Plans() {
		if d := r.Days(p); !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Ints(out)
	return out
}

// String writes the retention as ParseLogRetention reads it.
func (r LogRetention) String() string {
	var parts []string
	for _, p := range Plans() {
		parts = append(parts, fmt.Sprintf("%s=%dd", p, r.Days(p)))
	}
	return strings.Join(parts, ",")
}

// ParseLogRetention reads "pro=30d,max=90d" (days, with or without the d):
// the plans named take those days, the others keep the default. Returns
// EINVALID.
func ParseLogRetention(s string) (LogRetention, error) {
	r := DefaultLogRetention()
	if strings.TrimSpace(s) == "" {
		return r, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, Errorf(EINVALID, "%q is not plan=days (e.g. pro=30d,max=90d)", part)
		}
		p, err := ParsePlan(name)
		if err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(val), "d"))
		if err != nil || n < 1 || n > MaxRetentionDays {
			return nil, Errorf(EINVALID, "the retention of %s must be 1 to %d days, e.g. %s=30d", p, MaxRetentionDays, p)
		}
		r[p] = n
	}
	return r, nil
}

// RequestLogFilter selects entries of one organisation. Zero fields select
// everything.
type RequestLogFilter struct {
	KeyID string
	// Status selects a status or a class: [StatusMin, StatusMax].
	StatusMin, StatusMax int
	Code                 string
	Method               string
	Route                string
	IP                   string
	From, To             time.Time // From ≤ at < To
	Suspicious           bool
	// After continues a listing (keyset pagination): entries older than
	// this one.
	After *LogCursor
	Limit int
}

// LogCursor is the position of an entry in the newest-first order.
type LogCursor struct {
	At        time.Time
	RequestID string
}

// String is the cursor as handed to clients: "<unix ms>_<request id>".
func (c LogCursor) String() string {
	return strconv.FormatInt(c.At.UnixMilli(), 10) + "_" + c.RequestID
}

// CursorOf returns the position of an entry.
func CursorOf(e *RequestLogEntry) LogCursor { return LogCursor{At: e.At, RequestID: e.RequestID} }

// ParseLogCursor reads a cursor made by LogCursor.String. Returns EINVALID.
func ParseLogCursor(s string) (*LogCursor, error) {
	bad := Codef(EINVALID, "invalid_request", "the cursor is not one this service made; start again from the first page")
	ms, id, ok := strings.Cut(s, "_")
	if !ok || len(id) == 0 || len(id) > 64 {
		return nil, bad
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return nil, bad
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return nil, bad
		}
	}
	return &LogCursor{At: time.UnixMilli(n).UTC(), RequestID: id}, nil
}

// ParseStatusFilter reads a status filter: an exact status ("401") or a
// class ("4xx"). Returns EINVALID.
func ParseStatusFilter(s string) (lo, hi int, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) == 3 && strings.HasSuffix(s, "xx") && s[0] >= '1' && s[0] <= '5' {
		c := int(s[0]-'0') * 100
		return c, c + 99, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, Codef(EINVALID, "invalid_request", "the status %s is neither an HTTP status (100–599) nor a class (2xx, 4xx, 5xx…)", quoteShort(s))
	}
	return n, n, nil
}

// ParseLogIP reads an IP address filter. Returns EINVALID.
func ParseLogIP(s string) (string, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return "", Codef(EINVALID, "invalid_request", "%s is not an IP address (e.g. 203.0.113.7 or 2001:db8::1)", quoteShort(s))
	}
	return a.Unmap().String(), nil
}

// ParseLogTime reads a point in time for a filter, relative to now: a
// duration ago ("90m", "24h", "7d") or an instant as ParseTime reads it.
// Returns EINVALID naming field.
func ParseLogTime(field, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if d, ok := parseAgo(s); ok {
		return now.Add(-d), nil
	}
	if t, ok := parseInstant(s); ok {
		return t, nil
	}
	return time.Time{}, &Error{Kind: EINVALID, Code: "invalid_request",
		Message: fmt.Sprintf("%s %s is not a time: give a duration ago (30m, 24h, 7d), an RFC 3339 time (2026-11-15T12:00:00Z) or a date (2026-11-15, UTC)", field, quoteShort(s)),
		Fields:  []FieldError{{Field: field, Message: "is not a time"}}}
}

// parseAgo reads a positive duration, with "d" for days.
func parseAgo(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > MaxRetentionDays {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > MaxRetentionDays*24*time.Hour {
		return 0, false
	}
	return d, true
}

// ChartBucket is one bar of the request log's chart: the requests of one
// hour (or day) by status class.
type ChartBucket struct {
	Start time.Time
	// ByClass counts requests by status class: index 0 for 1xx… 4 for 5xx.
	ByClass [5]int64
}

// Total is the number of requests in the bucket.
func (b ChartBucket) Total() int64 {
	var n int64
	for _, c := range b.ByClass {
		n += c
	}
	return n
}

// RequestLogGap is a stretch of time in which a node could not record some
// of an organisation's requests (its buffer was full, or the database
// refused an entry).
type RequestLogGap struct {
	Hour    time.Time
	Dropped int64
}

// LogPartition is one day of one retention class of the request log (a
// table of its own on PostgreSQL).
type LogPartition struct {
	RetentionDays int
	Day           time.Time // 00:00 UTC
}

// DayOf returns the start (00:00 UTC) of t's day.
func DayOf(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

// ErrNoLogPartition is returned (wrapped) by the store when a request log
// entry has no partition to go to: the writer's list of the partitions it
// made is stale (one was dropped since); make them again and retry.
var ErrNoLogPartition = errors.New("no request log partition for an entry")

// NewRequestID returns a request id for a request that arrived at t: 24
// hex digits, the Unix milliseconds of t (12) and 48 random bits (12). The
// time in front lets the request log find an entry by its id alone (its
// day, its place in the organisation's entries) without an index of ids,
// and keeps ids of one moment together wherever they are stored.
func NewRequestID(t time.Time) string {
	var b [12]byte
	ms := uint64(max(t.UnixMilli(), 0))
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	rand.Read(b[6:])
	return hex.EncodeToString(b[:])
}

// RequestIDTime returns the millisecond a request id made by NewRequestID
// names, and false for any other text.
func RequestIDTime(id string) (time.Time, bool) {
	if len(id) != 24 {
		return time.Time{}, false
	}
	var ms int64
	for i := 0; i < 24; i++ {
		c := id[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return time.Time{}, false
		}
		if i < 12 {
			ms = ms<<4 | int64(v)
		}
	}
	return time.UnixMilli(ms).UTC(), true
}

// RedactKeys returns s with every API key in it cut to its display prefix
// ("qr_live_a1b2…"), found by its prefix in any case, or bare (32
// characters whose checksum holds): a client may put its key where it
// does not belong (a path, a user agent), and what is recorded about a
// request never holds one. Text without a key is returned as is.
func RedactKeys(s string) string {
	var b strings.Builder
	out := func() string {
		if b.Len() == 0 {
			return s
		}
		return b.String()
	}
	rest := s
	for {
		i := indexFold(rest, KeyPrefix)
		bare, bareEnd := bareKey(rest)
		if i < 0 && bare < 0 {
			if b.Len() > 0 {
				b.WriteString(rest)
			}
			return out()
		}
		if bare >= 0 && (i < 0 || bare < i) {
			b.WriteString(rest[:bare])
			b.WriteString("…")
			rest = rest[bareEnd:]
			continue
		}
		b.WriteString(rest[:i])
		tail := rest[i+len(KeyPrefix):]
		n := 0
		for n < len(tail) && isAlnumByte(tail[n]) {
			n++
		}
		b.WriteString(KeyPrefix)
		b.WriteString(tail[:min(n, 4)])
		if n > 4 {
			b.WriteString("…")
		}
		rest = tail[n:]
	}
}

// bareKey finds a run of letters and digits that holds a key without its
// prefix (32 of them whose checksum holds, alone or within a longer run,
// as in "x" followed by a key): the run's start and end, or -1.
func bareKey(s string) (int, int) {
	for i := 0; i+KeyBodyLen <= len(s); {
		j := i
		for j < len(s) && isAlnumByte(s[j]) {
			j++
		}
		for k := i; k+KeyBodyLen <= j; k++ {
			if isKeyBody(s[k : k+KeyBodyLen]) {
				return i, j
			}
		}
		i = j + 1
	}
	return -1, -1
}

// StorableRedacted is what is kept of a text a client sent: Storable, with
// every key in it cut (RedactKeys) once control and format characters
// (NUL, ESC, a line break, a zero-width space…) are dropped, so that none
// can split a key. Only as much of s is read as can be kept: a key that
// begins within the first max bytes is seen whole.
func StorableRedacted(s string, max int) string {
	if len(s) > max+KeyLen {
		s = s[:max+KeyLen]
	}
	// Each invalid byte grows into U+FFFD (three bytes): room for all.
	return Storable(RedactKeys(Storable(s, 3*len(s))), max)
}

// StorableShown is StorableRedacted for a value a person reads to learn
// what a client sent (a request's resource id in the request log): the
// characters Storable drops are shown as escapes ("\u202e", "\u0000")
// instead, so a request for "\u202ex" is not shown as one for "x". When
// dropping them would join an API key (a key split by a zero-width space),
// the value is kept as StorableRedacted keeps it, with the key cut: the
// escapes would leave its two halves whole.
func StorableShown(s string, max int) string {
	read := s
	if len(read) > max+KeyLen {
		read = read[:max+KeyLen]
	}
	joined := Storable(read, 3*len(read))
	if redacted := RedactKeys(joined); joined == read || redacted != joined {
		// Nothing dropped, or a key whole once they are: kept as
		// StorableRedacted keeps it, from the work done already (a user
		// agent takes this path on every API request).
		return Storable(redacted, max)
	}
	var b strings.Builder
	for _, r := range read {
		esc := ""
		switch {
		case r == utf8.RuneError:
			esc = string(utf8.RuneError)
		case dropped(r, false):
			esc = fmt.Sprintf("\\u%04x", r)
		default:
			esc = string(r)
		}
		if b.Len()+len(esc) > max {
			break
		}
		b.WriteString(esc)
	}
	return RedactKeys(b.String())
}

func isAlnumByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// indexFold is strings.Index ignoring ASCII case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
