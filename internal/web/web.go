// Package web is SnapGlyph's dashboard: server-rendered pages for signing
// up and in, API keys, members, the subscription and the audit log. Every
// rule (roles, plans, seats, throttling, session lifetimes) is the
// service's; this package asks it and shows the answer.
//
// Choices:
//
//   - No JavaScript is needed. A dialog is a page of its own drawn with
//     the dialog open (GET /settings/api/keys/new, …/{id}/revoke,
//     /settings/company/invite, …/members/{id}/remove), reached by a link;
//     every action is a plain form post answered with 303 and a one-line
//     flash message. static/app.js only adds the copy buttons, makes those
//     dialogs modal (focus kept inside, Escape closes), and gives the
//     QR-code form its live preview (the one feature that needs it).
//   - Secrets shown once are never in a URL, a redirect, a cookie or a
//     log, and every page has Cache-Control: no-store. An invitation link
//     is drawn in the response to the post that creates it. A new API key
//     is shown after a redirect (POST-redirect-GET, so Back and reload are
//     calm): the post seals it in the database under a key derived from
//     the session's cookie token (which the database does not hold), and
//     the page it redirects to opens it once, on whichever node serves
//     it; later visits say which key was created, without its value.
//   - Sessions live in the database, found by the SHA-256 of a 256-bit
//     cookie token (HttpOnly, SameSite=Lax; Secure and __Host- on a
//     secure request: TLS, a trusted proxy's X-Forwarded-Proto: https, or
//     an https public URL, which also turn on Strict-Transport-Security).
//     Each sign-in issues a new token and ends the browser's old session;
//     sessions end after 12 idle hours, 7 days after sign-in, at sign-out,
//     and when the user leaves the organisation.
//   - Cross-site posts are refused by http.CrossOriginProtection
//     (Sec-Fetch-Site, else Origin against Host); every response carries a
//     Content-Security-Policy without inline script or style.
package web

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
	"github.com/snapglyph/snapglyph/internal/usage"
)

// Deps are what the dashboard is built from.
type Deps struct {
	Service  *service.Service
	Recorder *usage.Recorder // optional: usage not yet flushed is added to the usage card
	Log      *slog.Logger    // optional
	Signup   bool            // false: sign-up is closed (only invitations and the CLI create accounts)
	// PublicURL, if set, is where users reach the dashboard (behind a
	// proxy that terminates TLS): invitation links are made under it, and
	// if it is https every response is treated as secure (Secure
	// __Host- cookies, Strict-Transport-Security).
	PublicURL string
	// MailOn says mail is configured (the profile's mail preferences
	// say so when it is not).
	MailOn bool
	Now    func() time.Time
}

// app holds what the handlers need.
type app struct {
	svc       *service.Service
	rec       *usage.Recorder
	log       *slog.Logger
	signup    bool
	publicURL string
	// publicHTTPS: the public URL is https, so every request is secure
	// (TLS ends at a proxy in front of us).
	publicHTTPS bool
	mailOn      bool
	now         func() time.Time

	pages  map[string]*page
	assets map[string]string // "app.css" → "/static/app.css?v=…"
}

// New returns the dashboard's handler. It serves "/", "/signup",
// "/signin", "/signout", "/invite/{token}", "/qr-codes", "/settings/…" and
// "/static/…"; the caller routes "/api/" and health checks elsewhere.
// Templates are parsed here, once.
func New(d Deps) (http.Handler, error) {
	if d.Service == nil {
		return nil, errors.New("web: Deps.Service is required")
	}
	a := &app{svc: d.Service, rec: d.Recorder, log: d.Log, signup: d.Signup, publicURL: d.PublicURL, now: d.Now, mailOn: d.MailOn,
		publicHTTPS: strings.HasPrefix(strings.ToLower(d.PublicURL), "https://")}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.now == nil {
		a.now = d.Service.Now
	}
	if err := a.parse(); err != nil {
		return nil, err
	}
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(a.crossOrigin))
	return a.markSecure(securityHeaders(csrf.Handler(a.loadSession(a.routes())))), nil
}

func (a *app) routes() http.Handler {
	mux := a.newInputMux()
	mux.Handle("GET /static/", a.static())
	mux.HandleFunc("GET /{$}", a.handleHome)

	mux.HandleFunc("GET /signup", a.handleSignupForm)
	mux.HandleFunc("POST /signup", a.handleSignup)
	mux.HandleFunc("GET /signin", a.handleSigninForm)
	mux.HandleFunc("POST /signin", a.handleSignin)
	mux.HandleFunc("GET /signout", a.handleSignoutForm)
	mux.HandleFunc("POST /signout", a.handleSignout)
	mux.HandleFunc("GET /invite/{token}", a.handleInvite)
	mux.HandleFunc("POST /invite/{token}", a.handleInviteAccept)

	// Pages for signed-in users. Role checks here only decide what is
	// shown; the service enforces every rule again.
	user := a.signedIn
	team := a.roles(snapglyph.RoleOwner, snapglyph.RoleAdmin)
	owner := a.roles(snapglyph.RoleOwner)
	mux.Handle("GET /qr-codes", user(a.handleQRCodes))
	mux.Handle("GET /qr-codes/new", user(a.handleQRNew))
	mux.Handle("POST /qr-codes/new", user(a.handleQRCreate))
	mux.Handle("GET /qr-codes/preview", user(a.handleQRPreview))
	mux.Handle("POST /qr-codes/preview", user(a.handleQRPreview))
	mux.Handle("GET /qr-codes/{id}", user(a.handleQRCode))
	mux.Handle("GET /qr-codes/{id}/edit", user(a.handleQREdit))
	mux.Handle("POST /qr-codes/{id}/edit", user(a.handleQRUpdate))
	mux.Handle("GET /qr-codes/{id}/image.svg", user(a.handleQRImage("svg")))
	mux.Handle("GET /qr-codes/{id}/image.png", user(a.handleQRImage("png")))
	mux.Handle("GET /qr-codes/{id}/delete", user(a.handleQRDeleteConfirm))
	mux.Handle("POST /qr-codes/{id}/delete", user(a.handleQRDelete))
	mux.Handle("GET /settings/{$}", user(a.handleSettings))

	mux.Handle("GET /settings/api", team(a.handleAPI))
	mux.Handle("GET /settings/api/keys/new", team(a.handleKeyNew))
	mux.Handle("POST /settings/api/keys", user(a.handleKeyCreate))
	mux.Handle("GET /settings/api/reveal/{id}", team(a.handleKeyReveal))
	mux.Handle("POST /settings/api/keys/{id}/pause", user(a.handleKeyPause))
	mux.Handle("POST /settings/api/keys/{id}/resume", user(a.handleKeyResume))
	mux.Handle("GET /settings/api/keys/{id}/revoke", team(a.handleKeyRevokeConfirm))
	mux.Handle("POST /settings/api/keys/{id}/revoke", user(a.handleKeyRevoke))
	mux.Handle("GET /settings/api/keys/{id}", team(a.handleKeyPage))
	mux.Handle("POST /settings/api/keys/{id}/rename", user(a.handleKeyRename))
	mux.Handle("GET /settings/api/keys/{id}/roll", team(a.handleKeyRollConfirm))
	mux.Handle("POST /settings/api/keys/{id}/roll", user(a.handleKeyRoll))
	mux.Handle("POST /settings/api/keys/{id}/end-overlap", user(a.handleKeyEndOverlap))
	mux.Handle("POST /settings/api/keys/{id}/restrict", user(a.handleKeyRestrict))

	mux.Handle("GET /settings/company", team(a.handleCompany))
	mux.Handle("GET /settings/company/invite", team(a.handleInviteNew))
	mux.Handle("POST /settings/company/invitations", user(a.handleInviteCreate))
	mux.Handle("POST /settings/company/invitations/{id}/cancel", user(a.handleInviteCancel))
	mux.Handle("POST /settings/company/members/{id}/role", user(a.handleRoleChange))
	mux.Handle("GET /settings/company/members/{id}/remove", team(a.handleRemoveConfirm))
	mux.Handle("POST /settings/company/members/{id}/remove", user(a.handleRemove))
	mux.Handle("GET /settings/company/members/{id}/owner", owner(a.handleTransferConfirm))
	mux.Handle("POST /settings/company/members/{id}/owner", user(a.handleTransfer))

	mux.Handle("GET /settings/webhooks", team(a.handleWebhooks))
	mux.Handle("POST /settings/webhooks", user(a.handleWebhookCreate))
	mux.Handle("GET /settings/webhooks/{id}", team(a.handleWebhook))
	mux.Handle("GET /settings/webhooks/{id}/secret/{reveal}", team(a.handleWebhookReveal))
	mux.Handle("GET /settings/webhooks/{id}/delete", team(a.handleWebhookDeleteConfirm))
	mux.Handle("POST /settings/webhooks/{id}/rotate", user(a.handleWebhookAction("rotate")))
	mux.Handle("POST /settings/webhooks/{id}/enable", user(a.handleWebhookAction("enable")))
	mux.Handle("POST /settings/webhooks/{id}/delete", user(a.handleWebhookAction("delete")))
	mux.Handle("POST /settings/webhooks/{id}/resend", user(a.handleWebhookAction("resend")))
	mux.Handle("GET /settings/subscription", owner(a.handleSubscription))
	mux.Handle("GET /settings/subscription/change", owner(a.handleSubscriptionChange))
	mux.Handle("POST /settings/subscription/change", user(a.handlePlanChange))
	mux.Handle("POST /settings/subscription/requests/{id}/cancel", user(a.handlePlanRequestCancel))
	mux.Handle("GET /settings/audit", team(a.handleAudit))
	a.logRoutes(mux, team)
	mux.Handle("GET /settings/profile", user(a.handleProfile))
	mux.Handle("POST /settings/profile/mail", user(a.handleMailPrefs))
	mux.Handle("POST /settings/profile/password", user(a.handlePasswordChange))
	mux.Handle("POST /settings/profile/sessions/end", user(a.handleSignOutOthers))
	mux.Handle("POST /settings/company/leaks", user(a.handleLeakAction))
	mux.Handle("GET /notices", user(a.handleNotices))
	mux.Handle("POST /notices/{id}/read", user(a.handleNoticeRead))
	mux.Handle("POST /notices/read-all", user(a.handleNoticesReadAll))
	mux.Handle("POST /settings/profile/org", user(a.handleSwitchOrg))

	mux.HandleFunc("/", a.handleNotFound)
	return mux
}

func (a *app) handleHome(w http.ResponseWriter, r *http.Request) {
	if sessionFrom(r.Context()) == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/qr-codes", http.StatusSeeOther)
}

func (a *app) handleSettings(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/settings/profile", http.StatusSeeOther)
}

func (a *app) handleNotFound(w http.ResponseWriter, r *http.Request) {
	a.renderError(w, r, http.StatusNotFound, "Page not found", "There is no page at this address. Check the link, or go back to the dashboard.")
}
