package snapglyph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// QRCode is a stored QR code.
type QRCode struct {
	ID      string
	OrgID   string
	Name    string
	Type    string          // url, text, email, phone, sms, wifi, vcard
	Content json.RawMessage // the type's fields, as validated
	Payload string          // the exact string encoded
	Design  QRDesign
	Logo    []byte // PNG or JPEG; nil when there is none, or when read without it
	// LogoSHA256 is the hex SHA-256 of the logo, "" when there is none. It
	// is set also when the code is read without its logo bytes.
	LogoSHA256 string
	// LogoType is the logo's media type ("image/png", "image/jpeg").
	LogoType string
	// LogoBytes is the logo's size in bytes as stored, set also when the
	// code is read without its logo (lists); 0 when there is none.
	LogoBytes int
	CreatedBy Creator
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version is 1 when the code is created and one more on every change
	// (the API's ETag is made of it).
	Version int64
}

// HasLogo reports whether the code has a logo, read with it or not.
func (q *QRCode) HasLogo() bool { return len(q.Logo) > 0 || q.LogoSHA256 != "" }

// QRDesign is a QR code's look, without the logo.
type QRDesign struct {
	Foreground      string `json:"foreground"`
	Background      string `json:"background"`
	ErrorCorrection string `json:"errorCorrection"`
	Margin          int    `json:"margin"`
}

// Creator is who created something: a dashboard user or an API key.
type Creator struct {
	Type   string `json:"type"` // "user" or "apiKey"
	ID     string `json:"id"`
	Name   string `json:"name"`
	Prefix string `json:"prefix,omitempty"` // API keys: "qr_live_a1b2..."
}

// Creator types.
const (
	CreatorUser   = "user"
	CreatorAPIKey = "apiKey"
)

// QRFilter narrows a list of QR codes. Cursor continues a previous page.
type QRFilter struct {
	Type         string
	CreatedByKey string
	Limit        int
	Cursor       string
}

// LogoSHA256 returns the hex SHA-256 of a logo file, "" for none.
func LogoSHA256(logo []byte) string {
	if len(logo) == 0 {
		return ""
	}
	sum := sha256.Sum256(logo)
	return hex.EncodeToString(sum[:])
}

// Idempotency names a create that its client may retry: the client's key
// and the SHA-256 of its request.
type Idempotency struct {
	Key         string
	RequestHash string
	// Response, if set, makes the answer to the first request from the
	// code as it is stored; the store records it with the key in the
	// create's transaction, so a retry always gets that answer, even
	// one that races the first request or follows a lost connection.
	Response func(*QRCode) []byte
}

// IdempotencyWindow is how long an idempotency key is remembered.
const IdempotencyWindow = 24 * time.Hour
