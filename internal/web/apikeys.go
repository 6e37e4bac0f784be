package web

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// apiPage is the API Settings page. At most one of Create, Reveal and
// Revoke is set: the dialog drawn open over the page.
type apiPage struct {
	base
	HasAPI     bool
	TrialEnded bool
	Usage      *usageCard
	Keys       []*keyRow
	Create     *createForm
	Reveal     *service.NewKey
	Revoke     *keyRow
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
		m.Note = fmt.Sprintf("%d%% of this month's limit used, %s left", m.Percent, num(limit-used))
	}
	return m
}

type keyRow struct {
	*snapglyph.APIKey
	LastUsed *snapglyph.LastUse // nil: never
}

// Active reports whether the key works (paused keys show as Inactive).
func (k *keyRow) Active() bool { return k.Status == snapglyph.KeyActive }

type createForm struct {
	Name    string
	Hint    string // the generic-name warning
	Confirm bool   // the user saw the warning: create anyway
	Error   string
	// Nonce makes the form create at most one key: sent again (a page
	// refresh re-posts it), it creates nothing.
	Nonce string
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
	keys, err := a.svc.Keys(r.Context(), actor(r), b.Org.ID, false)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		row := &keyRow{APIKey: k}
		if !k.LastUsedAt.IsZero() {
			row.LastUsed = &snapglyph.LastUse{At: k.LastUsedAt, IP: k.LastUsedIP, UserAgent: k.LastUsedUA}
		}
		if a.rec != nil {
			if u, ok := a.rec.PendingLastUse(k.ID); ok && (row.LastUsed == nil || u.At.After(row.LastUsed.At)) {
				row.LastUsed = &u
			}
		}
		p.Keys = append(p.Keys, row)
	}
	if p.HasAPI {
		period, resets := snapglyph.Period(now)
		stored := func() (snapglyph.Counts, error) {
			u, err := a.db.Usage(r.Context(), b.Org.ID, period)
			return u.Used, err
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
	}
	return p, nil
}

func (a *app) findKey(p *apiPage, id string) *keyRow {
	for _, k := range p.Keys {
		if k.ID == id {
			return k
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
	p.Create = &createForm{Nonce: newNonce()}
	a.render(w, r, http.StatusOK, "apikeys.html", p)
}

// handleKeyCreate creates a key and shows it, once, in this response: the
// key is never put in a URL, a redirect, a cookie, a log or the database.
// A generic name ("Key 1", "Test") is not refused, but the first time the
// dialog comes back with a warning and a "Create anyway" button.
func (a *app) handleKeyCreate(w http.ResponseWriter, r *http.Request) {
	if !parseForm(w, r) {
		a.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	s := sessionFrom(r.Context())
	name, confirm := r.PostForm.Get("name"), r.PostForm.Get("confirm") == "generic"
	nonce := r.PostForm.Get("nonce")
	if len(nonce) > 64 {
		nonce = ""
	}
	if hint := snapglyph.KeyNameHint(name); hint != "" && !confirm && s.Role.CanManageKeys() {
		p, err := a.apiPage(w, r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		p.Create = &createForm{Name: name, Hint: sentence(hint), Confirm: true, Nonce: nonce}
		a.render(w, r, http.StatusOK, "apikeys.html", p)
		return
	}
	nk, err := a.svc.CreateKeyOnce(r.Context(), actor(r), s.OrgID, name, nonce)
	if err != nil {
		if snapglyph.ErrorReason(err) == "key_already_created" {
			redirectWith(w, r, "/settings/api", "error",
				"That form already created its key, and a key is shown only once. If you did not copy it, revoke it and create a new one.")
			return
		}
		if snapglyph.ErrorCode(err) == snapglyph.EINVALID {
			p, perr := a.apiPage(w, r)
			if perr != nil {
				a.fail(w, r, perr)
				return
			}
			p.Create = &createForm{Name: name, Error: sentence(snapglyph.ErrorMessage(err)), Nonce: nonce}
			a.render(w, r, http.StatusUnprocessableEntity, "apikeys.html", p)
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
	if nk.Hint != "" {
		nk.Hint = sentence(nk.Hint)
	}
	p.Reveal = nk
	a.render(w, r, http.StatusOK, "apikeys.html", p)
}

func (a *app) handleKeyPause(w http.ResponseWriter, r *http.Request) {
	k, err := a.svc.PauseKey(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		a.keyActionError(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/api", "success", k.Name+" is paused. Requests with it are refused until you resume it.")
}

func (a *app) handleKeyResume(w http.ResponseWriter, r *http.Request) {
	k, err := a.svc.ResumeKey(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		a.keyActionError(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/api", "success", k.Name+" is active again.")
}

func (a *app) handleKeyRevokeConfirm(w http.ResponseWriter, r *http.Request) {
	p, err := a.apiPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	k := a.findKey(p, r.PathValue("id"))
	if k == nil {
		a.renderError(w, r, http.StatusNotFound, "API key not found", "There is no such API key in this organisation; it may have been revoked already.")
		return
	}
	p.Revoke = k
	a.render(w, r, http.StatusOK, "apikeys.html", p)
}

func (a *app) handleKeyRevoke(w http.ResponseWriter, r *http.Request) {
	k, err := a.svc.RevokeKey(r.Context(), actor(r), r.PathValue("id"))
	if err != nil {
		a.keyActionError(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/api", "success", k.Name+" is revoked. Applications still using it now receive 401 Unauthorized.")
}

// keyActionError answers a refused pause, resume or revoke: a conflict
// (already paused, already revoked) goes back to the page with the
// message; anything else is an error page (403 for a Member).
func (a *app) keyActionError(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorCode(err) == snapglyph.ECONFLICT {
		redirectWith(w, r, "/settings/api", "error", sentence(snapglyph.ErrorMessage(err)))
		return
	}
	a.fail(w, r, err)
}
