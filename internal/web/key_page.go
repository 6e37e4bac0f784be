package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// keyPage is a key's own page (/settings/api/keys/{id}): its details and
// restrictions, this month's usage by day, where it was used from, the
// QR codes it created, its audit events, and its actions. Roll is the
// roll dialog drawn open over it.
type keyPage struct {
	base
	Key        *keyRow
	Activity   *service.KeyActivity
	Replaces   *keyRow
	ReplacedBy *keyRow
	CreatedBy  string // who created it, as the audit log names them
	Chart      template.HTML
	// The forms, as sent when they come back with an error.
	RenameName, RenameError string
	PauseReason, PauseUntil string
	PauseError              string // the end's ("until")
	PauseReasonError        string
	Roll                    bool
	Overlaps                []overlapChoice
	// Restrict is the restrictions form: the key's, or as sent.
	Restrict keyOptions
}

type overlapChoice struct {
	Value, Label string
	Selected     bool
}

// keyPageData gathers a key's page. Returns ENOTFOUND for a key of another
// organisation (the URL may be guessed or old).
func (a *app) keyPageData(w http.ResponseWriter, r *http.Request, id string) (*keyPage, error) {
	b, err := a.newBase(w, r, "API Key", "api")
	if err != nil {
		return nil, err
	}
	var pending service.PendingUsage
	if a.rec != nil {
		pending = a.rec
	}
	act, err := a.svc.KeyActivity(r.Context(), actor(r), id, pending)
	if err != nil {
		return nil, err
	}
	if act.Key.OrgID != b.Org.ID {
		return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "there is no such API key in this organisation")
	}
	now := a.now()
	p := &keyPage{base: b, Activity: act, Key: &keyRow{APIKey: act.Key, LastUsed: act.LastUse, now: now}}
	p.Title = act.Key.Name + " — API Key"
	if act.Replaces != nil {
		p.Replaces = &keyRow{APIKey: act.Replaces, now: now}
	}
	if act.ReplacedBy != nil {
		p.ReplacedBy = &keyRow{APIKey: act.ReplacedBy, now: now}
	}
	p.CreatedBy = act.Key.CreatedBy
	if act.Key.CreatedBy == "operator" {
		p.CreatedBy = snapglyph.Operator.Label
	}
	for _, e := range act.Events {
		if e.Action == "key.created" {
			p.CreatedBy = e.ActorLabel
		}
	}
	p.Chart = usageChart(act.Days)
	p.Restrict = keyOptions{Restricted: !act.Key.Scopes.Full(), Scopes: map[string]bool{}, AllowedIPs: p.Key.IPList(), Errors: map[string]string{}}
	for _, s := range act.Key.Scopes.Names() {
		p.Restrict.Scopes[s] = true
	}
	// A paused key (often one that leaked) stays paused through an
	// overlap, and is retired at once unless someone chooses otherwise.
	paused := p.Key.Paused()
	def := 24 * time.Hour
	if paused {
		def = 0
	}
	for _, d := range snapglyph.RollOverlaps {
		var label string
		switch {
		case d == 0 && paused:
			label = "Now: the old key is retired at once"
		case d == 0:
			label = "Now: the old key stops at once"
		case paused:
			label = "In " + snapglyph.FormatDuration(d) + " (it stays paused until then)"
		default:
			label = snapglyph.FormatDuration(d)
		}
		p.Overlaps = append(p.Overlaps, overlapChoice{Value: d.String(), Label: label, Selected: d == def})
	}
	p.Key.Refused = a.keyRefusals(r, b.Org.ID, p.Key)
	return p, nil
}

func (a *app) handleKeyPage(w http.ResponseWriter, r *http.Request) {
	p, err := a.keyPageData(w, r, r.PathValue("id"))
	if err != nil {
		a.keyNotFound(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "key.html", p)
}

// keyNotFound draws the error page for a key that cannot be shown.
func (a *app) keyNotFound(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		a.renderError(w, r, http.StatusNotFound, "API key not found", "There is no such API key in this organisation.")
		return
	}
	a.fail(w, r, err)
}

// keyPageError draws the key's page again with a form's error: 422 for
// bad input, 409 for a name another key holds.
func (a *app) keyPageError(w http.ResponseWriter, r *http.Request, id, form string, err error) {
	p, perr := a.keyPageData(w, r, id)
	if perr != nil {
		a.keyNotFound(w, r, perr)
		return
	}
	msg := sentence(snapglyph.ErrorMessage(err))
	switch form {
	case "rename":
		p.RenameName, p.RenameError = r.PostForm.Get("name"), msg
	case "pause":
		p.PauseReason, p.PauseUntil, p.PauseError = r.PostForm.Get("reason"), r.PostForm.Get("until"), msg
	case "pause-reason":
		p.PauseReason, p.PauseUntil, p.PauseReasonError = r.PostForm.Get("reason"), r.PostForm.Get("until"), msg
	}
	status := http.StatusUnprocessableEntity
	if snapglyph.ErrorKind(err) == snapglyph.ECONFLICT {
		status = http.StatusConflict
	}
	a.render(w, r, status, "key.html", p)
}

// handleKeyRename renames a key; a name another active key holds comes
// back as 409 with the message by the field.
func (a *app) handleKeyRename(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	id := r.PathValue("id")
	old, err := a.svc.Key(r.Context(), actor(r), id)
	if err != nil {
		a.keyNotFound(w, r, err)
		return
	}
	k, err := a.svc.RenameKey(r.Context(), actor(r), id, r.PostForm.Get("name"))
	if err != nil {
		switch snapglyph.ErrorKind(err) {
		case snapglyph.EINVALID, snapglyph.ECONFLICT:
			a.keyPageError(w, r, id, "rename", err)
		default:
			a.fail(w, r, err)
		}
		return
	}
	redirectWith(w, r, "/settings/api/keys/"+k.ID, "success", old.Name+" is now named "+k.Name+".")
}

// handleKeyRestrict replaces a key's permissions and IP allowlist; wrong
// fields come back named, with 422.
func (a *app) handleKeyRestrict(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	id := r.PathValue("id")
	opts, spec := readKeyOptions(r.PostForm, false)
	delete(opts.Errors, "expires")
	if len(opts.Errors) == 0 {
		k, err := a.svc.RestrictKey(r.Context(), actor(r), id, spec.Scopes, spec.AllowedIPs)
		switch {
		case err == nil:
			redirectWith(w, r, "/settings/api/keys/"+k.ID, "success", k.Name+" now has "+accessSummary(k)+". Requests are checked against them from the next one on.")
			return
		case snapglyph.ErrorKind(err) == snapglyph.ECONFLICT:
			a.keyActionError(w, r, err)
			return
		case snapglyph.ErrorKind(err) != snapglyph.EINVALID:
			a.keyNotFound(w, r, err)
			return
		}
		opts.Errors["allowed_ips"] = sentence(snapglyph.ErrorMessage(err))
	}
	p, err := a.keyPageData(w, r, id)
	if err != nil {
		a.keyNotFound(w, r, err)
		return
	}
	p.Restrict = opts
	a.render(w, r, http.StatusUnprocessableEntity, "key.html", p)
}

// accessSummary is a key's permissions and allowlist in a few words.
func accessSummary(k *snapglyph.APIKey) string {
	s := "full access"
	if !k.Scopes.Full() {
		s = "the permissions " + k.Scopes.Label()
	}
	if len(k.AllowedIPs) > 0 {
		return s + " from " + strings.ReplaceAll(snapglyph.FormatAllowedIPs(k.AllowedIPs), ",", ", ") + " only"
	}
	return s + " from every address"
}

// handleKeyRollConfirm draws the roll dialog over the key's page.
func (a *app) handleKeyRollConfirm(w http.ResponseWriter, r *http.Request) {
	p, err := a.keyPageData(w, r, r.PathValue("id"))
	if err != nil {
		a.keyNotFound(w, r, err)
		return
	}
	if p.Key.Revoked() || p.Key.ReplacedBy != "" {
		redirectWith(w, r, "/settings/api/keys/"+p.Key.ID, "error", "This key cannot be rolled: it is revoked or was rolled already.")
		return
	}
	p.Roll = true
	a.render(w, r, http.StatusOK, "key.html", p)
}

// handleKeyRoll rolls a key and redirects to the new key's one-time
// reveal, over the API Settings list where the two keys are shown
// together. A
// form sent again cannot roll twice: the old key is rolled already
// (409), and the new key is never shown again.
func (a *app) handleKeyRoll(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	id := r.PathValue("id")
	overlap, err := time.ParseDuration(r.PostForm.Get("overlap"))
	valid := false
	for _, d := range snapglyph.RollOverlaps {
		valid = valid || d == overlap
	}
	if err != nil || !valid {
		a.renderError(w, r, http.StatusUnprocessableEntity, "Please check your input", "Choose one of the offered overlaps: now, 1 hour, 24 hours or 7 days.")
		return
	}
	rk, err := a.svc.RollKey(r.Context(), actor(r), id, overlap)
	if err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.ECONFLICT {
			redirectWith(w, r, "/settings/api/keys/"+url.PathEscape(id), "error", sentence(snapglyph.ErrorMessage(err)))
			return
		}
		a.keyNotFound(w, r, err)
		return
	}
	a.redirectToReveal(w, r, rk.NewKey, rk.Old.ID)
}

// usageChart draws a month's calls and image credits per day as an SVG
// bar chart: two bars a day on one scale each (calls on the left axis,
// credits on the right), labelled every few days, each bar with a
// <title> for its exact figures. It is drawn here, from numbers only, so
// no script or chart library is needed and nothing a client sent reaches
// the markup.
func usageChart(days []service.DayCounts) template.HTML {
	const (
		width, height          = 720, 220
		left, right, top, foot = 48, 48, 12, 28
	)
	plotW, plotH := float64(width-left-right), float64(height-top-foot)
	var maxCalls, maxCredits int64
	for _, d := range days {
		maxCalls, maxCredits = max(maxCalls, d.APICalls), max(maxCredits, d.ImageCredits)
	}
	callsTop, creditsTop := niceCeil(maxCalls), niceCeil(maxCredits)
	n := max(len(days), 1)
	slot := plotW / float64(n)
	bar := max(slot*0.36, 1)
	var b strings.Builder
	var totalCalls, totalCredits int64
	for _, d := range days {
		totalCalls += d.APICalls
		totalCredits += d.ImageCredits
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="100%%" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg">`, width, height)
	fmt.Fprintf(&b, `<title id="chart-title">API calls (%s in all) and image credits (%s in all) per day this month</title>`, snapglyph.FormatCount(totalCalls), snapglyph.FormatCount(totalCredits))
	// Grid and axes: 0, half and top of each scale.
	for i, frac := range []float64{0, 0.5, 1} {
		y := float64(top) + plotH*(1-frac)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e7eb"/>`, left, y, width-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11" fill="#4f46e5">%s</text>`, left-6, y+4, snapglyph.FormatCount(callsTop*int64(i)/2))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" fill="#b45309">%s</text>`, width-right+6, y+4, snapglyph.FormatCount(creditsTop*int64(i)/2))
	}
	every := 1
	if n > 16 {
		every = 5
	} else if n > 8 {
		every = 2
	}
	for i, d := range days {
		x := float64(left) + slot*float64(i) + (slot-2*bar)/2
		label := d.Day.Format("2 Jan")
		hc := plotH * float64(d.APICalls) / float64(callsTop)
		hi := plotH * float64(d.ImageCredits) / float64(creditsTop)
		fmt.Fprintf(&b, `<rect class="bar-calls" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#4f46e5"><title>%s: %s API calls</title></rect>`,
			x, float64(top)+plotH-hc, bar, hc, label, snapglyph.FormatCount(d.APICalls))
		fmt.Fprintf(&b, `<rect class="bar-credits" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#d97706"><title>%s: %s image credits</title></rect>`,
			x+bar, float64(top)+plotH-hi, bar, hi, label, snapglyph.FormatCount(d.ImageCredits))
		if i%every == 0 || i == len(days)-1 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="#6b7280">%s</text>`, x+bar, height-8, strconv.Itoa(d.Day.Day()))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds a chart's top up to 2, 4 or 10 times a power of ten
// (at least 2), so the axis's middle label is a whole number too.
func niceCeil(v int64) int64 {
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{2, 4, 10} {
			if m*p >= v {
				return m * p
			}
		}
	}
}
