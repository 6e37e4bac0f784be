package snapglyph

import "time"

// Session is a signed-in dashboard session in one organisation. ID is the
// hex SHA-256 of the token in the session cookie; the token itself is
// never stored.
type Session struct {
	ID         string
	UserID     string
	OrgID      string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // the absolute end, whatever the activity
	IP         string
	UserAgent  string

	// Read with the session from the user and the membership, so a
	// role change or a removal takes effect on the next request.
	Email string
	Name  string
	Role  Role
}

// Actor returns the session's user as the actor of a management action
// made from ip, bound to the session's organisation.
func (s *Session) Actor(ip string) Actor {
	return Actor{UserID: s.UserID, Label: s.Email, IP: ip, OrgID: s.OrgID}
}

// The kinds of one-time reveal: a secret shown once, on the page a
// redirect leads to after the form that made it (POST-redirect-GET).
const (
	RevealKey            = "key"             // a new or rolled API key
	RevealWebhookCreated = "webhook_created" // a new endpoint's signing secret
	RevealWebhookRotated = "webhook_rotated" // an endpoint's rotated signing secret
)
