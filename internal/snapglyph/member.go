package snapglyph

import (
	"strings"
	"time"
)

// RoleName is a role as the dashboard writes it: Owner, Admin, Member.
func RoleName(r Role) string {
	if r == "" {
		return ""
	}
	return strings.ToUpper(string(r[:1])) + string(r[1:])
}

// Member is a user's membership of an organisation.
type Member struct {
	User
	Role     Role
	JoinedAt time.Time
}

// Membership is one organisation a user belongs to.
type Membership struct {
	OrgID    string
	OrgName  string
	Role     Role
	JoinedAt time.Time
}

// Invitation is an invitation to join an organisation. Its token exists
// only in the link shown when it is created; the database has its digest.
type Invitation struct {
	ID             string
	OrgID          string
	OrgName        string
	Email          string
	Role           Role
	CreatedAt      time.Time
	CreatedBy      string // "user:usr_…" or "operator"
	CreatedByLabel string
	ExpiresAt      time.Time
	AcceptedAt     time.Time
	CancelledAt    time.Time
}

// Pending reports whether the invitation can still be accepted at now.
func (i *Invitation) Pending(now time.Time) bool {
	return i.AcceptedAt.IsZero() && i.CancelledAt.IsZero() && now.Before(i.ExpiresAt)
}

// Err returns the error for an invitation that can no longer be accepted
// at now (ECONFLICT: invitation_used, invitation_cancelled or
// invitation_expired), or nil if it is pending.
func (i *Invitation) Err(now time.Time) error {
	switch {
	case !i.AcceptedAt.IsZero():
		return Codef(ECONFLICT, "invitation_used", "this invitation was already accepted; sign in instead")
	case !i.CancelledAt.IsZero():
		return Codef(ECONFLICT, "invitation_cancelled", "this invitation was cancelled; ask an Owner or Admin of %s for a new one", i.OrgName)
	case !now.Before(i.ExpiresAt):
		return Codef(ECONFLICT, "invitation_expired", "this invitation expired on %s (links are valid for 7 days); ask an Owner or Admin of %s for a new one",
			i.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC"), i.OrgName)
	}
	return nil
}

// Joiner is who accepts an invitation: an existing user (UserID set, whose
// email must be the invitation's), or a new user with a name and a
// password hash.
type Joiner struct {
	UserID       string
	Name         string
	PasswordHash string
	IP           string
}
