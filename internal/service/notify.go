package service

import (
	"context"
	"strings"

	"github.com/snapglyph/snapglyph/internal/snapglyph"
)

// Notices returns the signed-in person's notices in the organisation,
// newest first: at most limit with an id below before (0: from the
// newest). Every kind of notice is for Owners and Admins (API keys,
// invitations, webhooks, plan and usage), so the role is checked when
// they are read: a person made a Member no longer sees those told to them
// as an Admin (they come back with the role). Returns ENOTFOUND.
func (s *Service) Notices(ctx context.Context, actor snapglyph.Actor, orgID string, before int64, limit int) ([]*snapglyph.Notice, error) {
	if role, err := s.member(ctx, actor, orgID); err != nil || !seesNotices(role) {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return s.db.Notices(ctx, actor.UserID, orgID, before, limit)
}

// UnreadNotices counts the person's unread notices in the organisation
// (the bell's number). Returns ENOTFOUND.
func (s *Service) UnreadNotices(ctx context.Context, actor snapglyph.Actor, orgID string) (int, error) {
	if role, err := s.member(ctx, actor, orgID); err != nil || !seesNotices(role) {
		return 0, err
	}
	return s.db.UnreadNotices(ctx, actor.UserID, orgID)
}

// ReadNotice marks one of the person's notices read and returns it (its
// Link is where to go). Returns ENOTFOUND, also for someone else's.
func (s *Service) ReadNotice(ctx context.Context, actor snapglyph.Actor, orgID string, id int64) (*snapglyph.Notice, error) {
	if role, err := s.member(ctx, actor, orgID); err != nil {
		return nil, err
	} else if !seesNotices(role) {
		return nil, snapglyph.Errorf(snapglyph.ENOTFOUND, "no such notice")
	}
	return s.db.ReadNotice(ctx, actor.UserID, orgID, id)
}

// ReadAllNotices marks every notice of the person in the organisation
// read and returns how many were unread. Returns ENOTFOUND.
func (s *Service) ReadAllNotices(ctx context.Context, actor snapglyph.Actor, orgID string) (int64, error) {
	if role, err := s.member(ctx, actor, orgID); err != nil || !seesNotices(role) {
		return 0, err
	}
	return s.db.ReadAllNotices(ctx, actor.UserID, orgID)
}

// seesNotices reports whether a role is told of events: the Owner and
// Admins (the notifier's recipients).
func seesNotices(r snapglyph.Role) bool {
	return r == snapglyph.RoleOwner || r == snapglyph.RoleAdmin
}

// member checks that a signed-in actor belongs to the organisation.
func (s *Service) member(ctx context.Context, actor snapglyph.Actor, orgID string) (snapglyph.Role, error) {
	if actor.UserID == "" {
		return "", snapglyph.Errorf(snapglyph.EFORBIDDEN, "notices belong to people: sign in")
	}
	return s.role(ctx, actor, orgID)
}

// MailPreferences returns the topics (snapglyph.MailTopics names) the
// signed-in person does not want by mail.
func (s *Service) MailPreferences(ctx context.Context, actor snapglyph.Actor) ([]string, error) {
	if actor.UserID == "" {
		return nil, snapglyph.Errorf(snapglyph.EFORBIDDEN, "mail preferences belong to people: sign in")
	}
	return s.db.MailOff(ctx, actor.UserID)
}

// SetMailPreferences sets which topics the signed-in person gets by mail:
// every topic of snapglyph.MailTopics not in on is turned off. Returns
// EINVALID naming a topic that is not one (nothing is changed then).
func (s *Service) SetMailPreferences(ctx context.Context, actor snapglyph.Actor, on []string) error {
	if actor.UserID == "" {
		return snapglyph.Errorf(snapglyph.EFORBIDDEN, "mail preferences belong to people: sign in")
	}
	want := map[string]bool{}
	for _, t := range on {
		if !snapglyph.IsMailTopic(t) {
			if msg := snapglyph.TextProblem(t); msg != "" {
				return snapglyph.Errorf(snapglyph.EINVALID, "a mail topic %s", msg)
			}
			if len(t) > 40 {
				t = t[:40] + "…"
			}
			return snapglyph.Errorf(snapglyph.EINVALID, "%q is not a kind of notice; choose among %s", t, topicNames())
		}
		want[t] = true
	}
	var off []string
	for _, t := range snapglyph.MailTopics {
		if !want[t.Name] {
			off = append(off, t.Name)
		}
	}
	return s.db.SetMailOff(ctx, actor.UserID, off)
}

func topicNames() string {
	var names []string
	for _, t := range snapglyph.MailTopics {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

// LeakAction returns what happens to the organisation's keys found in
// public: snapglyph.LeakPause or snapglyph.LeakRevoke. Owners and Admins.
// Returns ENOTFOUND, EFORBIDDEN.
func (s *Service) LeakAction(ctx context.Context, actor snapglyph.Actor, orgID string) (string, error) {
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		return "", err
	}
	return s.db.LeakAction(ctx, orgID)
}

// SetLeakAction chooses whether a key of the organisation reported as
// found in public is paused (snapglyph.LeakPause, the default) or revoked
// (snapglyph.LeakRevoke). Owners and Admins. Returns EINVALID, ENOTFOUND,
// EFORBIDDEN, ECONFLICT (already so).
func (s *Service) SetLeakAction(ctx context.Context, actor snapglyph.Actor, orgID, action string) error {
	if action != snapglyph.LeakPause && action != snapglyph.LeakRevoke {
		return snapglyph.Errorf(snapglyph.EINVALID, "choose whether a leaked key is paused or revoked")
	}
	if _, err := s.authorizeTeam(ctx, actor, orgID); err != nil {
		return err
	}
	return s.db.SetLeakAction(ctx, orgID, action, actor)
}

// InvitationMailToken makes the token of an invitation's mailed link (a
// link of its own: the one shown when the invitation was made keeps
// working; the token exists only in the mail, the database keeps its
// digest) and returns it with the invitation. Returns ENOTFOUND, and
// ECONFLICT when the invitation is no longer pending (no mail then).
func (s *Service) InvitationMailToken(ctx context.Context, invitationID string) (string, *snapglyph.Invitation, error) {
	inv, err := s.db.InvitationForMail(ctx, invitationID)
	if err != nil {
		return "", nil, err
	}
	if err := inv.Err(s.db.Now()); err != nil {
		return "", inv, err
	}
	token := newToken(invitationTokenBytes)
	ok, err := s.db.SetInvitationMailToken(ctx, invitationID, tokenDigest(token))
	if err != nil {
		return "", inv, err
	}
	if !ok {
		return "", inv, snapglyph.Errorf(snapglyph.ECONFLICT, "the invitation for %s is no longer pending", inv.Email)
	}
	return token, inv, nil
}
