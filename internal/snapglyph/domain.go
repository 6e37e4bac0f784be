package snapglyph

import (
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Plan names an organisation's subscription plan.
type Plan string

// The plans of DESIGN §2.
const (
	PlanStarter Plan = "starter"
	PlanTrial   Plan = "trial"
	PlanPro     Plan = "pro"
	PlanMax     Plan = "max"
)

// Plans returns every plan, from the smallest to the largest.
func Plans() []Plan { return []Plan{PlanStarter, PlanTrial, PlanPro, PlanMax} }

// TrialLength is how long a new organisation's Pro trial lasts.
const TrialLength = 14 * 24 * time.Hour

// PlanLimits are a plan's monthly allowances and caps. A negative value
// means unlimited.
type PlanLimits struct {
	API          bool
	APICalls     int64
	ImageCredits int64
	Seats        int
	QRCodes      int
}

var plans = map[Plan]PlanLimits{
	PlanStarter: {API: false, APICalls: 0, ImageCredits: 0, Seats: 1, QRCodes: 5},
	PlanTrial:   {API: true, APICalls: 1000, ImageCredits: 200, Seats: 5, QRCodes: -1},
	PlanPro:     {API: true, APICalls: 1000, ImageCredits: 200, Seats: 5, QRCodes: -1},
	PlanMax:     {API: true, APICalls: 10000, ImageCredits: 2000, Seats: -1, QRCodes: -1},
}

// ParsePlan returns the plan named s, or EINVALID.
func ParsePlan(s string) (Plan, error) {
	p := Plan(strings.ToLower(strings.TrimSpace(s)))
	if _, ok := plans[p]; !ok {
		return "", Errorf(EINVALID, "unknown plan %s: use starter, trial, pro or max", quoteShort(s))
	}
	return p, nil
}

// Limits returns the plan's limits.
func (p Plan) Limits() PlanLimits { return plans[p] }

// Role is a member's role in an organisation.
type Role string

// The roles of DESIGN §2.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// CanManageKeys reports whether the role may create, pause, resume and
// revoke API keys.
func (r Role) CanManageKeys() bool { return r == RoleOwner || r == RoleAdmin }

// Org is an organisation: the tenant that owns keys, QR codes and usage.
type Org struct {
	ID          string
	Name        string
	Plan        Plan
	TrialEndsAt time.Time // zero unless Plan is trial
	CreatedAt   time.Time
	// Operator overrides of the plan's monthly limits; nil = the plan's.
	APICallsLimit     *int64
	ImageCreditsLimit *int64
}

// TrialEnded reports whether the organisation is on a trial that has
// ended by time now.
func (o *Org) TrialEnded(now time.Time) bool {
	return o.Plan == PlanTrial && !now.Before(o.TrialEndsAt)
}

// EffectivePlan returns the plan whose rules apply at time now: the
// organisation's plan, except that a trial which has ended follows
// Starter's rules (no API, one seat, 5 QR codes) until the operator sets
// a plan. Its stored plan stays "trial", so the dashboard can say the
// trial ended.
func (o *Org) EffectivePlan(now time.Time) Plan {
	if o.TrialEnded(now) {
		return PlanStarter
	}
	return o.Plan
}

// HasAPI reports whether the organisation may use the API at time now.
func (o *Org) HasAPI(now time.Time) bool { return o.EffectivePlan(now).Limits().API }

// QRCodeLimit returns how many QR codes the organisation may hold at time
// now; negative means unlimited.
func (o *Org) QRCodeLimit(now time.Time) int { return o.EffectivePlan(now).Limits().QRCodes }

// ErrQRCodeLimit is the error for creating a QR code at time now when the
// organisation already holds have of its QR-code limit.
func (o *Org) ErrQRCodeLimit(now time.Time, have int) error {
	limit := o.QRCodeLimit(now)
	if o.TrialEnded(now) {
		return Codef(EFORBIDDEN, "qr_code_limit_reached",
			"the organisation's 14-day trial ended on %s; like the Starter plan it now holds %d QR codes and has %d; delete one or upgrade to Pro",
			o.TrialEndsAt.UTC().Format("2006-01-02"), limit, have)
	}
	return Codef(EFORBIDDEN, "qr_code_limit_reached",
		"the %s plan holds %d QR codes and the organisation has %d; delete one or upgrade to Pro", o.Plan, limit, have)
}

// APICallLimit returns the monthly API-call allowance.
func (o *Org) APICallLimit() int64 {
	if o.APICallsLimit != nil {
		return *o.APICallsLimit
	}
	return o.Plan.Limits().APICalls
}

// ImageCreditLimit returns the monthly image-credit allowance.
func (o *Org) ImageCreditLimit() int64 {
	if o.ImageCreditsLimit != nil {
		return *o.ImageCreditsLimit
	}
	return o.Plan.Limits().ImageCredits
}

// ErrNotInPlan is the error for API use by an organisation without API
// access at time now.
func (o *Org) ErrNotInPlan(now time.Time) error {
	if o.TrialEnded(now) {
		return Codef(EFORBIDDEN, "api_not_in_plan", "the organisation's 14-day trial ended on %s; API access needs the Pro or Max plan", o.TrialEndsAt.UTC().Format("2006-01-02"))
	}
	return Codef(EFORBIDDEN, "api_not_in_plan", "the organisation's %s plan has no API access; upgrade to Pro or Max", o.Plan)
}

// User is a person who signs in to the dashboard.
type User struct {
	ID        string
	Email     string
	Name      string
	CreatedAt time.Time
}

// KeyStatus is the state of an API key.
type KeyStatus string

// Key statuses. Revoked is terminal.
const (
	KeyActive  KeyStatus = "active"
	KeyPaused  KeyStatus = "paused"
	KeyRevoked KeyStatus = "revoked"
)

// APIKey is an API key as stored: never the key itself.
type APIKey struct {
	ID         string
	OrgID      string
	Name       string
	Prefix     string // "qr_live_a1b2"
	Status     KeyStatus
	CreatedAt  time.Time
	CreatedBy  string // "user:usr_…" or "operator"
	LastUsedAt time.Time
	LastUsedIP string
	LastUsedUA string
	RevokedAt  time.Time

	// The lifecycle (keylife.go). ExpiresAt zero: never expires.
	ExpiresAt  time.Time
	Scopes     Scopes         // FullAccess (zero) unless restricted
	AllowedIPs []netip.Prefix // nil: every address
	// A pause's reason, who paused it (an actor label), when, and when it
	// ends by itself (zero: when resumed).
	PausedReason string
	PausedBy     string
	PausedAt     time.Time
	PausedUntil  time.Time
	// The roll relation: Replaces is the key this one was rolled from;
	// ReplacedBy (and its display prefix) the key that replaced this one,
	// which works until OverlapEndsAt.
	Replaces         string
	ReplacedBy       string
	ReplacedByPrefix string
	OverlapEndsAt    time.Time
}

// MaxKeyNameLen is the longest key name, in characters.
const MaxKeyNameLen = 64

// NormalizeKeyName trims name, makes each run of spaces one space, and
// checks its length and characters. A name is what a person tells keys
// apart by (in the dashboard, in notices, in mail), so it may not hold
// what cannot be seen: control characters, and format characters such as
// a zero-width space or a right-to-left override, which would let two
// names look alike or one look like another text.
func NormalizeKeyName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", Errorf(EINVALID, "the key name must be valid UTF-8")
	}
	name, msg := NormalizeName(name)
	n := utf8.RuneCountInString(name)
	switch {
	case n == 0:
		return "", Errorf(EINVALID, "the key name is required: say where the key is used, e.g. Production-WebApp")
	case n > MaxKeyNameLen:
		return "", Errorf(EINVALID, "the key name has %d characters; at most %d are allowed", n, MaxKeyNameLen)
	case msg != "":
		return "", Errorf(EINVALID, "the key name %s", msg)
	}
	return name, nil
}

// NormalizeName is how a name people read (a key's, an organisation's,
// a person's, a QR code's) is kept: trimmed, each run of white space
// (line breaks and tabs included) made one space, and each accented
// letter in one spelling (NFC: é, not e and a combining accent), so it
// reads back as it was typed on any system. It also says what in the
// name is not allowed ("" if nothing): text that is not UTF-8 or holds
// a NUL, the control and invisible characters HiddenText names, and an
// API key (one whose checksum holds, with or without its prefix). The caller checks
// the length, which differs by kind of name.
func NormalizeName(name string) (normalized, problem string) {
	if msg := TextProblem(name); msg != "" {
		return name, msg
	}
	name = norm.NFC.String(strings.Join(strings.Fields(name), " "))
	if msg := HiddenText(name); msg != "" {
		return name, msg
	}
	// A key pasted into a name would be kept in clear and shown to
	// everyone who sees the name.
	if i, _ := bareKey(name); i >= 0 {
		return name, "may not hold an API key: names are shown to every member, in notices and in the audit log"
	}
	return name, ""
}

// HiddenText says what in name cannot be seen ("" if nothing): a control
// character, or a format character such as a zero-width space or a
// right-to-left override, which would let two names look alike or one
// look like another text.
func HiddenText(name string) string {
	for _, r := range name {
		switch {
		case isControl(r):
			return "may not contain control characters"
		case Hidden(r):
			return fmt.Sprintf("may not contain invisible characters (U+%04X)", r)
		}
	}
	return ""
}

// Hidden reports whether r is a character HiddenText refuses.
func Hidden(r rune) bool {
	return isControl(r) || unicode.Is(unicode.Cf, r) || blankLetters[r]
}

// isControl reports whether r is a control character or a line or
// paragraph separator.
func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp)
}

// MaxOrgNameLen is the longest organisation name, in characters.
const MaxOrgNameLen = 100

// NormalizeOrgName trims an organisation's name, makes each run of
// spaces (line breaks included) one space, stores accented letters in
// one form (NFC) and checks its length and characters as a key name's
// are: the name is shown in the dashboard, in notices and in mail, where
// a line break or an invisible character would pass for other text.
func NormalizeOrgName(name string) (string, error) {
	name, msg := NormalizeName(name)
	if n := utf8.RuneCountInString(name); msg == "" && (n == 0 || n > MaxOrgNameLen) {
		msg = fmt.Sprintf("must have 1 to %d characters", MaxOrgNameLen)
	}
	if msg != "" {
		return "", Errorf(EINVALID, "the organisation name %s", msg)
	}
	return name, nil
}

// blankLetters are characters that are not formatting characters but
// show as nothing: Hangul fillers, the blank Braille pattern and the
// combining grapheme joiner.
var blankLetters = map[rune]bool{0x034F: true, 0x115F: true, 0x1160: true, 0x3164: true, 0xFFA0: true, 0x2800: true}

// KeyNameFold is what two key names are compared by: they name the same
// key when they differ only in case, in width or compatibility form
// (Ａ, ﬁ), in which dash they use ("A-Prod", "a-prod", "Ａ-Prod" and
// "A‐Prod" look alike to a person) or in Cyrillic and Greek letters that
// are drawn like Latin ones ("Рrod" with a Cyrillic Р is "Prod").
func KeyNameFold(name string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Pd, r) || r == '\u2212' { // dashes, and the minus sign
			return '-'
		}
		r = unicode.ToLower(r)
		if l, ok := latinLookalikes[r]; ok {
			return l
		}
		return r
	}, norm.NFKC.String(name))
}

// latinLookalikes maps the lower case of Cyrillic and Greek letters whose
// capital or small form is drawn like a Latin letter to that letter (in
// the spirit of Unicode's confusables, UTS #39, for these two scripts).
// Names are compared after case folding, so a letter is mapped by its
// look-alike capital too: Cyrillic Н is drawn like H, so н is h.
var latinLookalikes = map[rune]rune{
	// Cyrillic
	'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'ë', 'з': '3', 'і': 'i', 'ї': 'ï', 'ј': 'j', 'к': 'k',
	'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't', 'у': 'y', 'х': 'x',
	'ѕ': 's', 'һ': 'h', 'ү': 'y', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ӏ': 'l',
	// Greek
	'α': 'a', 'β': 'b', 'ε': 'e', 'ζ': 'z', 'η': 'h', 'ι': 'i', 'κ': 'k', 'μ': 'm',
	'ν': 'n', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'y', 'χ': 'x',
}

var genericNames = map[string]bool{
	"key": true, "key 1": true, "key1": true, "test": true, "api": true, "api key": true,
	"apikey": true, "my key": true, "new key": true, "default": true, "temp": true, "token": true,
}

// KeyNameHint returns advice when name is generic (the seed page's "Bad"
// column), and "" otherwise. Generic names are accepted.
func KeyNameHint(name string) string {
	n := strings.ToLower(strings.Join(strings.Fields(name), " "))
	if genericNames[n] || (strings.HasPrefix(n, "key ") && len(n) <= 6) || (strings.HasPrefix(n, "test") && len(n) <= 6) {
		return "\"" + name + "\" does not say where the key is used; a name like Production-WebApp or Zapier-Integration makes it easy to find and revoke later"
	}
	return ""
}

// Usage is an organisation's (or a key's) consumption in one period.
type Usage struct {
	Period            string // "2026-11"
	APICalls          int64
	APICallsLimit     int64
	ImageCredits      int64
	ImageCreditsLimit int64
	ResetsAt          time.Time
}

// Period returns the usage period (a calendar month in UTC) containing t,
// and the instant the next one begins.
func Period(t time.Time) (name string, resetsAt time.Time) {
	// Every request asks; remember the last month to skip the formatting.
	if c := lastPeriod.Load(); c != nil && !t.Before(c.start) && t.Before(c.end) {
		return c.name, c.end
	}
	u := t.UTC()
	start := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
	c := &periodCache{name: start.Format("2006-01"), start: start, end: start.AddDate(0, 1, 0)}
	lastPeriod.Store(c)
	return c.name, c.end
}

type periodCache struct {
	name       string
	start, end time.Time
}

var lastPeriod atomic.Pointer[periodCache]

// Actor is who performed a management action: a signed-in user or the
// operator's command line.
type Actor struct {
	UserID string // empty for the operator
	// System names an actor that is neither a person nor the operator:
	// "snapglyph" for what happens by itself (a timed pause ending),
	// "github" for GitHub's secret scanning. Empty for the others.
	System string
	Label  string // email or "operator (CLI)"
	IP     string
	// OrgID is the organisation the actor is acting in (a dashboard
	// session's), empty for the operator. A person who belongs to several
	// organisations acts in one at a time: the service answers ENOTFOUND
	// for anything of another organisation, whatever their role there.
	OrgID string
}

// ActsIn reports whether the actor may act in the organisation at all:
// an actor bound to an organisation (OrgID set) only in that one.
func (a Actor) ActsIn(orgID string) bool { return a.OrgID == "" || a.OrgID == orgID }

// Operator is the actor of CLI commands.
var Operator = Actor{Label: "operator (CLI)"}

// String returns the stored form (the audit log's actor, an event's
// actorId): "user:ID", the System's name, or "operator".
func (a Actor) String() string {
	switch {
	case a.UserID != "":
		return "user:" + a.UserID
	case a.System != "":
		return a.System
	}
	return "operator"
}

// AuditEvent is one entry of an organisation's audit log.
type AuditEvent struct {
	ID         int64
	OrgID      string
	Action     string // "key.created", "key.paused", …
	Actor      string // "user:usr_…", "operator", "snapglyph" or "github" (Actor.String)
	ActorLabel string
	TargetID   string
	TargetName string
	// Detail says more about the action in one line: a pause's reason,
	// a rename's old name, a roll's overlap.
	Detail string
	IP     string
	At     time.Time
}

// Counts is a number of API calls and image credits.
type Counts struct {
	APICalls     int64
	ImageCredits int64
}

// LastUse is the most recent authenticated request made with a key.
type LastUse struct {
	At        time.Time
	IP        string
	UserAgent string
}

// PeriodKey names a counter of one organisation or key in one period.
type PeriodKey struct {
	ID     string // org or key id
	Period string
}

// UsageBatch is what a node has buffered since its last flush: spent
// counts per organisation and per key, and each key's last use.
type UsageBatch struct {
	// ID makes the batch's write exactly-once: the store records it with
	// the counts, and a batch written again with the same ID (its first
	// write failed, but may have committed) is not counted twice. An
	// empty ID is not recorded and never skipped.
	ID       string
	Orgs     map[PeriodKey]Counts
	Keys     map[PeriodKey]Counts
	LastUsed map[string]LastUse // by key id
	// KeyDays are a key's counts per UTC day (Period is "2006-01-02"),
	// and KeyIPs the addresses a key was used from: its page shows them.
	KeyDays map[PeriodKey]Counts
	KeyIPs  map[KeyIP]IPSeen
	// Refused counts, per organisation and period, the requests refused
	// because nothing was left of an allowance (APICalls: the call
	// limit; ImageCredits: no credit left): the organisation is told its
	// allowance is spent even if its recorded use never reaches the
	// limit (a node that stopped without handing back what it held).
	Refused map[PeriodKey]Counts
}

// Empty reports whether the batch holds nothing.
func (b *UsageBatch) Empty() bool {
	return len(b.Orgs) == 0 && len(b.Keys) == 0 && len(b.LastUsed) == 0 && len(b.KeyDays) == 0 && len(b.KeyIPs) == 0 && len(b.Refused) == 0
}

// DroppedUsage is a row of a usage batch that the database refused for
// its data (it can never be written): it is dropped, so that it does not
// hold back the rest of the batch, and reported so it is logged and
// counted.
type DroppedUsage struct {
	Kind   string // "org" (an organisation's counters), "key" (a key's counters), "key_day", "key_ip" or "last_use"
	ID     string // the organisation or key id
	Period string // "" for last_use
	Counts Counts // what was lost (zero for last_use)
	Err    error  // the database's refusal
}

// Counter names one of the two metered allowances.
type Counter string

// The metered allowances.
const (
	APICalls     Counter = "api_calls"
	ImageCredits Counter = "image_credits"
)

// LeaseShare is the fraction of what is left that one lease of an
// allowance takes (one sixteenth): blocks shrink as the allowance runs
// low, down to one unit.
const LeaseShare = 16

// OrgUsage is an organisation with what it spent in a period.
type OrgUsage struct {
	Org  *Org
	Used Counts
}

// StoredUsage is an organisation's counters for one period as stored:
// the units spent, and the units leased to nodes (spent or not yet).
type StoredUsage struct {
	Used     Counts
	Reserved Counts
}

// The longest last-used address and user agent stored with a key, in
// bytes.
const (
	MaxLastUsedIP = 64
	MaxLastUsedUA = 256
)
