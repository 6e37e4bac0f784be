package web

import (
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// webhooksPage is the Webhooks page (Owners and Admins; Max plan): the
// endpoints and the form that adds one, or one endpoint with its delivery
// log. A signing secret (a new endpoint's, or a rotated one) is shown
// once, on the page the form's redirect leads to (the one-time reveal the
// API keys use): it is never put in a URL, a redirect, a cookie or a log.
type webhooksPage struct {
	base
	HasWebhooks bool
	Webhooks    []*snapglyph.Webhook
	Events      []string
	// The form, redrawn with what was sent and every reason it was
	// refused, each with its field: the URL's and the events' together.
	URL         string
	Chosen      map[string]bool
	URLError    string
	EventsError string
	Nonce       string // the form's one-time value: sent twice, it adds one endpoint
	// One endpoint: its page.
	Webhook  *snapglyph.Webhook
	Attempts []*snapglyph.WebhookAttempt
	// The endpoint's one-time secret reveal: Secret is set the first
	// time (shown once); Shown on a reload, Back or a later visit, which
	// say calmly that it cannot be shown again (Replaced: it was rotated
	// again since). Rotated: a rotation, not a new endpoint.
	Secret   string
	Shown    bool
	Replaced bool
	Rotated  bool
	// Delete draws the confirmation that names the endpoint.
	Delete bool
}

func (a *app) webhooksPage(w http.ResponseWriter, r *http.Request) (*webhooksPage, error) {
	b, err := a.newBase(w, r, "Webhooks", "webhooks")
	if err != nil {
		return nil, err
	}
	p := &webhooksPage{base: b, Events: snapglyph.WebhookEvents, Chosen: map[string]bool{}, Nonce: newNonce()}
	if p.HasWebhooks, err = a.svc.HasWebhooks(r.Context(), b.Org.ID); err != nil {
		return nil, err
	}
	if p.Webhooks, err = a.svc.ListWebhooks(r.Context(), actor(r), b.Org.ID); err != nil {
		return nil, err
	}
	return p, nil
}

func (a *app) handleWebhooks(w http.ResponseWriter, r *http.Request) {
	p, err := a.webhooksPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "webhooks.html", p)
}

// handleWebhookCreate adds an endpoint and redirects to its secret's
// one-time reveal (POST-redirect-GET: a reload or Back never posts the
// form again).
func (a *app) handleWebhookCreate(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "nonce", "url", "event") {
		return
	}
	s := sessionFrom(r.Context())
	url, events, nonce := r.PostForm.Get("url"), r.PostForm["event"], r.PostForm.Get("nonce")
	wh, err := a.svc.CreateWebhookOnce(r.Context(), actor(r), s.OrgID, url, events, nonce)
	if snapglyph.ErrorCode(err) == "webhook_already_created" {
		redirectWith(w, r, "/settings/webhooks", "error",
			"That form already created its endpoint, and a signing secret is shown only once. If you did not copy it, rotate the secret on the endpoint's page.")
		return
	}
	if err != nil && snapglyph.ErrorKind(err) != snapglyph.EINVALID {
		a.fail(w, r, err)
		return
	}
	if err == nil {
		a.redirectToWebhookSecret(w, r, wh, false)
		return
	}
	p, perr := a.webhooksPage(w, r)
	if perr != nil {
		a.fail(w, r, perr)
		return
	}
	p.URL = snapglyph.Storable(url, snapglyph.MaxWebhookURL)
	// The service stops at the first problem, the events before the URL:
	// when the events are wrong the URL is checked too (as the service
	// would: its form, then its host), so one round trip reports both.
	p.URLError = sentence(snapglyph.ErrorMessage(err))
	if _, everr := snapglyph.ParseWebhookEvents(events); everr != nil {
		p.EventsError, p.URLError = p.URLError, ""
		if uerr := a.svc.Webhooks.CheckURL(r.Context(), url); uerr != nil && snapglyph.ErrorKind(uerr) == snapglyph.EINVALID {
			p.URLError = sentence(snapglyph.ErrorMessage(uerr))
		}
	}
	if len(nonce) <= 64 { // readForm refused any value that is not text
		p.Nonce = nonce // the same form, sent again once corrected
	}
	for _, e := range events {
		p.Chosen[e] = true
	}
	a.render(w, r, http.StatusUnprocessableEntity, "webhooks.html", p)
}

// redirectToWebhookSecret holds an endpoint's new signing secret for one
// showing (sealed with the session's token, as a new API key is) and
// sends the browser to the page that shows it. The address names the
// reveal, not the secret.
func (a *app) redirectToWebhookSecret(w http.ResponseWriter, r *http.Request, wh *snapglyph.Webhook, rotated bool) {
	s := sessionFrom(r.Context())
	id, err := a.svc.HoldWebhookSecretReveal(r.Context(), s.Session, s.Token, wh, rotated)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/webhooks/"+neturl.PathEscape(wh.ID)+"/secret/"+neturl.PathEscape(id), http.StatusSeeOther)
}

// handleWebhookReveal shows an endpoint's page with its new signing
// secret, once; a reload, Back or later visit names the endpoint and says
// the secret cannot be shown again. Another session gets 404.
func (a *app) handleWebhookReveal(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	rv, err := a.svc.TakeWebhookSecretReveal(r.Context(), actor(r), s.Session, s.Token, r.PathValue("id"), r.PathValue("reveal"))
	if err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
			a.renderError(w, r, http.StatusNotFound, "Nothing to show here",
				"This address showed a webhook signing secret once, to the session that made it; the endpoint may have been deleted since. Your endpoints are listed in Webhooks.")
			return
		}
		a.fail(w, r, err)
		return
	}
	p, err := a.webhookPage(w, r, rv.Webhook.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p.Secret, p.Shown, p.Replaced, p.Rotated = rv.Secret, rv.Secret == "", rv.Replaced, rv.Rotated
	a.render(w, r, http.StatusOK, "webhook.html", p)
}

// handleWebhook is one endpoint's page: its settings, actions and log.
func (a *app) handleWebhook(w http.ResponseWriter, r *http.Request) {
	p, err := a.webhookPage(w, r, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "webhook.html", p)
}

// handleWebhookDeleteConfirm draws the endpoint's page with the delete
// confirmation open (the link the Delete button is, without JavaScript).
func (a *app) handleWebhookDeleteConfirm(w http.ResponseWriter, r *http.Request) {
	p, err := a.webhookPage(w, r, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p.Delete = true
	a.render(w, r, http.StatusOK, "webhook.html", p)
}

// webhookPage gathers one endpoint's page.
func (a *app) webhookPage(w http.ResponseWriter, r *http.Request, id string) (*webhooksPage, error) {
	p, err := a.webhooksPage(w, r)
	if err != nil {
		return nil, err
	}
	if p.Webhook, err = a.svc.Webhook(r.Context(), actor(r), p.Org.ID, id); err != nil {
		return nil, err
	}
	if p.Attempts, err = a.svc.WebhookAttempts(r.Context(), actor(r), p.Org.ID, id, 0, 100); err != nil {
		return nil, err
	}
	p.Title = "Webhook " + p.Webhook.URL
	return p, nil
}

// handleWebhookAction carries out a button of an endpoint's page.
func (a *app) handleWebhookAction(action string) http.HandlerFunc {
	var fields []string // a button; resend names the delivery's event
	if action == "resend" {
		fields = []string{"event"}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.readForm(w, r, fields...) {
			return
		}
		s := sessionFrom(r.Context())
		id := r.PathValue("id")
		page := "/settings/webhooks/" + neturl.PathEscape(id)
		var err error
		var done string
		switch action {
		case "rotate":
			var wh *snapglyph.Webhook
			if wh, err = a.svc.RotateWebhookSecret(r.Context(), actor(r), s.OrgID, id); err == nil {
				a.redirectToWebhookSecret(w, r, wh, true)
				return
			}
		case "enable":
			_, err = a.svc.EnableWebhook(r.Context(), actor(r), s.OrgID, id)
			done = "The endpoint is enabled: new events are sent to it. Events that failed before it was disabled can be resent from its log; those that happened while it was disabled are not sent."
		case "delete":
			var wh *snapglyph.Webhook
			if wh, err = a.svc.DeleteWebhook(r.Context(), actor(r), s.OrgID, id); err == nil {
				redirectWith(w, r, "/settings/webhooks", "success", "The endpoint "+wh.URL+" is deleted.")
				return
			}
		case "resend":
			ev, perr := strconv.ParseInt(strings.TrimSpace(r.PostForm.Get("event")), 10, 64)
			if perr != nil || ev <= 0 {
				err = snapglyph.Errorf(snapglyph.EINVALID, "choose a delivery of the log to resend")
			} else {
				err = a.svc.ResendWebhook(r.Context(), actor(r), s.OrgID, id, ev)
			}
			done = "The event is sent again; its attempts appear in the log."
		}
		switch snapglyph.ErrorKind(err) {
		case "":
			redirectWith(w, r, page, "success", done)
		case snapglyph.EINVALID, snapglyph.ECONFLICT:
			redirectWith(w, r, page, "error", sentence(snapglyph.ErrorMessage(err)))
		default:
			a.fail(w, r, err)
		}
	}
}
