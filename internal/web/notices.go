package web

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// noticesPage lists the signed-in person's notices in the organisation,
// newest first; the bell in the sidebar counts the unread ones.
type noticesPage struct {
	base
	Notices []*snapglyph.Notice
	Paged   bool  // not the first page
	Older   int64 // the "before" of the next page, 0 if none
}

const noticesPerPage = 50

func (a *app) handleNotices(w http.ResponseWriter, r *http.Request) {
	b, err := a.newBase(w, r, "Notifications", "notices")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			a.renderError(w, r, http.StatusBadRequest, "Bad request", "The page of notifications asked for does not exist.")
			return
		}
	}
	ns, err := a.svc.Notices(r.Context(), actor(r), b.User.OrgID, before, noticesPerPage+1)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := &noticesPage{base: b, Paged: before > 0}
	if len(ns) > noticesPerPage {
		ns = ns[:noticesPerPage]
		p.Older = ns[len(ns)-1].ID
	}
	p.Notices = ns
	a.render(w, r, http.StatusOK, "notices.html", p)
}

// handleNoticeRead marks a notice read and goes to the place it names.
func (a *app) handleNoticeRead(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		a.renderError(w, r, http.StatusNotFound, "Notification not found", "There is no such notification.")
		return
	}
	n, err := a.svc.ReadNotice(r.Context(), actor(r), sessionFrom(r.Context()).OrgID, id)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		a.renderError(w, r, http.StatusNotFound, "Notification not found", "There is no such notification.")
		return
	} else if err != nil {
		a.fail(w, r, err)
		return
	}
	to := safeNext(n.Link)
	if to == "" {
		to = "/notices"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (a *app) handleNoticesReadAll(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	n, err := a.svc.ReadAllNotices(r.Context(), actor(r), sessionFrom(r.Context()).OrgID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	redirectWith(w, r, "/notices", "success", "Marked "+snapglyph.Plural(int64(n), "notification")+" as read.")
}

// mailTopic is one row of the profile's mail preferences.
type mailTopic struct {
	snapglyph.MailTopic
	On bool
}

// mailPrefs are the profile's mail preferences.
type mailPrefs struct {
	MailOn bool // mail is configured on this server
	Topics []mailTopic
}

func (a *app) mailPrefs(r *http.Request) (*mailPrefs, error) {
	off, err := a.svc.MailPreferences(r.Context(), actor(r))
	if err != nil {
		return nil, err
	}
	p := &mailPrefs{MailOn: a.mailOn}
	for _, t := range snapglyph.MailTopics {
		p.Topics = append(p.Topics, mailTopic{MailTopic: t, On: !slices.Contains(off, t.Name)})
	}
	return p, nil
}

// handleMailPrefs saves which notices come by mail: a checked box per
// topic ("topic" fields); an unknown topic is refused and nothing changes.
func (a *app) handleMailPrefs(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "topic") {
		return
	}
	if err := a.svc.SetMailPreferences(r.Context(), actor(r), r.PostForm["topic"]); err != nil {
		a.fail(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/profile#mail", "success", "Your mail preferences are saved.")
}

// handleLeakAction saves what happens to a key found in public: "paused"
// or "revoked" (Owners and Admins; the service checks).
func (a *app) handleLeakAction(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "leak_action") {
		return
	}
	action := r.PostForm.Get("leak_action")
	err := a.svc.SetLeakAction(r.Context(), actor(r), sessionFrom(r.Context()).OrgID, action)
	switch snapglyph.ErrorKind(err) {
	case "":
		redirectWith(w, r, "/settings/company#leaks", "success", "A key found in public will now be "+action+" at once.")
	case snapglyph.ECONFLICT:
		redirectWith(w, r, "/settings/company#leaks", "success", "A key found in public is already "+action+" at once.")
	default:
		a.fail(w, r, err)
	}
}
