package web

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/service"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// maxFormBytes bounds a dashboard form body.
const maxFormBytes = 64 << 10

// listFields are the fields a form sends once per ticked box.
var listFields = map[string]bool{"scope": true, "event": true, "topic": true}

// repeatedField returns a field of v given more than once that is not a
// list, or "".
func repeatedField(v url.Values) string {
	for _, name := range slices.Sorted(maps.Keys(v)) {
		if len(v[name]) > 1 && !listFields[name] {
			return name
		}
	}
	return ""
}

// unknownField returns a field of v for which has is false, or "".
func unknownField(v url.Values, has func(name string) bool) string {
	for _, name := range slices.Sorted(maps.Keys(v)) {
		if !has(name) {
			return name
		}
	}
	return ""
}

// fieldsProblem says why the fields of a form as sent (v) cannot be
// taken, or returns "": a field sent twice (but the lists of checkboxes,
// listFields), since which of the two was meant cannot be told; or a
// field for which has is false, one the form does not have, since what it
// asks for would be dropped without a word. The field is named, quoted
// and shortened.
func fieldsProblem(v url.Values, has func(name string) bool) string {
	if f := repeatedField(v); f != "" {
		return "The form sends the field " + strconv.Quote(snapglyph.Shorten(f, 40)) + " more than once; send it once."
	}
	if f := unknownField(v, has); f != "" {
		return "This form has no field " + strconv.Quote(snapglyph.Shorten(f, 40)) + "; send only its own fields."
	}
	return ""
}

// readForm reads a posted form of at most maxFormBytes whose fields are
// fields (none for a form that is only a button). It refuses a form
// that cannot be read, saying why (formProblem); one that sends a field
// twice (but the lists of checkboxes, listFields): which of the two was
// meant cannot be told, and taking the first would act on what the
// sender may not have meant; and one that sends a field the form does
// not have: what it asks for would be dropped without a word. It then
// answers 400 (413 for a form too large), naming the field, and returns
// false. A body that is not urlencoded (multipart, JSON) is refused with
// 415: ParseForm would read none of its fields, and the handler would act
// on an empty form.
func (a *app) readForm(w http.ResponseWriter, r *http.Request, fields ...string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	status, title, msg := http.StatusBadRequest, "Bad request", ""
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.ContentLength != 0 && mt != "application/x-www-form-urlencoded" {
		status, title = http.StatusUnsupportedMediaType, "The form could not be read"
		msg = "The form could not be read: send it as a browser sends this form (application/x-www-form-urlencoded)."
	} else if err := r.ParseForm(); err != nil {
		msg = formProblem(err)
		if errors.As(err, new(*http.MaxBytesError)) {
			status, title = http.StatusRequestEntityTooLarge, "The form is too large"
		}
	} else if msg = fieldsProblem(r.PostForm, func(name string) bool { return slices.Contains(fields, name) }); msg == "" {
		return true
	}
	a.renderError(w, r, status, title, msg)
	return false
}

// formProblem says, in a sentence, why a form body could not be parsed:
// what the parser (net/http, net/url) refused. Text that is not UTF-8
// never gets here: the inputMux refuses it first, naming the field.
func formProblem(err error) string {
	var tooBig *http.MaxBytesError
	var escape url.EscapeError
	var fields formFieldsError
	switch {
	case errors.As(err, &fields):
		return string(fields)
	case errors.As(err, &tooBig):
		return fmt.Sprintf("The form is larger than %d KiB, the most a form here may be. Shorten what you entered and try again.", tooBig.Limit>>10)
	case errors.Is(err, errFormTooLarge):
		return fmt.Sprintf("The form is larger than %d MiB, the most a form here may be.", maxQRFormBytes>>20)
	case errors.As(err, &escape):
		return "The form has a % that does not begin an encoded character (such as %20); a % itself must be sent encoded, as %25."
	case strings.Contains(err.Error(), "semicolon"):
		// net/url's "invalid semicolon separator in query" has no type.
		return "The form has a ; between its fields; a semicolon must be sent encoded, as %3B."
	}
	return "The form could not be read: send it as a browser does (application/x-www-form-urlencoded, or multipart/form-data where a file is sent)."
}

// formFieldsError is a form whose fields cannot be taken as sent (read
// where readForm is not: the QR-code form); it is fieldsProblem's
// sentence.
type formFieldsError string

func (e formFieldsError) Error() string { return string(e) }

// setRetryAfter sets Retry-After for an attempt refused by a throttle (a
// *service.ThrottledError), in whole seconds.
func setRetryAfter(w http.ResponseWriter, err error) {
	var te *service.ThrottledError
	if errors.As(err, &te) {
		w.Header().Set("Retry-After", strconv.Itoa(int((te.RetryAfter+time.Second-1)/time.Second)))
	}
}

type signinPage struct {
	base
	Email string
	Next  string
	Error string
}

func (a *app) handleSigninForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if sessionFrom(r.Context()) != nil {
		if next == "" {
			next = "/qr-codes"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	b, _ := a.newBase(w, r, "Sign in", "")
	a.render(w, r, http.StatusOK, "signin.html", &signinPage{base: b, Next: next})
}

func (a *app) handleSignin(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "email", "password", "next") {
		return
	}
	email, next := r.PostForm.Get("email"), safeNext(r.PostForm.Get("next"))
	ns, err := a.svc.SignIn(r.Context(), email, r.PostForm.Get("password"), client(r), sessionToken(r))
	if err != nil {
		status := statusOf(err)
		switch status {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		default:
			a.fail(w, r, err)
			return
		}
		var te *service.ThrottledError
		if errors.As(err, &te) {
			w.Header().Set("Retry-After", strconv.Itoa(int((te.RetryAfter+time.Second-1)/time.Second)))
		}
		b := base{Title: "Sign in", Signup: a.signup}
		a.render(w, r, status, "signin.html", &signinPage{base: b, Email: email, Next: next, Error: sentence(snapglyph.ErrorMessage(err))})
		return
	}
	a.setSessionCookie(w, r, ns)
	if next == "" {
		next = "/qr-codes"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

type signupPage struct {
	base
	Closed  bool
	Name    string
	OrgName string
	Email   string
	Errors  map[string]string
	Error   string
}

func (a *app) handleSignupForm(w http.ResponseWriter, r *http.Request) {
	if sessionFrom(r.Context()) != nil {
		http.Redirect(w, r, "/qr-codes", http.StatusSeeOther)
		return
	}
	b, _ := a.newBase(w, r, "Create your account", "")
	status := http.StatusOK
	if !a.signup {
		status = http.StatusForbidden
	}
	a.render(w, r, status, "signup.html", &signupPage{base: b, Closed: !a.signup})
}

func (a *app) handleSignup(w http.ResponseWriter, r *http.Request) {
	b := base{Title: "Create your account", Signup: a.signup}
	if !a.signup {
		a.render(w, r, http.StatusForbidden, "signup.html", &signupPage{base: b, Closed: true})
		return
	}
	if !a.readForm(w, r, "name", "org", "email", "password") {
		return
	}
	in := service.SignUp{Name: r.PostForm.Get("name"), OrgName: r.PostForm.Get("org"), Email: r.PostForm.Get("email"), Password: r.PostForm.Get("password")}
	ns, err := a.svc.SignUp(r.Context(), in, client(r))
	if err != nil {
		switch snapglyph.ErrorKind(err) {
		case snapglyph.EINVALID, snapglyph.ECONFLICT:
			p := &signupPage{base: b, Name: in.Name, OrgName: in.OrgName, Email: in.Email, Errors: fieldErrors(err)}
			if snapglyph.ErrorCode(err) == "account_exists" {
				p.Errors["email"] = "An account with this email already exists. Sign in instead, or use another email."
			}
			a.render(w, r, statusOf(err), "signup.html", p)
		case snapglyph.ERATELIMIT:
			var te *service.ThrottledError
			if errors.As(err, &te) {
				w.Header().Set("Retry-After", strconv.Itoa(int((te.RetryAfter+time.Second-1)/time.Second)))
			}
			p := &signupPage{base: b, Name: in.Name, OrgName: in.OrgName, Email: in.Email, Error: sentence(snapglyph.ErrorMessage(err))}
			a.render(w, r, http.StatusTooManyRequests, "signup.html", p)
		default:
			a.fail(w, r, err)
		}
		return
	}
	a.setSessionCookie(w, r, ns)
	redirectWith(w, r, "/qr-codes", "success", "Welcome to SnapGlyph! Your organisation is on a 14-day trial of the Pro plan.")
}

func (a *app) handleSignoutForm(w http.ResponseWriter, r *http.Request) {
	if sessionFrom(r.Context()) == nil {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	b, _ := a.newBase(w, r, "Sign out", "")
	a.render(w, r, http.StatusOK, "signout.html", &struct{ base }{b})
}

func (a *app) handleSignout(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	if err := a.svc.SignOut(r.Context(), sessionToken(r)); err != nil {
		a.fail(w, r, err)
		return
	}
	clearSessionCookie(w, r)
	redirectWith(w, r, "/signin", "success", "You have signed out.")
}

// invitePage is an invitation's page. Whoever is not signed in as the
// invitee sees the same page whether or not the invited email has an
// account (the inviter holds the link too and could probe addresses with
// it): sign in to accept, or create the account.
type invitePage struct {
	base
	Token    string
	Inv      *snapglyph.Invitation
	Mine     bool // signed in as the invited email: one click
	Other    bool // signed in as someone else
	Existing bool // the sign-in form was the one sent (its errors show there)
	Name     string
	Errors   map[string]string
	Error    string
	Expires  time.Time
}

func (a *app) handleInvite(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	inv, _, err := a.svc.Invitation(r.Context(), token)
	if err != nil {
		a.invitationError(w, r, err)
		return
	}
	b, _ := a.newBase(w, r, "Join "+inv.OrgName, "")
	a.render(w, r, http.StatusOK, "invite.html", a.invitePage(b, token, inv))
}

func (a *app) invitePage(b base, token string, inv *snapglyph.Invitation) *invitePage {
	p := &invitePage{base: b, Token: token, Inv: inv, Errors: map[string]string{}}
	if b.User != nil {
		p.Mine = b.User.Email == inv.Email
		p.Other = !p.Mine
	}
	return p
}

// invitationError draws the page for a link that cannot be used: 404 if
// unknown, 410 if expired, cancelled or already used.
func (a *app) invitationError(w http.ResponseWriter, r *http.Request, err error) {
	switch snapglyph.ErrorCode(err) {
	case "invitation_expired", "invitation_cancelled", "invitation_used":
		a.renderError(w, r, http.StatusGone, "This invitation can no longer be used", sentence(snapglyph.ErrorMessage(err)))
		return
	}
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		a.renderError(w, r, http.StatusNotFound, "Invitation not found", sentence(snapglyph.ErrorMessage(err)))
		return
	}
	a.fail(w, r, err)
}

func (a *app) handleInviteAccept(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if !a.readForm(w, r, "account", "name", "password") {
		return
	}
	in := service.Accept{Name: r.PostForm.Get("name"), Password: r.PostForm.Get("password"), Existing: r.PostForm.Get("account") == "existing"}
	if s := sessionFrom(r.Context()); s != nil {
		in.Session, in.Token = s.Session, s.Token
	}
	ns, err := a.svc.AcceptInvitation(r.Context(), token, in, client(r))
	if err != nil {
		inv, _, ierr := a.svc.Invitation(r.Context(), token)
		if ierr != nil {
			a.invitationError(w, r, ierr)
			return
		}
		switch snapglyph.ErrorKind(err) {
		case snapglyph.EINVALID, snapglyph.EUNAUTHORIZED, snapglyph.ERATELIMIT, snapglyph.ECONFLICT, snapglyph.EFORBIDDEN:
			setRetryAfter(w, err)
			b := base{Title: "Join " + inv.OrgName, User: sessionFrom(r.Context()), Signup: a.signup}
			p := a.invitePage(b, token, inv)
			p.Existing = in.Existing
			p.Name, p.Errors, p.Error = in.Name, fieldErrors(err), sentence(snapglyph.ErrorMessage(err))
			if snapglyph.ErrorCode(err) == "account_exists" {
				p.Error = "An account with this email already exists. Sign in with it below to accept the invitation."
			}
			if len(p.Errors) > 0 {
				p.Error = ""
			}
			a.render(w, r, statusOf(err), "invite.html", p)
		default:
			a.fail(w, r, err)
		}
		return
	}
	a.setSessionCookie(w, r, ns)
	org, err := a.svc.SessionOrg(r.Context(), ns.Session)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	redirectWith(w, r, "/qr-codes", "success", "Welcome to "+org.Name+"! You joined as "+snapglyph.RoleName(ns.Role)+".")
}

// handlePasswordChange changes the signed-in person's password: the
// current one is checked as a sign-in checks it, every other session
// ends, and this one goes on with a new token.
func (a *app) handlePasswordChange(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "current_password", "new_password") {
		return
	}
	s := sessionFrom(r.Context())
	ch, err := a.svc.ChangePassword(r.Context(), s.Session, s.Token, r.PostForm.Get("current_password"), r.PostForm.Get("new_password"), client(r))
	if err != nil {
		switch snapglyph.ErrorKind(err) {
		case snapglyph.EINVALID, snapglyph.EUNAUTHORIZED, snapglyph.ERATELIMIT:
			setRetryAfter(w, err)
			p, perr := a.profileData(w, r)
			if perr != nil {
				a.fail(w, r, perr)
				return
			}
			p.Password.Errors = fieldErrors(err)
			if len(p.Password.Errors) == 0 {
				p.Password.Error = sentence(snapglyph.ErrorMessage(err))
			}
			// 401 would read as "sign in"; the person is signed in and
			// typed a wrong current password: the form is refused.
			status := statusOf(err)
			if status == http.StatusUnauthorized {
				status = http.StatusUnprocessableEntity
			}
			a.render(w, r, status, "profile.html", p)
		default:
			a.fail(w, r, err)
		}
		return
	}
	a.setSessionCookie(w, r, ch.NewSession)
	msg := "Your password is changed."
	if ch.Ended > 0 {
		msg += " You were signed out of " + snapglyph.Plural(int64(ch.Ended), "other session") + "."
	}
	redirectWith(w, r, "/settings/profile", "success", msg)
}

// handleSignOutOthers ends every session of the signed-in person but this
// one ("sign out everywhere else"), or, when the form names one of the
// person's sessions (its reference, from the profile's list), that one
// session.
func (a *app) handleSignOutOthers(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "session") {
		return
	}
	if r.PostForm.Has("session") {
		a.endSession(w, r, r.PostForm.Get("session"))
		return
	}
	n, err := a.svc.SignOutOthers(r.Context(), sessionFrom(r.Context()).Session)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	msg := "You were signed out of " + snapglyph.Plural(int64(n), "other session") + "; this one goes on."
	if n == 0 {
		msg = "You were signed in nowhere else; this session goes on."
	}
	redirectWith(w, r, "/settings/profile#session", "success", msg)
}

// endSession ends one other session of the signed-in person, named by
// its reference, and says which it was. One that is not the person's, or
// has already ended, is refused with a message and nothing changes.
func (a *app) endSession(w http.ResponseWriter, r *http.Request, ref string) {
	ended, err := a.svc.EndSession(r.Context(), sessionFrom(r.Context()).Session, ref)
	if err != nil {
		switch snapglyph.ErrorKind(err) {
		case snapglyph.EINVALID, snapglyph.ENOTFOUND:
			redirectWith(w, r, "/settings/profile#sessions", "error", sentence(snapglyph.ErrorMessage(err)))
		default:
			a.fail(w, r, err)
		}
		return
	}
	// The flash holds at most 500 bytes: the organisation's name and the
	// address are shortened (the device is one of a few fixed words).
	msg := "You signed out the session on " + ended.Device() + " in " + snapglyph.Shorten(ended.OrgName, 60)
	if ended.IP != "" {
		msg += " from " + snapglyph.Shorten(ended.IP, 45)
	}
	msg += ", last seen " + ended.LastSeenAt.UTC().Format("2 Jan 2006, 15:04 UTC") + ". It has ended; this session goes on."
	redirectWith(w, r, "/settings/profile#sessions", "success", msg)
}
