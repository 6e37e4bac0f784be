package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// apiPage is the API Settings page. At most one of Create, Reveal and
// Revoke is set: the dialog drawn open over the page.
type apiPage struct {
	base
	HasAPI     bool
	TrialEnded bool
	Usage      *usageCard
	// Keys are the rows of the table. A key rolled to a new one that
	// still works is shown under the new key (its Old), not on its own.
	Keys []*keyRow
	// Revoked are the revoked keys, newest revocation first: the list
	// keeps them, collapsed, so their pages and requests stay in reach.
	Revoked []*keyRow
	// JustRevoked is the key revoked by the action that led here: the
	// page offers the next steps (a replacement, its requests).
	JustRevoked *keyRow
	Create      *createForm
	Reveal      *revealView
	// Rolled is set when Reveal (or Shown) is a rolled key: the old key
	// it replaced.
	Rolled *keyRow
	// Shown is a new key whose one-time reveal was opened already: the
	// page says which key it was, without its value.
	Shown  *keyRow
	Revoke *keyRow
	// RevokeBack is where the revoke dialog's Cancel and Escape lead:
	// the page it was opened from (a request in the Logs), or the list's
	// Revoke button when empty.
	RevokeBack string
}

// revokeDialog is a key's revoke confirmation (layout.html's
// "revoke-dialog") and where its Cancel and Escape lead.
type revokeDialog struct {
	Key  *keyRow
	Back string
}

// RevokeDialog is the list's revoke confirmation: back to the page it was
// opened from, or to the key's Revoke button in the list.
func (p *apiPage) RevokeDialog() revokeDialog {
	back := p.RevokeBack
	if back == "" {
		back = "/settings/api#revoke-" + p.Revoke.ID
	}
	return revokeDialog{Key: p.Revoke, Back: back}
}

// revealView is a new key shown once: its value, and what it may do, so
// that the person who made it sees the access they gave it.
type revealView struct {
	*keyRow
	Secret string
	// Hint suggests a better name when the name is generic.
	Hint string
}

type usageCard struct {
	Calls    meterRow
	Credits  meterRow
	ResetsAt time.Time
}

type meterRow struct {
	Used, Limit int64
	Percent     int    // 0–100, for the bar
	Level       string // "", "warn" (≥ 80 %) or "full"
	Note        string // "12% of this month's limit used"
	// Raise says who can raise the limit once it is reached: "plan"
	// (a higher plan has a higher one: a link to Subscription), "owner"
	// (the same, for someone who cannot change the plan), "operator"
	// (the limit was set for the organisation, and stays when the plan
	// changes) or "none" (no plan has a higher one).
	Raise string
}

// raiseBy is meterRow.Raise for a monthly limit of the page's
// organisation: set is the operator's override (nil: the plan's), of
// reads the limit from a plan's.
func raiseBy(b base, set *int64, of func(snapglyph.PlanLimits) int64) string {
	if set != nil {
		return "operator"
	}
	for _, p := range snapglyph.Plans() {
		if of(p.Limits()) > of(b.Org.Plan.Limits()) {
			if !b.Can("subscription") {
				return "owner"
			}
			return "plan"
		}
	}
	return "none"
}

func newMeter(used, limit int64) meterRow {
	m := meterRow{Used: used, Limit: limit}
	switch {
	case limit <= 0:
		m.Percent = 100
	default:
		m.Percent = int(min(100, used*100/limit))
	}
	switch {
	case used >= limit:
		m.Level = "full"
	case m.Percent >= 80:
		m.Level = "warn"
	}
	switch {
	case used >= limit:
		m.Note = "Limit reached: requests are refused until the limits refresh"
	case used > 0 && m.Percent == 0:
		m.Note = "Less than 1% of this month's limit used"
	default:
		m.Note = fmt.Sprintf("%d%% of this month's limit used, %s left", m.Percent, snapglyph.FormatCount(limit-used))
	}
	return m
}

type keyRow struct {
	*snapglyph.APIKey
	LastUsed *snapglyph.LastUse // nil: never
	now      time.Time
	// Old is the key this one replaced, while it still works: the list
	// shows the two together, each with its last use.
	Old *keyRow
	// Refused is what the request log holds of the key's refused
	// requests; nil when it holds none (or the log is off).
	Refused *refusals
}

func newKeyRow(k *snapglyph.APIKey, now time.Time, rec *usage.Recorder) *keyRow {
	row := &keyRow{APIKey: k, now: now}
	if !k.LastUsedAt.IsZero() {
		row.LastUsed = &snapglyph.LastUse{At: k.LastUsedAt, IP: k.LastUsedIP, UserAgent: k.LastUsedUA}
	}
	if rec != nil {
		// On a tie the buffered use is the later one, as in the store.
		if u, ok := rec.PendingLastUse(k.ID); ok && (row.LastUsed == nil || !u.At.Before(row.LastUsed.At)) {
			row.LastUsed = &u
		}
	}
	return row
}

// Active reports whether the key works now (paused keys show as Paused,
// with who paused them, why and until when).
func (k *keyRow) Active() bool { return k.StateAt(k.now) == snapglyph.StateActive }

// Paused reports whether the key is paused now.
func (k *keyRow) Paused() bool { return k.StateAt(k.now) == snapglyph.StatePaused }

// Expired reports whether the key stopped working by itself.
func (k *keyRow) Expired() bool { return k.StateAt(k.now) == snapglyph.StateExpired }

// Revoked reports whether the key is revoked.
func (k *keyRow) Revoked() bool { return k.Status == snapglyph.KeyRevoked }

// Rolled reports whether the key was rolled and its overlap has not
// ended: it is shown beside the key that replaced it. It may be paused.
func (k *keyRow) Rolled() bool { return k.ReplacedBy != "" && !k.IsExpired(k.now) && !k.Revoked() }

// InOverlap reports whether the key was rolled and still works: a paused
// key stays paused (refused) through the overlap.
func (k *keyRow) InOverlap() bool { return k.Rolled() && k.Active() }

// StatusWord is the key's state in one word, as the pill shows it.
func (k *keyRow) StatusWord() string {
	switch k.StateAt(k.now) {
	case snapglyph.StateRevoked:
		return "Revoked"
	case snapglyph.StateExpired:
		return "Expired"
	case snapglyph.StatePaused:
		return "Paused"
	}
	if k.InOverlap() {
		return "Replaced"
	}
	return "Active"
}

// Expires says when the key expires: "Never", "Expires in 12 days",
// "Expired".
func (k *keyRow) Expires() string {
	switch {
	case k.ExpiresAt.IsZero():
		return "Never"
	case !k.now.Before(k.ExpiresAt):
		return "Expired"
	}
	return "Expires in " + snapglyph.TimeUntil(k.now, k.ExpiresAt)
}

// ExpiresIn says how long until the key's expiry: "12 days".
func (k *keyRow) ExpiresIn() string { return snapglyph.TimeUntil(k.now, k.ExpiresAt) }

// ExpiresSoon reports whether a working key stops within 7 days (its
// expiry or its overlap's end): the list marks it.
func (k *keyRow) ExpiresSoon() bool {
	end := k.EndsAt()
	return !end.IsZero() && k.now.Before(end) && end.Sub(k.now) <= 7*24*time.Hour && !k.Revoked()
}

// EndsIn says how long a rolled key keeps working: "3 hours".
func (k *keyRow) EndsIn() string { return snapglyph.TimeUntil(k.now, k.EndsAt()) }

// IPList is the allowlist for people: "203.0.113.0/24, 2001:db8::/32".
func (k *keyRow) IPList() string {
	return strings.ReplaceAll(snapglyph.FormatAllowedIPs(k.AllowedIPs), ",", ", ")
}

// refusals are a key's refused requests as the request log holds them:
// the newest, and for a key that no longer works how many since it
// stopped.
type refusals struct {
	Last *snapglyph.RequestLogEntry
	// Since is when the key stopped working (zero for a working key,
	// whose refusals are a permission's or an address's), and SinceWhat
	// how: "paused", "revoked" or "expired".
	Since     time.Time
	SinceWhat string
	Count     int64 // refused since then; 0 for a working key
	Link      string
}

// Why says why the newest refusal was refused: "key paused",
// "address not allowed".
func (f *refusals) Why() string { return refusalReason(f.Last) }

// refusalReason names why the request log's entry was refused.
func refusalReason(e *snapglyph.RequestLogEntry) string {
	if r := snapglyph.InactiveKeyReason(e.Code); r != "" {
		return r
	}
	switch e.Code {
	case "ip_not_allowed":
		return "address not allowed"
	case "insufficient_scope":
		return "outside its permissions"
	case "api_not_in_plan":
		return "plan without API access"
	case "":
		return strconv.Itoa(e.Status)
	}
	return e.Code
}

// refusalWindow is how far back a working key's refusals are looked for.
const refusalWindow = "7d"

// keyRefusals reads a key's refused requests from the request log: the
// newest (401 or 403) since the key stopped working, or within
// refusalWindow for a working key, and how many since it stopped. Each
// read is the key's entries in a range, through the key's index, newest
// first and at most one. Nothing is said when the log holds nothing
// (the log may be off) or cannot be read.
func (a *app) keyRefusals(r *http.Request, orgID string, k *keyRow) *refusals {
	ctx, act := r.Context(), actor(r)
	f := &refusals{}
	switch {
	case k.Revoked():
		f.Since, f.SinceWhat = k.RevokedAt, "revoked"
	case k.Expired():
		f.Since, f.SinceWhat = k.EndsAt(), "expired"
	case k.Paused():
		f.Since, f.SinceWhat = k.PausedAt, "paused"
	}
	from := refusalWindow
	statuses := []string{"401", "403"}
	if !f.Since.IsZero() {
		// From the moment it stopped, every request with it is a 401.
		from, statuses = f.Since.UTC().Format(time.RFC3339Nano), []string{"401"}
	}
	failed := func(err error) bool {
		if err != nil && snapglyph.ErrorKind(err) != snapglyph.EFORBIDDEN {
			a.log.Warn("dashboard: reading a key's refused requests", "key", k.ID, "err", err)
		}
		return err != nil
	}
	for _, st := range statuses {
		q := service.LogQuery{Key: k.ID, Status: st, From: from, Limit: 1}
		es, _, err := a.svc.RequestLog(ctx, act, orgID, q)
		if snapglyph.ErrorKind(err) == snapglyph.EINVALID && from != refusalWindow {
			// It stopped before the oldest entry kept: everything kept.
			from, q.From = "", ""
			es, _, err = a.svc.RequestLog(ctx, act, orgID, q)
		}
		if failed(err) {
			return nil
		}
		if len(es) == 1 && (f.Last == nil || es[0].At.After(f.Last.At)) {
			f.Last = &es[0]
		}
	}
	if f.Last == nil {
		return nil
	}
	status := strconv.Itoa(f.Last.Status)
	if !f.Since.IsZero() {
		c, err := a.svc.RequestLogChart(ctx, act, orgID, service.LogQuery{Key: k.ID, Status: "401", From: from})
		if failed(err) {
			return nil
		}
		for _, b := range c.Buckets {
			f.Count += b.Total()
		}
	}
	f.Link = logForm{Range: "all", Status: status}.Link("/settings/logs", "key", k.ID) + "#results"
	return f
}

// scopeLabels say what each permission allows, for people.
var scopeLabels = map[string]string{
	"qr_codes:read":  "Read QR codes",
	"qr_codes:write": "Create, change and delete QR codes",
	"images:read":    "Download QR-code images",
	"usage:read":     "Read usage",
}

// ScopeLabel is a permission in words: "Read QR codes".
func (keyOptions) ScopeLabel(s string) string { return scopeLabels[s] }

// ScopeLabel is a permission in words: "Read QR codes".
func (*keyRow) ScopeLabel(s string) string { return scopeLabels[s] }

type createForm struct {
	Name    string
	Hint    string // the generic-name warning
	Confirm bool   // the user saw the warning: create anyway
	Error   string
	// Nonce makes the form create at most one key: sent again (a page
	// refresh re-posts it), it creates nothing.
	Nonce string
	keyOptions
}

// keyOptions are the create form's expiry and restrictions, as sent, and
// what is wrong with them.
type keyOptions struct {
	Expires    string // "never", "7", "30", "90", "365" (days) or "date"
	ExpiresOn  string // with "date": 2027-06-30
	Restricted bool
	Scopes     map[string]bool
	AllowedIPs string
	// Errors by field: "expires", "scopes", "allowed_ips".
	Errors map[string]string
}

// FirstError names the first field in error in the forms' order
// ("expires", "scopes", "allowed_ips"), or is empty. A form sent back
// puts focus there, so that the keyboard and a screen reader start at
// what is to be corrected.
func (o keyOptions) FirstError() string {
	for _, f := range []string{"expires", "scopes", "allowed_ips"} {
		if o.Errors[f] != "" {
			return f
		}
	}
	return ""
}

// Focus names the create dialog's field that takes focus: the first one
// in error, the name when that is wrong or nothing is. A date that is
// missing or past is the date field's error ("expires_on").
func (f *createForm) Focus() string {
	switch first := f.FirstError(); {
	case f.Error != "" || first == "":
		return "name"
	case first == "expires" && f.Expires == "date":
		return "expires_on"
	default:
		return first
	}
}

// ExpiryPresets and AllScopes feed the form's choices.
func (keyOptions) ExpiryPresets() []int    { return snapglyph.ExpiryPresets }
func (keyOptions) AllScopes() []string     { return snapglyph.AllScopes() }
func (o keyOptions) Checked(s string) bool { return o.Scopes[s] }

// readKeyOptions reads the create form's expiry and restrictions into a
// spec. Each wrong field is named in Errors; the spec is usable only when
// there are none. mayOmitAccess lets a form without "access" mean full
// access (a new key's default).
func readKeyOptions(form url.Values, mayOmitAccess bool) (keyOptions, service.KeySpec) {
	o := keyOptions{Expires: form.Get("expires"), ExpiresOn: form.Get("expires_on"), Restricted: form.Get("access") == "restricted",
		AllowedIPs: form.Get("allowed_ips"), Scopes: map[string]bool{}, Errors: map[string]string{}}
	// The boxes come back ticked as they were sent, whatever is wrong.
	for _, s := range form["scope"] {
		o.Scopes[s] = true
	}
	var spec service.KeySpec
	// An unknown access must not quietly make a key with full access, nor
	// widen a restricted one: only a new key may leave it out (the form's
	// default, full access). Nor may permissions ticked beside Full access:
	// a radio group is one stop for Tab, so a keyboard reaches the boxes
	// from Full access without passing Restricted, and whoever ticks them
	// believes the key restricted.
	switch access, ticked := form["access"], len(form["scope"]) > 0; {
	case len(access) == 0 && mayOmitAccess && ticked:
		o.Errors["scopes"] = "Choose Restricted to give the key only the permissions ticked."
	case len(access) == 0 && mayOmitAccess:
	case len(access) != 1 || access[0] != "full" && access[0] != "restricted":
		o.Errors["scopes"] = "Choose Full access or Restricted."
	case access[0] == "full" && ticked:
		o.Errors["scopes"] = "Full access is chosen, but permissions are ticked: choose Restricted to give the key only the permissions ticked, or untick them all for full access."
	}
	switch o.Expires {
	case "", "never":
		o.Expires = "never"
	case "date":
		t, err := snapglyph.ParseTime(o.ExpiresOn)
		if err != nil || o.ExpiresOn == "" {
			o.Errors["expires"] = "Choose the date the key expires (it expires at 00:00 UTC that day)."
		}
		spec.ExpiresAt = t
	default:
		days, err := strconv.Atoi(o.Expires)
		if err != nil || !slices.Contains(snapglyph.ExpiryPresets, days) {
			o.Errors["expires"] = "Choose one of the offered expiries."
			o.Expires = "never"
			break
		}
		spec.ExpiresIn = time.Duration(days) * 24 * time.Hour
	}
	if o.Restricted {
		ss, err := snapglyph.ParseScopeList(form["scope"])
		if err != nil {
			o.Errors["scopes"] = sentence(snapglyph.ErrorMessage(err))
		}
		spec.Scopes = ss
	}
	if strings.TrimSpace(o.AllowedIPs) != "" {
		ips, err := snapglyph.ParseAllowedIPs(o.AllowedIPs)
		if err != nil {
			o.Errors["allowed_ips"] = sentence(snapglyph.ErrorMessage(err))
		}
		spec.AllowedIPs = ips
	}
	return o, spec
}

// newNonce returns a random one-time form value.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// apiPage gathers what the API Settings page shows.
func (a *app) apiPage(w http.ResponseWriter, r *http.Request) (*apiPage, error) {
	b, err := a.newBase(w, r, "API Keys", "api")
	if err != nil {
		return nil, err
	}
	now := a.now()
	p := &apiPage{base: b, HasAPI: b.Org.HasAPI(now)}
	p.TrialEnded = b.Org.Plan == snapglyph.PlanTrial && !p.HasAPI
	// The rows join each key's stored last use with the one this node has
	// not flushed yet; read both between two flushes, or a flush that
	// commits in between hides the use from both.
	readKeys := func() error {
		keys, err := a.svc.Keys(r.Context(), actor(r), b.Org.ID, true)
		if err != nil {
			return err
		}
		var live []*snapglyph.APIKey
		for _, k := range keys {
			if k.Status == snapglyph.KeyRevoked {
				p.Revoked = append(p.Revoked, newKeyRow(k, now, a.rec))
			} else {
				live = append(live, k)
			}
		}
		p.Keys = keyRows(live, now, a.rec)
		return nil
	}
	if a.rec != nil {
		err = a.rec.Snapshot(func() {}, readKeys)
	} else {
		err = readKeys()
	}
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.Revoked, func(x, y *keyRow) int { return y.RevokedAt.Compare(x.RevokedAt) })
	// Refused attempts of the keys that no longer work: whether a
	// leaked key is still tried. The first 25 paused or expired keys and
	// the 10 newest revoked ones only, so the page's reads stay few (each
	// key's page says it for any key).
	const revokedRefusals = 10
	stopped := 0 // paused and expired keys read: at most stoppedRefusals
	const stoppedRefusals = 25
	for _, row := range p.Keys {
		for _, k := range []*keyRow{row, row.Old} {
			if k != nil && (k.Paused() || k.Expired()) && stopped < stoppedRefusals {
				stopped++
				k.Refused = a.keyRefusals(r, b.Org.ID, k)
			}
		}
	}
	for i, k := range p.Revoked {
		if i == revokedRefusals {
			break
		}
		k.Refused = a.keyRefusals(r, b.Org.ID, k)
	}
	if id := r.URL.Query().Get("revoked"); id != "" {
		for _, k := range p.Revoked {
			if k.ID == id {
				p.JustRevoked = k
			}
		}
	}
	if p.HasAPI {
		period, resets := snapglyph.Period(now)
		stored := func() (snapglyph.Counts, error) {
			return a.svc.Spent(r.Context(), actor(r), b.Org.ID, period)
		}
		var used snapglyph.Counts
		var err error
		if a.rec != nil {
			used, err = a.rec.Used(b.Org.ID, period, stored)
		} else {
			used, err = stored()
		}
		if err != nil {
			return nil, err
		}
		p.Usage = &usageCard{
			Calls:    newMeter(used.APICalls, b.Org.APICallLimit()),
			Credits:  newMeter(used.ImageCredits, b.Org.ImageCreditLimit()),
			ResetsAt: resets,
		}
		p.Usage.Calls.Raise = raiseBy(b, b.Org.APICallsLimit, func(l snapglyph.PlanLimits) int64 { return l.APICalls })
		p.Usage.Credits.Raise = raiseBy(b, b.Org.ImageCreditsLimit, func(l snapglyph.PlanLimits) int64 { return l.ImageCredits })
	}
	return p, nil
}

// keyRows makes the table's rows, newest first: a rolled key that still
// works goes under the key that replaced it.
func keyRows(keys []*snapglyph.APIKey, now time.Time, rec *usage.Recorder) []*keyRow {
	byID := make(map[string]*keyRow, len(keys))
	for _, k := range keys {
		byID[k.ID] = newKeyRow(k, now, rec)
	}
	var rows []*keyRow
	for _, k := range keys {
		row := byID[k.ID]
		if nk := byID[k.ReplacedBy]; nk != nil && row.Rolled() && nk.Old == nil {
			nk.Old = row
			continue
		}
		rows = append(rows, row)
	}
	return rows
}

func (a *app) findKey(p *apiPage, id string) *keyRow {
	for _, k := range p.Keys {
		if k.ID == id {
			return k
		}
		if k.Old != nil && k.Old.ID == id {
			return k.Old
		}
	}
	return nil
}

func (a *app) handleAPI(w http.ResponseWriter, r *http.Request) {
	p, err := a.apiPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "apikeys.html", p)
}

// handleKeyNew draws the page with the Create API Key dialog open (the
// link the button follows without JavaScript).
func (a *app) handleKeyNew(w http.ResponseWriter, r *http.Request) {
	p, err := a.apiPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !p.HasAPI {
		http.Redirect(w, r, "/settings/api", http.StatusSeeOther)
		return
	}
	p.Create = &createForm{Nonce: newNonce(), keyOptions: keyOptions{Expires: "never", Scopes: map[string]bool{}}}
	a.render(w, r, http.StatusOK, "apikeys.html", p)
}

// handleKeyCreate creates a key and redirects to its one-time reveal
// (redirectToReveal): the key is never put in a URL, a redirect, a
// cookie or a log, and the database holds it only sealed, for one
// showing.
// A generic name ("Key 1", "Test") is not refused, but the first time the
// dialog comes back with a warning and a "Create anyway" button.
func (a *app) handleKeyCreate(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "nonce", "name", "confirm", "expires", "expires_on", "access", "scope", "allowed_ips") {
		return
	}
	s := sessionFrom(r.Context())
	name, confirm := r.PostForm.Get("name"), r.PostForm.Get("confirm") == "generic"
	nonce := r.PostForm.Get("nonce")
	if len(nonce) > 64 {
		nonce = ""
	}
	opts, spec := readKeyOptions(r.PostForm, true)
	if len(opts.Errors) > 0 && s.Role.CanManageKeys() {
		p, err := a.apiPage(w, r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		p.Create = &createForm{Name: name, Nonce: nonce, keyOptions: opts}
		a.render(w, r, http.StatusUnprocessableEntity, "apikeys.html", p)
		return
	}
	if hint := snapglyph.KeyNameHint(name); hint != "" && !confirm && s.Role.CanManageKeys() {
		p, err := a.apiPage(w, r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		p.Create = &createForm{Name: name, Hint: sentence(hint), Confirm: true, Nonce: nonce, keyOptions: opts}
		a.render(w, r, http.StatusOK, "apikeys.html", p)
		return
	}
	spec.Name, spec.Nonce = name, nonce
	nk, err := a.svc.CreateKeyWith(r.Context(), actor(r), s.OrgID, spec)
	if err != nil {
		if snapglyph.ErrorCode(err) == "key_already_created" {
			redirectWith(w, r, "/settings/api", "error",
				"That form already created its key, and a key is shown only once. If you did not copy it, revoke it and create a new one.")
			return
		}
		if k := snapglyph.ErrorKind(err); k == snapglyph.EINVALID || snapglyph.ErrorCode(err) == "key_name_taken" {
			p, perr := a.apiPage(w, r)
			if perr != nil {
				a.fail(w, r, perr)
				return
			}
			status := http.StatusUnprocessableEntity
			if k == snapglyph.ECONFLICT {
				status = http.StatusConflict
			}
			p.Create = &createForm{Name: name, Nonce: nonce, keyOptions: opts}
			if msg := sentence(snapglyph.ErrorMessage(err)); strings.Contains(msg, "expir") {
				p.Create.Errors["expires"] = msg
			} else {
				p.Create.Error = msg
			}
			a.render(w, r, status, "apikeys.html", p)
			return
		}
		a.fail(w, r, err)
		return
	}
	a.redirectToReveal(w, r, nk, "")
}

// redirectToReveal holds a new key for one showing and sends the browser
// to the page that shows it (POST-redirect-GET): Back and reload then
// never post the form again. The key is not in the redirect: its address
// names the reveal, whose sealed value only this session can open.
func (a *app) redirectToReveal(w http.ResponseWriter, r *http.Request, nk *service.NewKey, oldKeyID string) {
	s := sessionFrom(r.Context())
	id, err := a.svc.HoldReveal(r.Context(), s.Session, s.Token, nk, oldKeyID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/api/reveal/"+url.PathEscape(id), http.StatusSeeOther)
}

// handleKeyReveal shows a new key once, over the API Settings list, with
// Cache-Control: no-store (as every page). The first visit shows the
// value; a reload, Back, or any later visit says calmly which key was
// created and that its value cannot be shown again.
func (a *app) handleKeyReveal(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	rv, err := a.svc.TakeReveal(r.Context(), s.Session, s.Token, r.PathValue("id"))
	if err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
			a.renderError(w, r, http.StatusNotFound, "Nothing to show here",
				"This address showed a new API key once, to the session that created it. Your keys are listed in API Settings.")
			return
		}
		a.fail(w, r, err)
		return
	}
	p, err := a.apiPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.now()
	if rv.Old != nil {
		p.Rolled = &keyRow{APIKey: rv.Old, now: now}
	}
	if rv.Secret == "" {
		p.Shown = &keyRow{APIKey: rv.Key, now: now}
		a.render(w, r, http.StatusOK, "apikeys.html", p)
		return
	}
	p.Reveal = &revealView{keyRow: &keyRow{APIKey: rv.Key, now: now}, Secret: rv.Secret}
	if hint := snapglyph.KeyNameHint(rv.Key.Name); hint != "" && rv.Old == nil {
		p.Reveal.Hint = sentence(hint)
	}
	a.render(w, r, http.StatusOK, "apikeys.html", p)
}

// handleKeyPause pauses a key: from the list without a reason, from the
// key's page with an optional reason and end ("until", a date and time
// in UTC).
func (a *app) handleKeyPause(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "return", "reason", "until") {
		return
	}
	id := r.PathValue("id")
	var end time.Time
	if v := strings.TrimSpace(r.PostForm.Get("until")); v != "" {
		t, err := parseLocalUTC(v)
		if err != nil {
			a.keyPageError(w, r, id, "pause", err)
			return
		}
		end = t
	}
	k, err := a.svc.PauseKeyWith(r.Context(), actor(r), id, r.PostForm.Get("reason"), end)
	if err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.EINVALID {
			// The reason's error is shown by the reason; others by the end.
			form := "pause"
			if e, ok := errors.AsType[*snapglyph.Error](err); ok && len(e.Fields) > 0 && e.Fields[0].Field == "reason" {
				form = "pause-reason"
			}
			a.keyPageError(w, r, id, form, err)
			return
		}
		a.keyActionError(w, r, err)
		return
	}
	msg := k.Name + " is paused. Requests with it are refused until you re-enable it."
	if !k.PausedUntil.IsZero() {
		msg = k.Name + " is paused until " + k.PausedUntil.Format("2 Jan 2006, 15:04 UTC") + ", when it works again by itself."
	}
	redirectWith(w, r, returnTo(r), "success", msg)
}

// parseLocalUTC reads a datetime-local field ("2026-12-24T09:00"), meant
// as UTC, or any other instant snapglyph.ParseTime reads.
func parseLocalUTC(v string) (time.Time, error) {
	if t, err := snapglyph.ParseTime(v); err == nil {
		return t, nil
	}
	return time.Time{}, snapglyph.Errorf(snapglyph.EINVALID, "give the time the pause ends as a date and time (UTC)")
}

// returnTo is where an action goes back to: the key's page when the form
// came from it ("return=key"), the list otherwise.
func returnTo(r *http.Request) string {
	if r.PostForm.Get("return") == "key" {
		return "/settings/api/keys/" + url.PathEscape(r.PathValue("id"))
	}
	return "/settings/api"
}

func (a *app) handleKeyResume(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "return") {
		return
	}
	k, err := a.svc.ResumeKey(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		a.keyActionError(w, r, err)
		return
	}
	redirectWith(w, r, returnTo(r), "success", k.Name+" is active again.")
}

// handleKeyEndOverlap stops a rolled key now.
func (a *app) handleKeyEndOverlap(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "return") {
		return
	}
	k, err := a.svc.EndOverlap(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		a.keyActionError(w, r, err)
		return
	}
	redirectWith(w, r, returnTo(r), "success", "The old key "+k.Prefix+"... of "+k.Name+" stopped working now; only "+k.ReplacedByPrefix+"... works.")
}

// handleKeyRevokeConfirm draws the revoke dialog over the page it was
// opened from (revokeFrom): the key's own page, or the list. Cancel and
// Escape lead back there, to the button that opened it; from a request's
// page in the Logs the dialog is drawn over the list and leads back to
// the request.
func (a *app) handleKeyRevokeConfirm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	from := revokeFrom(r, id)
	if from == keyPagePath(id) {
		p, err := a.keyPageData(w, r, id)
		if err != nil {
			a.keyNotFound(w, r, err)
			return
		}
		if p.Key.Revoked() {
			a.renderError(w, r, http.StatusNotFound, "API key not found", "There is no such API key in this organisation; it may have been revoked already.")
			return
		}
		p.Revoke = true
		a.render(w, r, http.StatusOK, "key.html", p)
		return
	}
	p, err := a.apiPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	k := a.findKey(p, id)
	if k == nil {
		a.renderError(w, r, http.StatusNotFound, "API key not found", "There is no such API key in this organisation; it may have been revoked already.")
		return
	}
	p.Revoke = k
	if from != "" {
		p.RevokeBack = from + "#revoke-key"
	}
	a.render(w, r, http.StatusOK, "apikeys.html", p)
}

// keyPagePath is the address of a key's page.
func keyPagePath(id string) string { return "/settings/api/keys/" + url.PathEscape(id) }

// logEntryID matches what a request's page in the Logs may be named by.
var logEntryID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// maxFromLen bounds the address revokeFrom reads: a request's page with
// every filter set is far shorter, so a longer one is not one of ours.
const maxFromLen = 2048

// revokeFrom names the page the revoke dialog of key id was opened from,
// when the dialog should lead back there: the key's own page, or a
// request's page in the Logs (with its filters). The page says so with
// "from" (a path on this site), or else the browser with Referer. Any
// other page, another key's page or another site is the list (""), and
// so is anything that is not text (bytes that are not UTF-8, a NUL, once
// decoded too), too long, or with filters the Logs refuse: nothing sent
// here leads anywhere else. The way back is made again from what it
// names (the request's filters, as the Logs page writes them), so nothing
// else sent is repeated.
func revokeFrom(r *http.Request, id string) string {
	from := r.URL.Query().Get("from")
	if from == "" {
		ref, err := url.Parse(r.Referer())
		if err != nil || ref.Host != r.Host {
			return ""
		}
		from = ref.RequestURI()
	}
	if len(from) > maxFromLen || snapglyph.TextProblem(from) != "" {
		return ""
	}
	u, err := url.Parse(from)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	if u.Path == keyPagePath(id) {
		return u.Path
	}
	if entry, ok := strings.CutPrefix(u.Path, "/settings/logs/"); ok && logEntryID.MatchString(entry) {
		if u.RawQuery == "" {
			return u.Path
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil || snapglyph.CheckValues(q) != nil {
			return ""
		}
		f := logFormOf(q)
		if _, err := f.query("", logPageSize); err != nil {
			return "" // a range the Logs would refuse
		}
		return f.Link(u.Path)
	}
	return ""
}

func (a *app) handleKeyRevoke(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	k, err := a.svc.RevokeKey(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		a.keyActionError(w, r, err)
		return
	}
	// The prefix says which key it was: after a roll, two keys share the
	// name.
	redirectWith(w, r, "/settings/api?revoked="+url.QueryEscape(k.ID), "success",
		k.Name+" is revoked: applications still using "+k.Prefix+"... now receive 401 Unauthorized.")
}

// keyActionError answers a refused pause, resume, revoke or end of
// overlap: a conflict (already paused, already revoked, expired) goes back
// to the page with the message; anything else is an error page (403 for a
// Member).
func (a *app) keyActionError(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorKind(err) == snapglyph.ECONFLICT {
		redirectWith(w, r, returnTo(r), "error", sentence(snapglyph.ErrorMessage(err)))
		return
	}
	a.fail(w, r, err)
}
