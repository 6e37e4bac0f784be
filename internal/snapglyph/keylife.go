package snapglyph

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The lifecycle of an API key beyond create, pause, resume and revoke:
// expiry, roll with an overlap, restricted keys (scopes), IP allowlists,
// a pause with a reason and an end, and rename. Everything a request
// needs to decide is on the cached APIKey and is compared with the clock
// on every request (KeyErrAt), so an expiry, the end of an overlap and
// the end of a timed pause are in force at their moment on every node,
// with no change event.

// Scope is one permission a restricted key may hold.
type Scope uint8

// The permissions of restricted keys. Each API operation needs exactly
// one of them; a permission does not imply another (qr_codes:write does
// not give qr_codes:read).
const (
	ScopeQRRead     Scope = 1 << iota // qr_codes:read: list and read QR codes as JSON
	ScopeQRWrite                      // qr_codes:write: create, update, delete QR codes
	ScopeImagesRead                   // images:read: QR-code images (SVG, PNG)
	ScopeUsageRead                    // usage:read: GET /api/v1/usage
)

// scopeNames lists every scope in display order.
var scopeNames = [...]struct {
	scope Scope
	name  string
}{
	{ScopeQRRead, "qr_codes:read"},
	{ScopeQRWrite, "qr_codes:write"},
	{ScopeImagesRead, "images:read"},
	{ScopeUsageRead, "usage:read"},
}

// AllScopes lists the permission names, in display order.
func AllScopes() []string {
	out := make([]string, len(scopeNames))
	for i, s := range scopeNames {
		out[i] = s.name
	}
	return out
}

// String returns the permission's name, e.g. "qr_codes:read".
func (s Scope) String() string {
	for _, n := range scopeNames {
		if n.scope == s {
			return n.name
		}
	}
	return "scope(" + strconv.Itoa(int(s)) + ")"
}

// Scopes is a set of permissions. The zero value is full access: a key
// that was not restricted may do everything.
type Scopes uint8

// FullAccess is the scopes of an unrestricted key.
const FullAccess Scopes = 0

// Allows reports whether the set grants scope.
func (ss Scopes) Allows(s Scope) bool { return ss == FullAccess || ss&Scopes(s) != 0 }

// Full reports whether the set is full access.
func (ss Scopes) Full() bool { return ss == FullAccess }

// Names returns the permissions in display order; nil for full access.
func (ss Scopes) Names() []string {
	if ss.Full() {
		return nil
	}
	var out []string
	for _, n := range scopeNames {
		if ss&Scopes(n.scope) != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// String is the stored form: "" for full access, else the names joined by
// commas, in display order.
func (ss Scopes) String() string { return strings.Join(ss.Names(), ",") }

// Label is how the dashboard and the CLI show the set: "Full access" or
// the permissions.
func (ss Scopes) Label() string {
	if ss.Full() {
		return "Full access"
	}
	return strings.Join(ss.Names(), ", ")
}

// ParseScopes reads a list of permissions separated by commas or spaces,
// as the CLI and the dashboard take them. An empty list is refused: leave
// the restriction out for full access. Returns EINVALID naming the first
// unknown permission.
func ParseScopes(s string) (Scopes, error) {
	return ParseScopeList(splitList(s))
}

// ParseScopeList reads permissions given one by one (a form's check
// boxes). Duplicates are ignored; an empty list is refused.
func ParseScopeList(items []string) (Scopes, error) {
	var ss Scopes
	n := 0
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		if msg := TextProblem(it); msg != "" {
			return 0, Errorf(EINVALID, "a permission %s", msg)
		}
		found := false
		for _, sn := range scopeNames {
			if strings.EqualFold(it, sn.name) {
				ss |= Scopes(sn.scope)
				found = true
				break
			}
		}
		if !found {
			return 0, Errorf(EINVALID, "unknown permission %s: the permissions are %s", quoteShort(it), strings.Join(AllScopes(), ", "))
		}
		n++
	}
	if n == 0 {
		return 0, Errorf(EINVALID, "choose at least one permission (%s), or leave the restriction out for full access", strings.Join(AllScopes(), ", "))
	}
	return ss, nil
}

// ParseStoredScopes reads the stored form (String). It trusts nothing:
// an unknown name is an error, not full access.
func ParseStoredScopes(s string) (Scopes, error) {
	if s == "" {
		return FullAccess, nil
	}
	return ParseScopes(s)
}

// MaxAllowedIPs is the most entries a key's IP allowlist holds.
const MaxAllowedIPs = 20

// ParseAllowedIPs reads an IP allowlist: IPv4 or IPv6 addresses and CIDR
// ranges separated by commas, spaces or line breaks. An address stands
// for itself (/32, /128); IPv4-mapped IPv6 addresses are read as IPv4;
// duplicates are dropped. Returns EINVALID naming the first bad entry: a
// range with bits set after its prefix (say which range was meant), a zone
// (fe80::1%eth0), more than MaxAllowedIPs entries, or an empty list.
func ParseAllowedIPs(s string) ([]netip.Prefix, error) {
	return ParseAllowedIPList(splitList(s))
}

// ParseAllowedIPList is ParseAllowedIPs for entries given one by one.
func ParseAllowedIPList(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		p, err := parseAllowedIP(it)
		if err != nil {
			return nil, err
		}
		dup := false
		for _, q := range out {
			dup = dup || q == p
		}
		if !dup {
			out = append(out, p)
		}
		if len(out) > MaxAllowedIPs {
			return nil, Errorf(EINVALID, "an IP allowlist holds at most %d addresses or ranges; use wider ranges (CIDR) to cover more", MaxAllowedIPs)
		}
	}
	if len(out) == 0 {
		return nil, Errorf(EINVALID, "give at least one IP address or CIDR range, or leave the allowlist out to allow every address")
	}
	return out, nil
}

func parseAllowedIP(s string) (netip.Prefix, error) {
	if msg := TextProblem(s); msg != "" {
		return netip.Prefix{}, Errorf(EINVALID, "an IP allowlist entry %s", msg)
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, Errorf(EINVALID, "%s: addresses with a zone (%%eth0) cannot be matched; give the address without it", quoteShort(s))
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, Errorf(EINVALID, "%s is not an IPv4 or IPv6 address or CIDR range (examples: 203.0.113.7, 203.0.113.0/24, 2001:db8::/32)", quoteShort(s))
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, Errorf(EINVALID, "%s is not a CIDR range (examples: 203.0.113.0/24, 2001:db8::/32)", quoteShort(s))
	}
	if p.Addr().Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, Errorf(EINVALID, "%s mixes an IPv4-mapped address with a prefix shorter than /96; write the IPv4 range instead", quoteShort(s))
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, Errorf(EINVALID, "%s has address bits set after the /%d prefix; did you mean %s (the range) or %s (the one address)?",
			quoteShort(s), p.Bits(), m, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return p, nil
}

// FormatAllowedIPs is the stored and displayed form of an allowlist: the
// entries joined by commas, an address as itself and a range in CIDR.
func FormatAllowedIPs(ps []netip.Prefix) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(AllowedIPString(p))
	}
	return b.String()
}

// AllowedIPString shows one entry: a single address without its /32 or
// /128.
func AllowedIPString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// ParseStoredAllowedIPs reads the stored form (FormatAllowedIPs); "" is
// no allowlist.
func ParseStoredAllowedIPs(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	return ParseAllowedIPs(s)
}

// IPAllowed reports whether the client address ip (as the server sees it,
// after trusted proxies) is on the allowlist. An empty allowlist allows
// every address; an address that does not parse is never allowed.
func IPAllowed(list []netip.Prefix, ip string) bool {
	if len(list) == 0 {
		return true
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Bounds of key expiry and of a roll's overlap. MaxKeyLifetime bounds a
// lifetime given as a duration (3650 days); a time (an expiry date, a
// pause's end) may be up to ten calendar years ahead (LatestAhead).
const (
	MinKeyLifetime = time.Minute
	MaxKeyLifetime = 10 * 365 * 24 * time.Hour
	MaxRollOverlap = 7 * 24 * time.Hour
)

// LatestAhead is the latest expiry or pause's end that may be chosen at
// now: ten calendar years on (a date just under ten years away is not
// refused for the leap days 3650 days miss).
func LatestAhead(now time.Time) time.Time { return now.UTC().AddDate(10, 0, 0) }

// ExpiryPresets are the lifetimes the dashboard offers, in days.
var ExpiryPresets = []int{7, 30, 90, 365}

// RollOverlaps are the overlaps the dashboard offers.
var RollOverlaps = []time.Duration{0, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// ParseDuration reads a duration as Go does ("90m", "1h30m") and also in
// days and weeks ("30d", "2w", "1d12h"). Returns EINVALID for anything
// else, or a negative duration.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := Errorf(EINVALID, "%s is not a duration (examples: 30d, 12h, 90m, 2w)", quoteShort(s))
	if s == "" || TextProblem(s) != "" {
		return 0, bad
	}
	// At most a century: long enough for any lifetime or overlap (their
	// own limits are far below), and no sum can wrap around.
	const most = 100 * 366 * 24 * time.Hour
	tooLong := Errorf(EINVALID, "%s is too long: at most 100 years", quoteShort(s))
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9') {
			i++
		}
		if i == 0 || i == len(rest) {
			break
		}
		unit := rest[i]
		if unit != 'd' && unit != 'w' {
			break
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n > 100_000 {
			return 0, bad
		}
		per := 24 * time.Hour
		if unit == 'w' {
			per *= 7
		}
		if n > int64((most-total)/per) {
			return 0, tooLong
		}
		total += time.Duration(n) * per
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil || d < 0 {
			return 0, bad
		}
		if d > most-total {
			return 0, tooLong
		}
		total += d
	}
	return total, nil
}

// FormatDuration shows a duration in the largest whole unit, days from
// two days on: "7 days", "24 hours", "90 minutes", "now" for zero.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "now"
	case d%(24*time.Hour) == 0 && d >= 48*time.Hour:
		return Plural(int64(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return Plural(int64(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return Plural(int64(d/time.Minute), "minute")
	}
	return d.String()
}

// TimeUntil is how long from now to t in its largest unit, rounded to
// the nearest ("12 days", "5 hours", "less than a minute"), as the
// dashboard and the CLI say when a key expires or an overlap ends. Rounded,
// not cut: a key made a moment ago to last 30 days expires "in 30 days",
// not in 29. Each unit is used while its rounded count is under the next
// one's (59.7 minutes is "1 hour"; hours up to 47, then days).
func TimeUntil(now, t time.Time) string {
	d := t.Sub(now)
	if d < time.Minute {
		return "less than a minute"
	}
	if m := (d + 30*time.Second) / time.Minute; m < 60 {
		return Plural(int64(m), "minute")
	}
	if h := (d + 30*time.Minute) / time.Hour; h < 48 {
		return Plural(int64(h), "hour")
	}
	return Plural(int64((d+12*time.Hour)/(24*time.Hour)), "day")
}

// Plural says n units: "1 day", "12 days".
func Plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

// CheckExpiry checks an expiry chosen at time now: at least
// MinKeyLifetime ahead and not after LatestAhead. The zero time (never)
// is fine.
func CheckExpiry(expires, now time.Time) error {
	if expires.IsZero() {
		return nil
	}
	switch d := expires.Sub(now); {
	case d < MinKeyLifetime:
		return Errorf(EINVALID, "the expiry %s is not at least one minute in the future", FormatTime(expires))
	case expires.After(LatestAhead(now)):
		return Errorf(EINVALID, "the expiry %s is more than 10 years away (the latest is %s); leave the expiry out for a key that never expires",
			FormatTime(expires), FormatTime(LatestAhead(now)))
	}
	return nil
}

// ParseTime reads an instant as RFC 3339 ("2027-06-30T00:00:00Z"), as a
// date and time without a zone, as a datetime-local field sends it
// ("2027-06-30T09:00" or "2027-06-30T09:00:30", meaning UTC), or as a
// date ("2027-06-30", meaning 00:00 UTC). It is the one reading of an
// absolute time; ParseLogTime adds durations ago.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, ok := parseInstant(s); ok {
		if t.Year() < 1970 {
			// Year 1 is also how an unset time prints: read as "none" by
			// every caller, it would make a key that never expires.
			return time.Time{}, Errorf(EINVALID, "%s is before 1970: give a time this service can hold, e.g. 2027-06-30", quoteShort(s))
		}
		return t, nil
	}
	return time.Time{}, Errorf(EINVALID, "%s is not a time: give RFC 3339 (2027-06-30T00:00:00Z) or a date (2027-06-30, meaning 00:00 UTC)", quoteShort(s))
}

// instantLayouts are the forms ParseTime reads, in order; all but the
// first have no zone and mean UTC. (RFC 3339 reads fractional seconds
// too.)
var instantLayouts = [...]string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// parseInstant is ParseTime without the error, in UTC.
func parseInstant(s string) (time.Time, bool) {
	for _, layout := range instantLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// FormatTime is how messages show an instant: "2027-06-30 00:00 UTC",
// with its seconds when it has some ("2026-12-03 06:57:45 UTC"): a key
// that expired at 06:57:45 did not expire at 06:57.
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Second() == 0 {
		return t.Format("2006-01-02 15:04 UTC")
	}
	return t.Format("2006-01-02 15:04:05 UTC")
}

// MaxPauseReasonLen bounds a reason (a pause's, a refused plan
// request's), in characters.
const MaxPauseReasonLen = 200

// NormalizeReason trims a reason shown to people (why a key was paused,
// why a plan request was refused) and checks it: valid UTF-8, one line
// of visible text (no control or invisible characters), at most
// MaxPauseReasonLen characters. "" is fine (no reason given).
func NormalizeReason(s string) (string, error) {
	// The error names its field, so a form shows it by the reason.
	bad := func(format string, a ...any) (string, error) {
		e := Errorf(EINVALID, format, a...)
		e.Fields = []FieldError{{Field: "reason", Message: e.Message}}
		return "", e
	}
	if msg := TextProblem(s); msg != "" {
		return bad("the reason %s", msg)
	}
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > MaxPauseReasonLen {
		return bad("the reason has %d characters; at most %d are allowed", n, MaxPauseReasonLen)
	}
	if msg := HiddenText(s); msg != "" {
		if strings.HasSuffix(msg, "control characters") {
			msg += " (line breaks included)"
		}
		return bad("the reason %s", msg)
	}
	return s, nil
}

// splitList cuts a list at commas, spaces and line breaks.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == ';' })
}

// quoteShort quotes what a user typed for an error message, cut to 64
// bytes so a message never grows with the input.
func quoteShort(s string) string {
	if len(s) > 64 {
		return strconv.Quote(Head(s, 64)) + "…"
	}
	return strconv.Quote(s)
}

// KeyState is a key's state at a moment: its stored status, with the
// clock applied (an expiry, the end of a roll's overlap, the end of a
// timed pause).
type KeyState string

// Key states as shown.
const (
	StateActive  KeyState = "active"
	StatePaused  KeyState = "paused"
	StateExpired KeyState = "expired"
	StateRevoked KeyState = "revoked"
)

// EndsAt returns when the key stops working by itself: the earlier of its
// expiry and the end of its roll overlap; zero if never.
func (k *APIKey) EndsAt() time.Time {
	switch {
	case k.OverlapEndsAt.IsZero():
		return k.ExpiresAt
	case k.ExpiresAt.IsZero() || k.OverlapEndsAt.Before(k.ExpiresAt):
		return k.OverlapEndsAt
	}
	return k.ExpiresAt
}

// IsExpired reports whether the key has stopped working by itself (its
// expiry, or the end of its roll's overlap) at time now.
func (k *APIKey) IsExpired(now time.Time) bool {
	end := k.EndsAt()
	return !end.IsZero() && !now.Before(end)
}

// IsPaused reports whether the key is paused at time now: its status is
// paused and the pause has no end or has not reached it.
func (k *APIKey) IsPaused(now time.Time) bool {
	return k.Status == KeyPaused && (k.PausedUntil.IsZero() || now.Before(k.PausedUntil))
}

// StateAt returns the key's state at time now. A revoked key is revoked,
// then an expired one expired (even if it is paused too), then a paused
// one paused.
func (k *APIKey) StateAt(now time.Time) KeyState {
	switch {
	case k.Status == KeyRevoked:
		return StateRevoked
	case k.IsExpired(now):
		return StateExpired
	case k.IsPaused(now):
		return StatePaused
	}
	return StateActive
}

// ErrAt returns the authentication error for the key at time now, or nil
// when it may be used. The checks run in this order: revoked (final),
// expired (final too, and the clock's alone: no node needs to hear of
// it), paused. A usable key costs no allocation.
func (k *APIKey) ErrAt(now time.Time) error {
	if k.Status == KeyActive && k.ExpiresAt.IsZero() && k.OverlapEndsAt.IsZero() {
		return nil // the common case, checked first
	}
	switch k.StateAt(now) {
	case StateRevoked:
		return Codef(EUNAUTHORIZED, "api_key_revoked", "the API key %s... (%s) was revoked and can never be used again; create a new key in API Settings", k.Prefix, k.Name)
	case StateExpired:
		if k.ReplacedBy != "" {
			return Codef(EUNAUTHORIZED, "api_key_expired",
				"the API key %s... (%s) was rolled: it was replaced by %s... and stopped working at %s; send the new key",
				k.Prefix, k.Name, k.ReplacedByPrefix, FormatTime(k.EndsAt()))
		}
		return Codef(EUNAUTHORIZED, "api_key_expired",
			"the API key %s... (%s) expired at %s; an Owner or Admin can roll it or create a new key in API Settings",
			k.Prefix, k.Name, FormatTime(k.EndsAt()))
	case StatePaused:
		msg := fmt.Sprintf("the API key %s... (%s) is paused", k.Prefix, k.Name)
		if !k.PausedUntil.IsZero() {
			msg += " until " + FormatTime(k.PausedUntil)
		}
		return Codef(EUNAUTHORIZED, "api_key_paused", "%s; an Owner or Admin can resume it in API Settings", msg)
	}
	return nil
}

// ErrScope is the refusal of a restricted key that lacks the permission
// an operation needs.
func (k *APIKey) ErrScope(need Scope) error {
	return Codef(EFORBIDDEN, "insufficient_scope",
		"the API key %s... (%s) is restricted to %s; this operation needs the permission %s, which an Owner or Admin can give a key in API Settings",
		k.Prefix, k.Name, k.Scopes.Label(), need)
}

// ErrIP is the refusal of a request from an address outside the key's
// allowlist. It shows the address seen, never the list.
func (k *APIKey) ErrIP(ip string) error {
	return Codef(EFORBIDDEN, "ip_not_allowed",
		"the API key %s... (%s) may be used only from the addresses on its IP allowlist, and this request came from %s; an Owner or Admin can change the allowlist in API Settings",
		k.Prefix, k.Name, Storable(ip, 64))
}

// Restricted reports whether the key has permissions or an allowlist.
func (k *APIKey) Restricted() bool { return !k.Scopes.Full() || len(k.AllowedIPs) > 0 }

// Settings describes the key's expiry and restrictions in one line, for
// the audit log: "expires 2027-06-30 00:00 UTC; permissions qr_codes:read;
// IP allowlist 203.0.113.0/24". Empty when the key has none.
func (k *APIKey) Settings() string {
	var parts []string
	if !k.ExpiresAt.IsZero() {
		parts = append(parts, "expires "+FormatTime(k.ExpiresAt))
	}
	if !k.Scopes.Full() {
		parts = append(parts, "permissions "+k.Scopes.String())
	}
	if len(k.AllowedIPs) > 0 {
		parts = append(parts, "IP allowlist "+FormatAllowedIPs(k.AllowedIPs))
	}
	return strings.Join(parts, "; ")
}

// KeyIP is an address a key was used from.
type KeyIP struct {
	KeyID string
	IP    string
}

// IPSeen is when a key was first and last used from an address, and how
// many calls it made from there.
type IPSeen struct {
	First, Last time.Time
	Calls       int64
}

// KeyAddress is an address a key was used from, with when and how much.
type KeyAddress struct {
	IP string
	IPSeen
}

// Add merges another sighting into s.
func (s IPSeen) Add(o IPSeen) IPSeen {
	if s.First.IsZero() || (!o.First.IsZero() && o.First.Before(s.First)) {
		s.First = o.First
	}
	if o.Last.After(s.Last) {
		s.Last = o.Last
	}
	s.Calls += o.Calls
	return s
}

// Day returns the UTC day containing t, as "2006-01-02". Every request
// asks; the last day is remembered, so it costs no formatting.
func Day(t time.Time) string {
	if c := lastDay.Load(); c != nil && !t.Before(c.start) && t.Before(c.end) {
		return c.name
	}
	u := t.UTC()
	start := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC)
	c := &periodCache{name: start.Format("2006-01-02"), start: start, end: start.AddDate(0, 0, 1)}
	lastDay.Store(c)
	return c.name
}

var lastDay atomic.Pointer[periodCache]
