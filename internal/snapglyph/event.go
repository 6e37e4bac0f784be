package snapglyph

import (
	"encoding/json"
	"strconv"
	"time"
)

// Kinds of event. Each is written to the outbox in the same transaction as
// the change that causes it, and delivered from there to every consumer
// (notices and mail today; webhooks are one more consumer). The names are
// the webhook event names of the product.
const (
	EventKeyCreated  = "api_key.created"
	EventKeyPaused   = "api_key.paused"
	EventKeyResumed  = "api_key.resumed"
	EventKeyRevoked  = "api_key.revoked"
	EventKeyRolled   = "api_key.rolled"   // a key was replaced by a new one (lifecycle)
	EventKeyExpiring = "api_key.expiring" // a key expires in 7 days (lifecycle)
	EventKeyExpired  = "api_key.expired"  // a key reached its expiry (lifecycle)
	EventKeyLeaked   = "api_key.leaked"   // a key was reported found in public
	// EventUsageThreshold: an allowance reached 80 % or 100 % of its
	// limit this month; once per organisation, allowance, threshold and
	// month.
	EventUsageThreshold = "usage.threshold"
	EventInvitationSent = "invitation.sent" // an invitation was created: mail its link
	EventTrialEnding    = "trial.ending"    // the trial ends in 3 days or less
	EventTrialEnded     = "trial.ended"
)

// Event is one entry of the outbox: something that happened to an
// organisation. Data is what a webhook body's "data" holds (camelCase
// keys; strings, numbers and booleans); it never holds a secret.
type Event struct {
	ID    int64
	Kind  string
	OrgID string
	At    time.Time
	Data  map[string]any
}

// Str returns the string value of a data field, "" when absent.
func (e *Event) Str(field string) string {
	switch v := e.Data[field].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

// Int returns the integer value of a data field, 0 when absent.
func (e *Event) Int(field string) int64 {
	n, _ := strconv.ParseInt(e.Str(field), 10, 64)
	return n
}

// Time returns the time of a data field written as RFC 3339, zero when
// absent.
func (e *Event) Time(field string) time.Time {
	t, _ := time.Parse(time.RFC3339, e.Str(field))
	return t
}

// Webhook is the event as a webhook body: {"event", "timestamp", "data"}.
func (e *Event) Webhook() ([]byte, error) {
	return json.Marshal(struct {
		Event     string         `json:"event"`
		Timestamp string         `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}{e.Kind, e.At.UTC().Format(time.RFC3339Nano), e.Data})
}

// MailTopic is a group of events a person may choose to get by mail or
// not (notices in the dashboard always appear).
type MailTopic struct {
	Name  string // stored in the preferences
	Label string
	Help  string
}

// MailTopics are the topics of the profile page's mail preferences, in
// the order shown. Every event kind told to Owners and Admins has one
// (see EventTopic).
var MailTopics = []MailTopic{
	{"keys", "API key changes", "A key is created, paused, resumed, revoked or rolled."},
	{"expiry", "Key expiry", "A key expires within 7 days, and when it has expired."},
	{"leaks", "Leaked keys", "A key is found in public (GitHub secret scanning) and paused or revoked."},
	{"usage", "Usage alerts", "API calls or image credits reach 80 % and 100 % of the month's limit."},
	{"trial", "Trial", "The trial ends in 3 days, and when it has ended."},
	{"webhooks", "Webhooks", "A webhook endpoint failed for 3 days and was disabled (Owners)."},
}

var eventTopics = map[string]string{
	EventKeyCreated: "keys", EventKeyPaused: "keys", EventKeyResumed: "keys", EventKeyRevoked: "keys", EventKeyRolled: "keys",
	EventKeyExpiring: "expiry", EventKeyExpired: "expiry",
	EventKeyLeaked:      "leaks",
	EventUsageThreshold: "usage",
	EventTrialEnding:    "trial", EventTrialEnded: "trial",
	EventWebhookDisabled: "webhooks",
}

// EventTopic returns the mail topic of an event kind, "" for kinds not
// told to Owners and Admins (an invitation is mailed to its invitee).
func EventTopic(kind string) string { return eventTopics[kind] }

// IsMailTopic reports whether name is one of MailTopics.
func IsMailTopic(name string) bool {
	for _, t := range MailTopics {
		if t.Name == name {
			return true
		}
	}
	return false
}
