package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/snapglyph/snapglyph/internal/httpx"
	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is a parsed page template and the shell it is drawn in: "app"
// (sidebar) or "auth" (a centred card); "" picks by whether someone is
// signed in.
type page struct {
	t     *template.Template
	shell string
}

var pageShells = map[string]string{
	"signin.html": "auth", "signup.html": "auth", "invite.html": "auth", "signout.html": "auth",
	"error.html":   "",
	"qrcodes.html": "app", "qrcodes_form.html": "app", "qrcodes_detail.html": "app", "apikeys.html": "app", "company.html": "app", "subscription.html": "app",
	"audit.html": "app", "profile.html": "app", "key.html": "app", "notices.html": "app",
	"webhooks.html": "app", "webhook.html": "app",
	"logs.html": "app", "logs_entry.html": "app",
}

// parse reads the templates and fingerprints the static files, once.
func (a *app) parse() error {
	a.assets = make(map[string]string)
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.assets[strings.TrimPrefix(path, "static/")] = "/" + path + "?v=" + hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return fmt.Errorf("web: static files: %w", err)
	}
	a.pages = make(map[string]*page)
	for name, shell := range pageShells {
		t, err := template.New(name).Funcs(a.funcs()).ParseFS(templateFS, "templates/layout.html", "templates/icons.html", "templates/"+name)
		if err != nil {
			return fmt.Errorf("web: template %s: %w", name, err)
		}
		a.pages[name] = &page{t: t, shell: shell}
	}
	return nil
}

func (a *app) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":    func(name string) string { return a.assets[name] },
		"date":     func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"datetime": func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":      func(t time.Time) string { return ago(a.now(), t) },
		"num":      snapglyph.FormatCount,
		"role":     snapglyph.RoleName,
		"initials": initials,
		"plural": func(n int, one, many string) string {
			if n == 1 {
				return one
			}
			return many
		},
		"action": actionLabel,
	}
}

// ago says how long before now t was, as a person would.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return snapglyph.Plural(int64(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return snapglyph.Plural(int64(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return snapglyph.Plural(int64(d/(24*time.Hour)), "day") + " ago"
	}
	return "on " + t.UTC().Format("2 Jan 2006")
}

// initials are the avatar's letters: of the name, else of the email.
func initials(name, email string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		r, _ := utf8.DecodeRuneInString(w)
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			out = append(out, unicode.ToUpper(r))
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 && email != "" {
		r, _ := utf8.DecodeRuneInString(email)
		out = append(out, unicode.ToUpper(r))
	}
	return string(out)
}

var actionLabels = map[string]string{
	"key.created":                "Created API key",
	"key.paused":                 "Paused API key",
	"key.resumed":                "Resumed API key",
	"key.revoked":                "Revoked API key",
	"key.renamed":                "Renamed API key",
	"key.rolled":                 "Rolled API key",
	"key.overlap_ended":          "Ended the overlap of API key",
	"key.restricted":             "Changed the restrictions of API key",
	"key.expired":                "API key expired",
	"key.pause_ended":            "Pause of API key ended",
	"member.invited":             "Invited",
	"member.joined":              "Joined",
	"member.role_changed":        "Changed role",
	"member.removed":             "Removed member",
	"invitation.cancelled":       "Cancelled invitation",
	"org.owner_transferred":      "Transferred ownership",
	"user.password_changed":      "Changed password",
	"user.password_reset":        "Operator set the password of",
	"org.created":                "Created organisation",
	"org.plan_changed":           "Changed plan",
	"org.limits_changed":         "Changed limits",
	"key.leaked":                 "API key found in public",
	"org.leak_action_changed":    "Changed what happens to leaked keys",
	"webhook.created":            "Added webhook endpoint",
	"webhook.deleted":            "Deleted webhook endpoint",
	"webhook.enabled":            "Enabled webhook endpoint again",
	"webhook.secret_rotated":     "Rotated the signing secret of webhook endpoint",
	"org.plan_change_requested":  "Asked the operator to change plan",
	"org.plan_request_cancelled": "Cancelled a plan change request",
	"org.plan_request_refused":   "Operator refused a plan change",
}

func actionLabel(action string) string {
	if l, ok := actionLabels[action]; ok {
		return l
	}
	return action
}

// base is what every page's data has: the layout reads it.
type base struct {
	Title  string
	Nav    string // the sidebar entry to mark as current
	User   *reqSession
	Org    *snapglyph.Org
	Flash  *flash
	Signup bool
	Unread int // the person's unread notices: the bell's number
}

// Can reports whether the signed-in user's role sees a sidebar entry.
func (b base) Can(entry string) bool {
	if b.User == nil {
		return false
	}
	switch entry {
	case "api", "company", "audit", "webhooks":
		return b.User.Role == snapglyph.RoleOwner || b.User.Role == snapglyph.RoleAdmin
	case "subscription":
		return b.User.Role == snapglyph.RoleOwner
	}
	return true
}

// newBase fills the layout's data for a request; it takes the flash.
func (a *app) newBase(w http.ResponseWriter, r *http.Request, title, nav string) (base, error) {
	b := base{Title: title, Nav: nav, User: sessionFrom(r.Context()), Signup: a.signup}
	if b.User != nil {
		org, err := a.svc.SessionOrg(r.Context(), b.User.Session)
		if err != nil {
			return b, err
		}
		b.Org = org
		if b.Unread, err = a.svc.UnreadNotices(r.Context(), actor(r), b.User.OrgID); err != nil {
			return b, err
		}
	}
	b.Flash = takeFlash(w, r)
	return b, nil
}

// errorTitle makes the title begin with "Error: " when the page answers
// with an error status (a refused form or filter, not found, forbidden)
// or shows an error message (a flash after a refused action): the title
// is the first thing a screen reader reads of a page, and a person moving
// between tabs sees it (WCAG 2.4.2, 3.3.1).
func (b *base) errorTitle(status int) {
	if status < 400 && (b.Flash == nil || b.Flash.Kind != "error") {
		return
	}
	if !strings.HasPrefix(b.Title, "Error: ") {
		b.Title = "Error: " + b.Title
	}
}

// render draws a page with the data (a pointer to a struct embedding
// base) and status.
func (a *app) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	if d, ok := data.(interface{ errorTitle(int) }); ok {
		d.errorTitle(status)
	}
	p := a.pages[name]
	shell := p.shell
	if shell == "" {
		shell = "auth"
		if sessionFrom(r.Context()) != nil {
			shell = "app"
		}
	}
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, shell, data); err != nil {
		a.log.Error("render", "template", name, "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorPage struct {
	base
	Status  int
	Heading string
	Message string
}

// renderError draws the error page.
func (a *app) renderError(w http.ResponseWriter, r *http.Request, status int, heading, message string) {
	b := base{Title: heading, User: sessionFrom(r.Context()), Signup: a.signup}
	if b.User != nil {
		b.Org, _ = a.svc.SessionOrg(r.Context(), b.User.Session)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		if w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", "2")
		}
	}
	a.render(w, r, status, "error.html", &errorPage{base: b, Status: status, Heading: heading, Message: message})
}

func (a *app) forbidden(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	a.renderError(w, r, http.StatusForbidden, "You don't have access to this page",
		"Your role in this organisation is "+snapglyph.RoleName(s.Role)+". Ask the Owner or an Admin if you need access.")
}

// statusOf is the HTTP status of err on the dashboard: that of the one
// table the API shares (httpx), except for invalid input. The dashboard's
// invalid input is what a person typed in a form (or a link), drawn again
// with its problems for them to correct: it answers 422, a form's errors,
// not the kind's status (the API answers a malformed request 400).
func statusOf(err error) int {
	if httpx.Kind(err) == snapglyph.EINVALID {
		return http.StatusUnprocessableEntity
	}
	return httpx.Status(err)
}

var headings = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnprocessableEntity:   "Please check your input",
	http.StatusMethodNotAllowed:      "That cannot be done here",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusRequestURITooLong:     "The address is too long",
	http.StatusUnsupportedMediaType:  "The form could not be read",
	http.StatusUnauthorized:          "Please sign in",
	http.StatusForbidden:             "You don't have access to this",
	http.StatusNotFound:              "Not found",
	http.StatusConflict:              "That cannot be done",
	http.StatusPreconditionFailed:    "Changed meanwhile",
	http.StatusTooManyRequests:       "Too many attempts",
	http.StatusServiceUnavailable:    "Temporarily unavailable",
	http.StatusInternalServerError:   "Something went wrong",
}

// fail draws the error page for err. Internal errors are logged, and the
// user sees only that something went wrong.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	switch httpx.Kind(err) {
	case snapglyph.EINTERNAL:
		a.log.Error("dashboard: internal error", "method", r.Method, "path", snapglyph.LoggedPath(r.URL.Path), "err", err)
	case snapglyph.EUNAVAILABLE:
		a.log.Warn("dashboard: database unavailable", "path", snapglyph.LoggedPath(r.URL.Path), "err", err)
	}
	msg := sentence(snapglyph.ErrorMessage(err))
	if status == http.StatusInternalServerError {
		msg = "An unexpected error happened on our side. Please try again; if it keeps happening, tell your operator."
	}
	heading := headings[status]
	if heading == "" {
		heading = "That cannot be done"
	}
	a.renderError(w, r, status, heading, msg)
}

// sentence capitalises a service message and ends it with a full stop.
// A message that starts with an email address or a number
// ("owner@acme.test is already a member") keeps its first word as
// written.
func sentence(s string) string {
	if s == "" {
		return s
	}
	first, _, _ := strings.Cut(s, " ")
	r, n := utf8.DecodeRuneInString(s)
	if !strings.Contains(first, "@") && !unicode.IsDigit(r) {
		s = string(unicode.ToUpper(r)) + s[n:]
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

// fieldErrors returns err's problems by field name, and its message.
func fieldErrors(err error) map[string]string {
	out := map[string]string{}
	var e *snapglyph.Error
	if errors.As(err, &e) {
		for _, f := range e.Fields {
			out[f.Field] = sentence(f.Message)
		}
	}
	return out
}

// static serves the embedded files; their URLs carry a content hash, so
// they may be cached for long.
func (a *app) static() http.Handler {
	fsrv := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			a.handleNotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		fsrv.ServeHTTP(w, r)
	})
}
