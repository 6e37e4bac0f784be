package snapglyph

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"
)

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

// LiveSession is one of a person's live sessions as their profile lists
// it. It carries no session id: Ref names it on the page and in the form
// that ends it.
type LiveSession struct {
	Ref        string // SessionRef of the session's id
	OrgID      string
	OrgName    string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	IP         string
	UserAgent  string // as stored: at most 512 bytes, valid UTF-8, no NUL
	Current    bool   // the session the list was asked from
}

// Device is the session's browser and system in a few words, from its
// user agent: "Chrome on Linux", "Unknown browser".
func (s *LiveSession) Device() string { return DeviceSummary(s.UserAgent) }

// SessionRef is the reference a page shows for the session with the id
// (the hex SHA-256 of its cookie's token), in place of the id: the hex of
// the first 16 bytes of the SHA-256 of a fixed label and the id. The id
// would not sign anyone in either (that takes the token it is the hash
// of), but it is the key the database finds the session by, and the
// page has no need of it; the reference cannot be turned back into the
// id, let alone the token. It needs no server secret, so every node
// derives the same one, and it is not a credential: ending a session by
// its reference takes the owner's own signed-in session.
func SessionRef(id string) string {
	sum := sha256.Sum256([]byte("snapglyph session ref\x00" + id))
	return hex.EncodeToString(sum[:16])
}

// DeviceSummary names the browser and the operating system a user agent
// says it is, for people: "Firefox on Windows", "Safari on iOS", "curl".
// What it does not recognise it says so of ("Unknown browser on Linux",
// "Unknown browser"). The answer is one of a fixed set of words, never a
// piece of ua.
func DeviceSummary(ua string) string {
	browser, system := uaBrowser(ua), uaSystem(ua)
	if browser == "" {
		browser = "Unknown browser"
	}
	if system == "" {
		return browser
	}
	return browser + " on " + system
}

// uaBrowsers are tried in order: Chromium-based browsers name Chrome and
// Safari too, and Chrome names Safari, so the most particular comes
// first. Each is a token (a product name followed by "/") and the name
// shown.
var uaBrowsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"}, {"Edge/", "Edge"},
	{"OPR/", "Opera"}, {"OPiOS/", "Opera"}, {"Opera/", "Opera"},
	{"SamsungBrowser/", "Samsung Internet"},
	{"YaBrowser/", "Yandex Browser"},
	{"Vivaldi/", "Vivaldi"},
	{"Brave/", "Brave"},
	{"DuckDuckGo/", "DuckDuckGo"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Version/", "Safari"}, // Safari says "Version/17.1 … Safari/605.1.15"
	{"Trident/", "Internet Explorer"}, {"MSIE ", "Internet Explorer"},
	{"curl/", "curl"}, {"Wget/", "Wget"}, {"Go-http-client/", "Go HTTP client"},
	{"python-requests/", "Python Requests"}, {"Python-urllib/", "Python urllib"},
	{"PostmanRuntime/", "Postman"}, {"HTTPie/", "HTTPie"}, {"okhttp/", "OkHttp"},
}

func uaBrowser(ua string) string {
	for _, b := range uaBrowsers {
		if !strings.Contains(ua, b.token) {
			continue
		}
		if b.token == "Version/" && !strings.Contains(ua, "Safari/") {
			continue
		}
		return b.name
	}
	return ""
}

// uaSystems are tried in order: Android says Linux too, and iPhones say
// "like Mac OS X".
var uaSystems = []struct{ token, name string }{
	{"Windows Phone", "Windows Phone"}, {"Windows", "Windows"},
	{"Android", "Android"},
	{"iPhone", "iOS"}, {"iPod", "iOS"}, {"iPad", "iPadOS"},
	{"CrOS", "ChromeOS"},
	{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
	{"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"}, {"NetBSD", "NetBSD"},
	{"Linux", "Linux"}, {"X11", "Unix"},
}

func uaSystem(ua string) string {
	for _, s := range uaSystems {
		if strings.Contains(ua, s.token) {
			return s.name
		}
	}
	return ""
}

// The kinds of one-time reveal: a secret shown once, on the page a
// redirect leads to after the form that made it (POST-redirect-GET).
const (
	RevealKey            = "key"             // a new or rolled API key
	RevealWebhookCreated = "webhook_created" // a new endpoint's signing secret
	RevealWebhookRotated = "webhook_rotated" // an endpoint's rotated signing secret
)
