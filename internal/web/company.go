package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// companyPage is the Company page: members, pending invitations, seats.
// At most one of Invite, Link, Remove and Transfer is set: the open
// dialog.
type companyPage struct {
	base
	Members     []*memberRow
	Invitations []*snapglyph.Invitation
	SeatsTaken  int
	SeatLimit   int // negative: unlimited
	Invite      *inviteForm
	Link        *inviteLink
	Remove      *memberRow
	Transfer    *memberRow
	LeakAction  string // "paused" or "revoked": what happens to a key found in public
	// Invited is the pending invitation whose link dialog was left with
	// Done (?invited=its id): the page says it is pending.
	Invited *snapglyph.Invitation
}

// SeatsFull reports whether no seat is left for an invitation.
func (p *companyPage) SeatsFull() bool { return p.SeatLimit >= 0 && p.SeatsTaken >= p.SeatLimit }

type memberRow struct {
	*snapglyph.Member
	You         bool
	CanChange   bool // the role select is shown
	CanRemove   bool
	CanTransfer bool // Make Owner is shown: the Owner sees it on Admins
}

// displayName is the member's name, or their address if they gave none.
func (m *memberRow) displayName() string {
	if m.Name != "" {
		return m.Name
	}
	return m.Email
}

type inviteForm struct {
	Email string
	Role  string
	Error string
}

type inviteLink struct {
	URL    string
	Inv    *snapglyph.Invitation
	Mailed bool // mail is on: the invitee also gets a link by mail
}

func (a *app) companyPage(w http.ResponseWriter, r *http.Request) (*companyPage, error) {
	b, err := a.newBase(w, r, "Company", "company")
	if err != nil {
		return nil, err
	}
	ctx, act := r.Context(), actor(r)
	members, err := a.svc.Members(ctx, act, b.Org.ID)
	if err != nil {
		return nil, err
	}
	p := &companyPage{base: b}
	for _, m := range members {
		// The rules are the service's (§4.3); this only decides which
		// controls to draw. Nobody changes or removes the Owner.
		row := &memberRow{Member: m, You: m.ID == b.User.UserID}
		row.CanChange = m.Role != snapglyph.RoleOwner
		row.CanRemove = m.Role != snapglyph.RoleOwner
		row.CanTransfer = b.User.Role == snapglyph.RoleOwner && m.Role == snapglyph.RoleAdmin
		p.Members = append(p.Members, row)
	}
	if p.Invitations, err = a.svc.Invitations(ctx, act, b.Org.ID); err != nil {
		return nil, err
	}
	if p.SeatsTaken, p.SeatLimit, err = a.svc.Seats(ctx, b.Org); err != nil {
		return nil, err
	}
	if p.LeakAction, err = a.svc.LeakAction(ctx, act, b.Org.ID); err != nil {
		return nil, err
	}
	return p, nil
}

func (a *app) handleCompany(w http.ResponseWriter, r *http.Request) {
	p, err := a.companyPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if id := r.URL.Query().Get("invited"); id != "" {
		for _, inv := range p.Invitations {
			if inv.ID == id {
				p.Invited = inv
			}
		}
	}
	a.render(w, r, http.StatusOK, "company.html", p)
}

func (a *app) handleInviteNew(w http.ResponseWriter, r *http.Request) {
	p, err := a.companyPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p.Invite = &inviteForm{Role: "member"}
	p.Title = "Invite Member"
	a.render(w, r, http.StatusOK, "company.html", p)
}

// inviteURL is the absolute link of an invitation token: under the
// configured public URL, or else on the host the request came to.
func (a *app) inviteURL(r *http.Request, token string) string {
	if a.publicURL != "" {
		return strings.TrimRight(a.publicURL, "/") + "/invite/" + token
	}
	scheme := "http"
	if secure(r) {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: "/invite/" + token}
	return u.String()
}

// handleInviteCreate creates an invitation and shows its link, once, in
// this response; the invitee also gets a mail with a link of its own
// when mail is on (see internal/notify).
func (a *app) handleInviteCreate(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "email", "role") {
		return
	}
	s := sessionFrom(r.Context())
	email, role := r.PostForm.Get("email"), r.PostForm.Get("role")
	ni, err := a.svc.Invite(r.Context(), actor(r), s.OrgID, email, role)
	if err != nil {
		switch snapglyph.ErrorKind(err) {
		case snapglyph.EINVALID, snapglyph.ECONFLICT, snapglyph.ERATELIMIT:
			setRetryAfter(w, err)
			p, perr := a.companyPage(w, r)
			if perr != nil {
				a.fail(w, r, perr)
				return
			}
			p.Invite = &inviteForm{Email: email, Role: role, Error: sentence(snapglyph.ErrorMessage(err))}
			p.Title = "Invite Member"
			a.render(w, r, statusOf(err), "company.html", p)
		default:
			a.fail(w, r, err)
		}
		return
	}
	p, err := a.companyPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p.Link = &inviteLink{URL: a.inviteURL(r, ni.Token), Inv: ni.Invitation, Mailed: a.mailOn}
	p.Title = "Invitation created"
	a.render(w, r, http.StatusOK, "company.html", p)
}

func (a *app) handleInviteCancel(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	inv, err := a.svc.CancelInvitation(r.Context(), actor(r), sessionFrom(r.Context()).OrgID, r.PathValue("id"))
	if err != nil {
		a.companyActionError(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/company", "success", "The invitation for "+inv.Email+" is cancelled; its link no longer works.")
}

func (a *app) handleRoleChange(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r, "role") {
		return
	}
	email, role, err := a.svc.ChangeRole(r.Context(), actor(r), sessionFrom(r.Context()).OrgID, r.PathValue("id"), r.PostForm.Get("role"))
	if err != nil {
		a.companyActionError(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/company", "success", email+" is now "+article(role)+" "+snapglyph.RoleName(role)+".")
}

// article is the indefinite article of a role's name.
func article(role snapglyph.Role) string {
	if role == snapglyph.RoleAdmin || role == snapglyph.RoleOwner {
		return "an"
	}
	return "a"
}

// handleTransferConfirm draws the confirmation of an ownership transfer
// over the Company page: the Owner's, to an Admin.
func (a *app) handleTransferConfirm(w http.ResponseWriter, r *http.Request) {
	a.confirmMember(w, r, func(p *companyPage, m *memberRow) bool {
		if m.CanTransfer {
			p.Transfer = m
			p.Title = "Make " + m.displayName() + " the Owner?"
		}
		return m.CanTransfer
	}, "Admin not found", "There is no such Admin; ownership can only be transferred to an Admin of the organisation.")
}

// confirmMember draws a confirmation about the member the path names over
// the Company page: choose puts the member on the page if the action
// applies to them, and reports whether it does; otherwise 404 with the
// title and detail.
func (a *app) confirmMember(w http.ResponseWriter, r *http.Request, choose func(*companyPage, *memberRow) bool, title, detail string) {
	p, err := a.companyPage(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	chosen := false
	for _, m := range p.Members {
		if m.ID == r.PathValue("id") && choose(p, m) {
			chosen = true
		}
	}
	if !chosen {
		a.renderError(w, r, http.StatusNotFound, title, detail)
		return
	}
	a.render(w, r, http.StatusOK, "company.html", p)
}

// handleTransfer makes an Admin the Owner; the Owner becomes an Admin.
func (a *app) handleTransfer(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	_, to, err := a.svc.TransferOwnership(r.Context(), actor(r), sessionFrom(r.Context()).OrgID, r.PathValue("id"))
	if err != nil {
		a.companyActionError(w, r, err)
		return
	}
	redirectWith(w, r, "/settings/company", "success", to+" is now the Owner, and you are an Admin.")
}

func (a *app) handleRemoveConfirm(w http.ResponseWriter, r *http.Request) {
	a.confirmMember(w, r, func(p *companyPage, m *memberRow) bool {
		if m.CanRemove {
			p.Remove = m
			p.Title = "Remove " + m.displayName() + "?"
		}
		return m.CanRemove
	}, "Member not found", "There is no such member to remove; the Owner cannot be removed.")
}

func (a *app) handleRemove(w http.ResponseWriter, r *http.Request) {
	if !a.readForm(w, r) {
		return
	}
	s := sessionFrom(r.Context())
	id := r.PathValue("id")
	email, err := a.svc.RemoveMember(r.Context(), actor(r), s.OrgID, id)
	if err != nil {
		a.companyActionError(w, r, err)
		return
	}
	if id == s.UserID {
		// Leaving: this very session ended with the membership.
		clearSessionCookie(w, r)
		redirectWith(w, r, "/signin", "success", "You left the organisation.")
		return
	}
	redirectWith(w, r, "/settings/company", "success", email+" was removed from the organisation and signed out.")
}

func (a *app) companyActionError(w http.ResponseWriter, r *http.Request, err error) {
	if snapglyph.ErrorKind(err) == snapglyph.ECONFLICT {
		redirectWith(w, r, "/settings/company", "error", sentence(snapglyph.ErrorMessage(err)))
		return
	}
	a.fail(w, r, err)
}
