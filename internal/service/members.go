package service

import (
	"context"
	"strings"
	"time"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// InvitationLifetime is how long an invitation link can be accepted.
const InvitationLifetime = 7 * 24 * time.Hour

// Invitations made by people are counted per network (the inviter's IPv4
// address or IPv6 /64), as sign-ups are: from the InviteFree-th within
// InviteWindow of each other the next one waits, from 30 seconds doubling
// to 5 minutes. Each invitation sends a mail to an address of the
// inviter's choosing, and making and cancelling invitations in a loop
// must not be a free way to probe addresses. Every well-formed attempt
// counts, made or refused. The operator's are not counted.
const (
	InviteWindow = time.Hour
	InviteFree   = 20
)

// SeatLimit returns how many people (members and pending invitations) the
// organisation may have at time now; negative means unlimited. An ended
// trial counts as Starter, as it does for the API.
func SeatLimit(org *snapglyph.Org, now time.Time) int {
	return org.EffectivePlan(now).Limits().Seats
}

// role returns actor's role in the organisation; the operator counts as
// Owner. Returns ENOTFOUND if the actor is not a member, or is acting in
// another organisation (the organisation is not disclosed).
func (s *Service) role(ctx context.Context, actor snapglyph.Actor, orgID string) (snapglyph.Role, error) {
	if !actor.ActsIn(orgID) {
		return "", snapglyph.Errorf(snapglyph.ENOTFOUND, "no organisation has the id %s", snapglyph.QuoteID(orgID))
	}
	if actor.UserID == "" {
		if _, err := s.db.Org(ctx, orgID); err != nil {
			return "", err
		}
		return snapglyph.RoleOwner, nil
	}
	role, err := s.db.Role(ctx, orgID, actor.UserID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return "", snapglyph.Errorf(snapglyph.ENOTFOUND, "no organisation has the id %s", snapglyph.QuoteID(orgID))
	}
	return role, err
}

// authorizeTeam checks that actor may manage the organisation's members:
// Owners and Admins. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) authorizeTeam(ctx context.Context, actor snapglyph.Actor, orgID string) (snapglyph.Role, error) {
	role, err := s.role(ctx, actor, orgID)
	if err != nil {
		return "", err
	}
	if role != snapglyph.RoleOwner && role != snapglyph.RoleAdmin {
		return "", snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only Owners and Admins can manage the organisation's members")
	}
	return role, nil
}

// teamTarget is what changing or removing a member checks first: the
// actor may manage the organisation's members (authorizeTeam), and
// userID is one of them. Returns that person's role; ENOTFOUND,
// EFORBIDDEN.
func (s *Service) teamTarget(ctx context.Context, actor snapglyph.Actor, orgID, userID string) (snapglyph.Role, error) {
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		return "", err
	}
	target, err := s.db.Role(ctx, orgID, userID)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return "", snapglyph.Errorf(snapglyph.ENOTFOUND, "that person is not a member of the organisation")
	} else if err != nil {
		return "", err
	}
	return target, nil
}

// Members lists an organisation's members, the Owner first. Owners and
// Admins only. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) Members(ctx context.Context, actor snapglyph.Actor, orgID string) ([]*snapglyph.Member, error) {
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		return nil, err
	}
	return s.db.Members(ctx, orgID)
}

// Invitations lists an organisation's pending invitations, newest first.
// Owners and Admins only. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) Invitations(ctx context.Context, actor snapglyph.Actor, orgID string) ([]*snapglyph.Invitation, error) {
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		return nil, err
	}
	return s.db.Invitations(ctx, orgID)
}

// Seats returns how many seats an organisation uses (members and pending
// invitations) and its limit at time now (negative: unlimited).
func (s *Service) Seats(ctx context.Context, org *snapglyph.Org) (taken, limit int, err error) {
	taken, err = s.db.SeatsTaken(ctx, org.ID)
	return taken, SeatLimit(org, s.db.Now()), err
}

// NewInvitation is an invitation just created: the only time its token
// (the secret part of the link) exists.
type NewInvitation struct {
	*snapglyph.Invitation
	Token string
}

func parseInviteRole(s string) (snapglyph.Role, error) {
	switch r := snapglyph.Role(strings.ToLower(strings.TrimSpace(s))); r {
	case snapglyph.RoleAdmin, snapglyph.RoleMember:
		return r, nil
	}
	return "", snapglyph.Errorf(snapglyph.EINVALID, "the role must be Admin or Member")
}

// Invite creates an invitation to join the organisation as Admin or
// Member, valid for InvitationLifetime. Owners and Admins only; members
// and pending invitations count against the plan's seats. Returns
// EINVALID, ENOTFOUND, EFORBIDDEN, ECONFLICT (already a member or
// invited, or no seat left), and ERATELIMIT (a *ThrottledError) after
// InviteFree invitations from one network in InviteWindow.
func (s *Service) Invite(ctx context.Context, actor snapglyph.Actor, orgID, email, role string) (*NewInvitation, error) {
	addr, err := normalizeEmail(email)
	if err != nil {
		return nil, snapglyph.Errorf(snapglyph.EINVALID, "enter the email address of the person to invite, such as alex@example.com")
	}
	r, err := parseInviteRole(role)
	if err != nil {
		return nil, err
	}
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		return nil, err
	}
	org, err := s.db.Org(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if actor.UserID != "" {
		allowed, until, err := s.db.TryAttempt(ctx, "invite:"+networkOf(actor.IP), InviteWindow, throttleWait(InviteFree))
		if err != nil {
			return nil, err
		}
		if !allowed {
			return nil, throttled(max(until.Sub(s.db.Now()), time.Second), "invite_throttled", "Too many invitations from your network")
		}
	}
	now := s.db.Now().UTC()
	token := newToken(invitationTokenBytes)
	inv := &snapglyph.Invitation{ID: snapglyph.NewID("inv"), OrgID: orgID, OrgName: org.Name, Email: addr, Role: r, ExpiresAt: now.Add(InvitationLifetime)}
	if err := s.db.CreateInvitation(ctx, inv, tokenDigest(token), SeatLimit(org, now), actor); err != nil {
		return nil, err
	}
	return &NewInvitation{Invitation: inv, Token: token}, nil
}

// CancelInvitation cancels a pending invitation: its link stops working at
// once. Owners and Admins only. Returns ENOTFOUND, EFORBIDDEN, ECONFLICT.
func (s *Service) CancelInvitation(ctx context.Context, actor snapglyph.Actor, orgID, id string) (*snapglyph.Invitation, error) {
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		return nil, err
	}
	return s.db.CancelInvitation(ctx, orgID, id, actor)
}

// ChangeRole makes a member an Admin or a Member. The rules (product §4.3):
// the Owner may change anyone's role but their own (an organisation always
// has its Owner: the Owner hands over with TransferOwnership); an Admin
// may switch people between Member and Admin but cannot touch the Owner;
// Members change nothing. A member made a Member loses the pending
// invitations they created. Returns the member's email and the role as
// stored; EINVALID, ENOTFOUND, EFORBIDDEN, ECONFLICT (no change).
func (s *Service) ChangeRole(ctx context.Context, actor snapglyph.Actor, orgID, userID, role string) (string, snapglyph.Role, error) {
	r, err := parseInviteRole(role)
	if err != nil {
		return "", "", err
	}
	target, err := s.teamTarget(ctx, actor, orgID, userID)
	if err != nil {
		return "", "", err
	}
	if target == snapglyph.RoleOwner {
		if userID == actor.UserID {
			return "", "", snapglyph.Codef(snapglyph.EFORBIDDEN, "owner_role_fixed", "you are the Owner; to hand over, make an Admin the Owner (Make Owner on the Company page), and you become an Admin")
		}
		return "", "", snapglyph.Codef(snapglyph.EFORBIDDEN, "owner_role_fixed", "the Owner's role cannot be changed; only the Owner can hand ownership to an Admin")
	}
	email, err := s.db.SetMemberRole(ctx, orgID, userID, r, actor)
	if err != nil {
		return "", "", err
	}
	return email, r, nil
}

// RemoveMember takes someone out of the organisation; their sessions in it
// end at once, the pending invitations they created are cancelled, and
// their account stays. The Owner cannot be removed; Owners and Admins
// remove Admins and Members. Returns the member's email; ENOTFOUND,
// EFORBIDDEN.
func (s *Service) RemoveMember(ctx context.Context, actor snapglyph.Actor, orgID, userID string) (string, error) {
	target, err := s.teamTarget(ctx, actor, orgID, userID)
	if err != nil {
		return "", err
	}
	if target == snapglyph.RoleOwner {
		return "", snapglyph.Codef(snapglyph.EFORBIDDEN, "owner_not_removable", "the Owner cannot be removed; the Owner can first make an Admin the Owner (Make Owner on the Company page)")
	}
	return s.db.RemoveMember(ctx, orgID, userID, actor)
}

// TransferOwnership makes a member the organisation's Owner; the Owner
// becomes an Admin. From the dashboard only the Owner may, and only to an
// Admin; the operator (the CLI) may make any member the Owner, to recover
// an organisation whose Owner is gone. It is one transaction that holds
// the organisation's lock, so there is one Owner at all times, also when
// transfers race. Returns the old and the new Owner's emails; ENOTFOUND,
// EFORBIDDEN, ECONFLICT (already the Owner, or not an Admin).
func (s *Service) TransferOwnership(ctx context.Context, actor snapglyph.Actor, orgID, userID string) (from, to string, err error) {
	role, err := s.role(ctx, actor, orgID)
	if err != nil {
		return "", "", err
	}
	if role != snapglyph.RoleOwner {
		return "", "", snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only the Owner can transfer ownership")
	}
	return s.db.TransferOwnership(ctx, orgID, userID, actor.UserID != "", actor)
}

// SetOwner is TransferOwnership by the email of the new Owner, for the
// operator. Returns EINVALID, ENOTFOUND, EFORBIDDEN, ECONFLICT.
func (s *Service) SetOwner(ctx context.Context, actor snapglyph.Actor, orgID, email string) (from, to string, err error) {
	if actor.UserID != "" {
		return "", "", snapglyph.Errorf(snapglyph.EFORBIDDEN, "only the operator sets the Owner by email; the Owner uses Make Owner on the Company page")
	}
	addr, err := normalizeEmail(email)
	if err != nil {
		return "", "", err
	}
	if _, err := s.db.Org(ctx, orgID); err != nil {
		return "", "", err
	}
	user, _, err := s.userByEmail(ctx, email)
	if snapglyph.ErrorKind(err) == snapglyph.ENOTFOUND {
		return "", "", snapglyph.Errorf(snapglyph.ENOTFOUND, "no account has the email %s", addr)
	} else if err != nil {
		return "", "", err
	}
	return s.TransferOwnership(ctx, actor, orgID, user.ID)
}

// Invitation returns the invitation of a link's token and whether its
// email already has an account. Whether it has one is for the service's
// own use and for the invitee signed in: it is never shown to whoever
// holds the link (the inviter could probe addresses with it). Returns
// ENOTFOUND for an unknown token, and ECONFLICT (reasons
// invitation_expired, invitation_cancelled, invitation_used) for one that
// can no longer be accepted.
func (s *Service) Invitation(ctx context.Context, token string) (*snapglyph.Invitation, bool, error) {
	if !validToken(token, invitationTokenBytes) {
		return nil, false, snapglyph.Errorf(snapglyph.ENOTFOUND, "this invitation link is not valid; check that it was copied completely")
	}
	inv, err := s.db.InvitationByToken(ctx, tokenDigest(token))
	if err != nil {
		return nil, false, err
	}
	if err := inv.Err(s.db.Now()); err != nil {
		return inv, false, err
	}
	_, _, err = s.userByEmail(ctx, inv.Email)
	if err != nil && snapglyph.ErrorKind(err) != snapglyph.ENOTFOUND {
		return nil, false, err
	}
	return inv, err == nil, nil
}

// Accept is how an invitation is accepted: by the signed-in user the
// invitation is for (Session and its Token), by an existing account
// (Existing) with its Password, or as a new account with a Name and a
// Password.
type Accept struct {
	Session  *snapglyph.Session
	Token    string // the signed-in session's token, replaced by a new one
	Existing bool   // sign in with the account of the invitation's email
	Name     string
	Password string
}

// AcceptInvitation joins the invitation's organisation and starts a
// session in it. Whoever holds the link chooses: sign in with the account
// of the invitation's email (its password is checked with the sign-in
// throttle, and a wrong password and no account answer alike), or create
// the account with a name and a password, which counts against the
// sign-up throttle of the network before the password hash, as a sign-up
// does: the answer that the email has an account costs what it costs on
// the sign-up page. Returns EINVALID, EUNAUTHORIZED, ERATELIMIT,
// ENOTFOUND and ECONFLICT (the invitation is no longer pending, the email
// has an account, or no seat is left).
func (s *Service) AcceptInvitation(ctx context.Context, token string, in Accept, c Client) (*NewSession, error) {
	inv, _, err := s.Invitation(ctx, token)
	if err != nil {
		return nil, err
	}
	org, err := s.db.Org(ctx, inv.OrgID)
	if err != nil {
		return nil, err
	}
	seats := SeatLimit(org, s.db.Now())
	j := snapglyph.Joiner{IP: c.IP}
	expires := time.Time{}
	switch {
	case in.Session != nil && in.Session.Email == inv.Email:
		j.UserID, expires = in.Session.UserID, in.Session.ExpiresAt
	case in.Session != nil:
		return nil, snapglyph.Errorf(snapglyph.EFORBIDDEN, "this invitation is for %s, but you are signed in as %s; sign out first", inv.Email, in.Session.Email)
	case in.Existing:
		user, err := s.verifyPassword(ctx, inv.Email, in.Password, c.IP)
		if err != nil {
			return nil, err
		}
		j.UserID = user.ID
	default:
		name, err := normalizePersonName(in.Name)
		if err != nil {
			return nil, &snapglyph.Error{Kind: snapglyph.EINVALID, Message: snapglyph.ErrorMessage(err),
				Fields: []snapglyph.FieldError{{Field: "name", Message: snapglyph.ErrorMessage(err)}}}
		}
		if msg := PasswordProblem(in.Password); msg != "" {
			return nil, &snapglyph.Error{Kind: snapglyph.EINVALID, Message: msg,
				Fields: []snapglyph.FieldError{{Field: "password", Message: msg}}}
		}
		allowed, until, err := s.db.TryAttempt(ctx, "signup:"+networkOf(c.IP), SignupWindow, throttleWait(SignupFree))
		if err != nil {
			return nil, err
		}
		if !allowed {
			return nil, throttled(max(until.Sub(s.db.Now()), time.Second), "signup_throttled", "Too many new accounts from your network")
		}
		j.Name = name
		if j.PasswordHash, err = hashPassword(ctx, in.Password); err != nil {
			return nil, err
		}
	}
	user, _, err := s.db.AcceptInvitation(ctx, tokenDigest(token), j, seats)
	if err != nil {
		return nil, err
	}
	return s.startSession(ctx, user.ID, inv.OrgID, c, expires, in.Token)
}

// AuditLog returns an organisation's audit log, newest first: at most
// limit events older than the event id before (0: from the newest).
// Owners and Admins only. Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) AuditLog(ctx context.Context, actor snapglyph.Actor, orgID string, before int64, limit int) ([]*snapglyph.AuditEvent, error) {
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		if snapglyph.ErrorKind(err) == snapglyph.EFORBIDDEN {
			return nil, snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only Owners and Admins can read the audit log")
		}
		return nil, err
	}
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	return s.db.AuditEvents(ctx, orgID, before, limit)
}

// Subscription returns the organisation for its Subscription page. Owners
// only (billing is the Owner's). Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) Subscription(ctx context.Context, actor snapglyph.Actor, orgID string) (*snapglyph.Org, error) {
	role, err := s.role(ctx, actor, orgID)
	if err != nil {
		return nil, err
	}
	if role != snapglyph.RoleOwner {
		return nil, snapglyph.Codef(snapglyph.EFORBIDDEN, "permission_denied", "only the Owner can see and manage the subscription")
	}
	return s.db.Org(ctx, orgID)
}
