package snapglyph

import "time"

// Notice is what one person is told about one event, in the dashboard
// (and by mail unless they turned the topic off).
type Notice struct {
	ID        int64
	EventID   int64
	UserID    string
	OrgID     string
	Kind      string // the event's kind
	Title     string
	Body      string
	Link      string // a dashboard path: /settings/api/keys/key_…
	CreatedAt time.Time
	ReadAt    time.Time
	Mail      string // one of the Mail* states
	Email     string // the person's address
}

// The states of a notice's mail.
const (
	MailPending = "pending"
	MailSending = "sending" // a node is sending it
	MailSent    = "sent"
	MailOff     = "off"  // the person turned the topic off
	MailNone    = "none" // no SMTP server is configured
	MailFailed  = "failed"
)

// What happens to an organisation's active key reported as found in
// public (its choice in Company settings).
const (
	LeakPause  = "paused" // the default
	LeakRevoke = "revoked"
)
