package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// keyPage is a key's own page (/settings/api/keys/{id}): its details and
// restrictions, this month's usage by day, where it was used from, the
// QR codes it created, its audit events, and its actions. Roll and Revoke
// are the dialogs drawn open over it.
type keyPage struct {
	base
	Key        *keyRow
	Activity   *service.KeyActivity
	Replaces   *keyRow
	ReplacedBy *keyRow
	CreatedBy  string // who created it, as the audit log names them
	// The month by day: calls and credits, one chart each.
	CallsChart, CreditsChart *chartView
	// The forms, as sent when they come back with an error.
	RenameName, RenameError string
	PauseReason, PauseUntil string
	PauseError              string // the end's ("until")
	PauseReasonError        string
	Roll                    bool
	Overlaps                []overlapChoice
	Revoke                  bool
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
	p.CallsChart, p.CreditsChart = usageCharts(act.Days)
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
	if !a.readForm(w, r, "name") {
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
// fields come back named, with 422. A refusal of the change itself (the
// key has these restrictions already, or is revoked) is said on the key's
// page, where the form is.
func (a *app) handleKeyRestrict(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "access", "scope", "allowed_ips") {
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
			redirectWith(w, r, keyPagePath(id), "error", sentence(snapglyph.ErrorMessage(err)))
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
	if !a.readForm(w, r, "overlap") {
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

// usageCharts draws a month's API calls and image credits per day as two
// bar charts, one scale each (two scales on one chart read as one), with
// the day and month along the time axis and each bar's exact figure in
// its title. They are drawn here, from numbers only, so no script or
// chart library is needed and nothing a client sent reaches the markup.
func usageCharts(days []service.DayCounts) (calls, credits *chartView) {
	labels := make([]string, len(days))
	for i, d := range days {
		labels[i] = d.Day.UTC().Format("2 Jan")
	}
	span := "this month"
	if len(days) > 0 {
		span = labels[0] + " to " + days[len(days)-1].Day.UTC().Format("2 Jan 2006")
	}
	chart := func(id, class, one, many string, count func(service.DayCounts) int64) *chartView {
		v := &chartView{ID: id, Noun: many, Width: chartW, Height: chartH, Unit: "day", Range: span,
			Title: strings.ToUpper(many[:1]) + many[1:] + " per day, " + span}
		bars := make([][]stackPart, len(days))
		var total int64
		for i, d := range days {
			bars[i] = []stackPart{{Class: class, N: count(d)}}
			total += count(d)
		}
		noun := many
		if total == 1 {
			noun = one
		}
		v.Desc = snapglyph.FormatCount(total) + " " + noun + " in all" + busiest(days, count) + "."
		v.place(labels, bars)
		return v
	}
	calls = chart("calls-chart", "bar-calls", "API call", "API calls", func(d service.DayCounts) int64 { return d.APICalls })
	credits = chart("credits-chart", "bar-credits", "image credit", "image credits", func(d service.DayCounts) int64 { return d.ImageCredits })
	return calls, credits
}

// busiest names the day with the most of a count (the first, on a tie),
// for a chart's description: ", most on 15 Nov (12)"; nothing when every
// day has none.
func busiest(days []service.DayCounts, count func(service.DayCounts) int64) string {
	var top service.DayCounts
	var most int64
	for _, d := range days {
		if n := count(d); n > most {
			top, most = d, n
		}
	}
	if most == 0 {
		return ""
	}
	return ", most on " + top.Day.UTC().Format("2 Jan") + " (" + snapglyph.FormatCount(most) + ")"
}

// RevokeDialog is the key page's revoke confirmation, back to its Revoke
// button.
func (p *keyPage) RevokeDialog() revokeDialog {
	return revokeDialog{Key: p.Key, Back: keyPagePath(p.Key.ID) + "#revoke-key"}
}
